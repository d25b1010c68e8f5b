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

}  // namespace
}  // namespace polder::sim
