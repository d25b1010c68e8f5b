#include "sim/event_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "protocol/rng.h"

namespace polder::sim {
namespace {

Event at(std::int64_t time_us, std::uint32_t tag) {
  Event e;
  e.time_us = time_us;
  e.node = tag;
  return e;
}

TEST(EventQueue, OrdersByTimeThenInsertion) {
  EventQueue queue;
  queue.push(at(20, 1));
  queue.push(at(10, 2));
  queue.push(at(20, 3));
  queue.push(at(10, 4));
  queue.push(at(5, 5));
  std::vector<std::uint32_t> order;
  while (!queue.empty()) order.push_back(queue.pop().node);
  EXPECT_EQ(order, (std::vector<std::uint32_t>{5, 2, 4, 1, 3}));
}

TEST(EventQueue, ClockAdvancesToEachPoppedEvent) {
  EventQueue queue;
  queue.push(at(7, 0));
  queue.push(at(3, 0));
  EXPECT_EQ(queue.now_us(), 0);
  EXPECT_EQ(queue.pop().time_us, 3);
  EXPECT_EQ(queue.now_us(), 3);
  EXPECT_EQ(queue.pop().time_us, 7);
  EXPECT_EQ(queue.now_us(), 7);
  queue.advance_to(100);
  EXPECT_EQ(queue.now_us(), 100);
}

TEST(EventQueue, ManyInterleavedEventsComeOutInTotalOrder) {
  const std::uint64_t seed = 42;  // printed by gtest on failure via the name of the test data
  Rng rng(seed);
  EventQueue queue;
  std::vector<std::pair<std::int64_t, std::uint64_t>> popped;
  std::uint32_t pushed = 0;
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 50; ++i) {
      queue.push(at(queue.now_us() + static_cast<std::int64_t>(rng.uniform(100)), pushed++));
    }
    for (int i = 0; i < 40 && !queue.empty(); ++i) {
      Event e = queue.pop();
      popped.emplace_back(e.time_us, e.seq);
    }
  }
  while (!queue.empty()) {
    Event e = queue.pop();
    popped.emplace_back(e.time_us, e.seq);
  }
  ASSERT_EQ(popped.size(), pushed) << "seed " << seed;
  EXPECT_TRUE(std::is_sorted(popped.begin(), popped.end())) << "seed " << seed;
}

// The calendar's three tiers (current bucket, ring, far heap) must hand out
// exactly the order of one heap: delays from 0 to ~3x the ring's reach,
// pushes after next_time_us() peeked ahead, and advance_to() jumps.
TEST(EventQueue, CalendarTiersGiveTheOrderOfOneHeap) {
  const std::uint64_t seed = 7;
  Rng rng(seed);
  EventQueue queue;
  std::vector<std::pair<std::int64_t, std::uint64_t>> reference;  // (time, seq) pending
  std::uint64_t seq = 0;
  const std::int64_t reach_us = EventQueue::kBucketUs * static_cast<std::int64_t>(EventQueue::kBuckets);
  for (int round = 0; round < 3000; ++round) {
    const int pushes = static_cast<int>(rng.uniform(6));
    for (int i = 0; i < pushes; ++i) {
      std::int64_t delay = 0;
      switch (rng.uniform(4)) {
        case 0: delay = static_cast<std::int64_t>(rng.uniform(50)); break;                  // same bucket
        case 1: delay = static_cast<std::int64_t>(rng.uniform(200'000)); break;             // the ring
        case 2: delay = static_cast<std::int64_t>(rng.uniform(3 * reach_us)); break;        // far
        default: delay = 0; break;                                                          // now
      }
      queue.push(at(queue.now_us() + delay, 0));
      reference.emplace_back(queue.now_us() + delay, seq++);
    }
    std::sort(reference.begin(), reference.end());
    const int pops = static_cast<int>(rng.uniform(6));
    for (int i = 0; i < pops && !queue.empty(); ++i) {
      ASSERT_EQ(queue.next_time_us(), reference.front().first) << "seed " << seed << " round " << round;
      const Event e = queue.pop();
      ASSERT_EQ(std::make_pair(e.time_us, e.seq), reference.front()) << "seed " << seed << " round " << round;
      reference.erase(reference.begin());
    }
    if (rng.uniform(10) == 0) {  // run_until() with nothing due: the clock jumps
      const std::int64_t to = reference.empty() ? queue.now_us() + 5'000'000 : reference.front().first;
      queue.advance_to(to);
    }
    ASSERT_EQ(queue.size(), reference.size());
  }
  while (!queue.empty()) {
    const Event e = queue.pop();
    ASSERT_EQ(std::make_pair(e.time_us, e.seq), reference.front()) << "seed " << seed;
    reference.erase(reference.begin());
  }
  EXPECT_TRUE(reference.empty());
}

}  // namespace
}  // namespace polder::sim
