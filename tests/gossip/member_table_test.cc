#include "gossip/member_table.h"

#include <gtest/gtest.h>

#include <map>

#include "protocol/rng.h"
#include "sim/simulator.h"

namespace polder::gossip {
namespace {

TEST(MemberTable, MatchesAReferenceMapUnderRandomInsertsAndErases) {
  MemberTable table;
  std::map<std::uint32_t, std::uint32_t> reference;  // node -> slot
  Rng rng(3);
  for (int op = 0; op < 20'000; ++op) {
    const auto node = static_cast<std::uint32_t>(rng.uniform(500));
    const NodeId id = sim::sim_node_id(node);
    auto it = reference.find(node);
    if (it == reference.end()) {
      ASSERT_EQ(table.find(id), MemberTable::kNone);
      reference[node] = table.insert(id);
    } else if (rng.chance(0.5)) {
      ASSERT_EQ(table.find(id), it->second);
      table.erase(it->second);
      reference.erase(it);
    }
  }
  EXPECT_EQ(table.size(), reference.size());
  for (const auto& [node, slot] : reference) EXPECT_EQ(table.find(sim::sim_node_id(node)), slot);
  const auto& sorted = table.sorted();
  ASSERT_EQ(sorted.size(), reference.size());
  for (std::size_t i = 1; i < sorted.size(); ++i) EXPECT_LT(sorted[i - 1].first, sorted[i].first);
}

TEST(MemberTable, WithADirectoryMatchesAReferenceMapForDirectoryAndOtherIds) {
  // Nodes 0..299 are in the directory, 300..599 are not: both kinds are
  // inserted, found and erased in one table, and erased slots are reused.
  std::vector<NodeId> ids;
  for (std::uint32_t i = 0; i < 300; ++i) ids.push_back(sim::sim_node_id(i));
  auto directory = std::make_shared<const MemberDirectory>(ids);
  for (std::uint32_t i = 0; i < 300; ++i) {
    ASSERT_EQ(directory->find(ids[i]), i) << "positions are the list's";
    ASSERT_EQ(directory->id(i), ids[i]);
  }
  EXPECT_EQ(directory->find(sim::sim_node_id(300)), MemberDirectory::kNone);
  MemberTable table;
  table.use_directory(directory);
  EXPECT_EQ(table.size(), 0U);
  EXPECT_EQ(table.find(ids[7]), MemberTable::kNone);
  std::map<std::uint32_t, std::uint32_t> reference;  // node -> slot
  Rng rng(5);
  for (int op = 0; op < 20'000; ++op) {
    const auto node = static_cast<std::uint32_t>(rng.uniform(600));
    const NodeId id = sim::sim_node_id(node);
    auto it = reference.find(node);
    if (it == reference.end()) {
      ASSERT_EQ(table.find(id), MemberTable::kNone);
      const std::uint32_t slot = table.insert(id);
      if (node < 300) {
        ASSERT_EQ(slot, directory->find(id)) << "a directory member lives in its directory slot";
      } else {
        ASSERT_GE(slot, 300U) << "other ids never take a directory slot";
      }
      ASSERT_TRUE(table.in_use(slot));
      ASSERT_EQ(table.at(slot).id, id);
      reference[node] = slot;
    } else if (rng.chance(0.5)) {
      ASSERT_EQ(table.find(id), it->second);
      table.erase(it->second);
      ASSERT_FALSE(table.in_use(it->second));
      reference.erase(it);
    }
  }
  EXPECT_EQ(table.size(), reference.size());
  for (std::uint32_t node = 0; node < 600; ++node) {
    auto it = reference.find(node);
    EXPECT_EQ(table.find(sim::sim_node_id(node)), it == reference.end() ? MemberTable::kNone : it->second);
  }
  // At most 300 other ids were ever in at once, so their slots stay bounded.
  EXPECT_LE(table.slot_count(), 600U);
  const auto& sorted = table.sorted();
  ASSERT_EQ(sorted.size(), reference.size());
  for (std::size_t i = 1; i < sorted.size(); ++i) EXPECT_LT(sorted[i - 1].first, sorted[i].first);
}

TEST(MemberTable, ADirectoryTableHoldsNoIndexOfItsOwn) {
  std::vector<NodeId> ids;
  for (std::uint32_t i = 0; i < 10'000; ++i) ids.push_back(sim::sim_node_id(i));
  auto directory = std::make_shared<const MemberDirectory>(ids);
  MemberTable plain, shared;
  shared.use_directory(directory);
  plain.reserve(10'000);
  shared.reserve(10'000);
  for (const NodeId& id : ids) {
    plain.insert(id);
    shared.insert(id);
  }
  // The plain table's index is ~16,384 x 8 bytes; the shared one has none.
  EXPECT_LT(shared.memory_bytes() + 100'000, plain.memory_bytes());
}

TEST(MemberTable, MemoryGrowsLinearly) {
  MemberTable small, large;
  for (std::uint32_t i = 0; i < 1000; ++i) small.insert(sim::sim_node_id(i));
  for (std::uint32_t i = 0; i < 10'000; ++i) large.insert(sim::sim_node_id(i));
  // Per-member cost stays flat (within vector growth slack).
  EXPECT_LT(large.memory_bytes() / 10'000, 2 * small.memory_bytes() / 1000);
  EXPECT_LT(large.memory_bytes(), 50U * 1024 * 1024);
}

TEST(CompactCoordinate, QuantisesWithinAFractionOfAMillisecond) {
  Coordinate c;
  c.vec = {12.34F, -56.78F, 0.01F, 100.0F};
  c.height_ms = 3.3F;
  c.error = 0.42F;
  const Coordinate back = CompactCoordinate::from(c).expand();
  for (std::size_t i = 0; i < kCoordinateDimensions; ++i) EXPECT_NEAR(back.vec[i], c.vec[i], 0.03);
  EXPECT_NEAR(back.height_ms, c.height_ms, 0.03);
  EXPECT_NEAR(back.error, c.error, 0.001);
}

}  // namespace
}  // namespace polder::gossip
