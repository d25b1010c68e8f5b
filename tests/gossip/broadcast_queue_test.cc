#include "gossip/broadcast_queue.h"

#include <gtest/gtest.h>

#include "sim/simulator.h"

namespace polder::gossip {
namespace {

Update alive(std::uint32_t node, std::uint64_t incarnation) {
  Update u;
  u.node = sim::sim_node_id(node);
  u.incarnation = incarnation;
  return u;
}

TEST(BroadcastQueue, RetiresAnUpdateAfterItsTransmitLimit) {
  BroadcastQueue q(16);
  q.push(alive(1, 0));
  std::vector<Update> out;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(q.select(1000, 3, nullptr, out), 1U);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.select(1000, 3, nullptr, out), 0U);
}

TEST(BroadcastQueue, NewerUpdateAboutAMemberReplacesTheQueuedOne) {
  BroadcastQueue q(16);
  q.push(alive(1, 0));
  q.push(alive(1, 5));
  EXPECT_EQ(q.size(), 1U);
  std::vector<Update> out;
  q.select(1000, 3, nullptr, out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].incarnation, 5U);
}

TEST(BroadcastQueue, SendsLeastTransmittedFirstWithinTheBudget) {
  BroadcastQueue q(16);
  q.push(alive(1, 0));
  std::vector<Update> out;
  q.select(100, 10, nullptr, out);  // update 1 now sent once
  q.push(alive(2, 0));
  out.clear();
  q.select(100, 10, nullptr, out);  // room for one: the fresh one
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].node, sim::sim_node_id(2));
}

TEST(BroadcastQueue, IsBoundedAndCountsDrops) {
  BroadcastQueue q(16);
  for (std::uint32_t i = 0; i < 40; ++i) q.push(alive(i, 0));
  EXPECT_EQ(q.size(), 16U);
  EXPECT_EQ(q.dropped(), 24U);
}

}  // namespace
}  // namespace polder::gossip
