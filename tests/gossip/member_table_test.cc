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
