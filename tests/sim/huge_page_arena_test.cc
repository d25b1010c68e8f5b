#include "sim/huge_page_arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory_resource>
#include <vector>

#include "gossip/member_table.h"
#include "protocol/rng.h"
#include "sim/simulator.h"

namespace polder::sim {
namespace {

bool aligned(const void* p, std::size_t alignment) { return reinterpret_cast<std::uintptr_t>(p) % alignment == 0; }

TEST(HugePageArena, BlocksAreCacheLineAlignedDisjointAndKeepTheirBytes) {
  HugePageArena arena(4 << 20);  // small regions, so the test crosses several
  std::vector<std::pair<std::uint8_t*, std::size_t>> blocks;
  for (std::size_t i = 0; i < 200; ++i) {
    const std::size_t bytes = 1 + (i * 7919) % 100'000;
    auto* p = static_cast<std::uint8_t*>(arena.allocate(bytes, 8));
    ASSERT_TRUE(aligned(p, 64));
    std::memset(p, static_cast<int>(i & 0xff), bytes);
    blocks.emplace_back(p, bytes);
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {  // no block overwrote another
    const auto [p, bytes] = blocks[i];
    for (std::size_t b = 0; b < bytes; b += 997) ASSERT_EQ(p[b], static_cast<std::uint8_t>(i & 0xff)) << i;
  }
  EXPECT_GT(arena.mapped_bytes(), 4U << 20);
  for (const auto& [p, bytes] : blocks) arena.deallocate(p, bytes, 8);
  EXPECT_EQ(arena.used_bytes(), 0U);
}

TEST(HugePageArena, AFreedBlockIsReusedForTheSameSize) {
  HugePageArena arena;
  void* a = arena.allocate(644'096, 64);
  void* b = arena.allocate(1000, 64);
  arena.deallocate(a, 644'096, 64);
  EXPECT_EQ(arena.allocate(644'096, 64), a);  // a crashed core's table goes to the next core
  EXPECT_NE(arena.allocate(1000, 64), b);     // b is still in use
  const std::size_t mapped = arena.mapped_bytes();
  arena.deallocate(b, 1000, 64);
  EXPECT_EQ(arena.allocate(1000, 64), b);
  EXPECT_EQ(arena.mapped_bytes(), mapped);
}

TEST(HugePageArena, HonoursLargerAlignmentsAndRequestsLargerThanARegion) {
  HugePageArena arena(2 << 20);
  void* small = arena.allocate(10, 64);
  void* page = arena.allocate(100, 4096);
  EXPECT_TRUE(aligned(page, 4096));
  EXPECT_NE(small, page);
  auto* big = static_cast<std::uint8_t*>(arena.allocate(5 << 20, 64));  // more than a region
  big[0] = 1;
  big[(5 << 20) - 1] = 2;
  EXPECT_EQ(big[0] + big[(5 << 20) - 1], 3);
}

// The member table on an arena is the same table: a random run of inserts
// and erases, with and without a directory, against one on the heap.
TEST(HugePageArena, AMemberTableOnTheArenaMatchesOneOnTheHeap) {
  HugePageArena arena(2 << 20);
  std::vector<NodeId> ids;
  for (std::uint32_t i = 0; i < 600; ++i) ids.push_back(sim_node_id(i));
  auto directory = std::make_shared<const gossip::MemberDirectory>(std::vector<NodeId>(ids.begin(), ids.begin() + 300));
  gossip::MemberTable heap;
  gossip::MemberTable on_arena(&arena);
  heap.use_directory(directory);
  on_arena.use_directory(directory);
  Rng rng(7);
  for (int step = 0; step < 20'000; ++step) {
    const NodeId& id = ids[rng.uniform(ids.size())];
    const std::uint32_t a = heap.find(id);
    const std::uint32_t b = on_arena.find(id);
    ASSERT_EQ(a, b) << step;
    if (a == gossip::MemberTable::kNone) {
      ASSERT_EQ(heap.insert(id), on_arena.insert(id));
      on_arena.at(on_arena.find(id)).incarnation = heap.at(heap.find(id)).incarnation = static_cast<std::uint64_t>(step);
    } else if (rng.chance(0.3)) {
      heap.erase(a);
      on_arena.erase(b);
    } else {
      ASSERT_EQ(heap.at(a).incarnation, on_arena.at(b).incarnation);
    }
  }
  EXPECT_EQ(heap.size(), on_arena.size());
  EXPECT_EQ(heap.sorted(), on_arena.sorted());
  EXPECT_GT(arena.used_bytes(), 300 * sizeof(gossip::Member));
}

}  // namespace
}  // namespace polder::sim
