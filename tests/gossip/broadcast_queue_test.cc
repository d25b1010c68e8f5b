#include "gossip/broadcast_queue.h"

#include <gtest/gtest.h>

#include <map>

#include "protocol/rng.h"

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

TEST(BroadcastQueue, SelectCopiesCountsOneSendPerTargetUpToTheLimit) {
  BroadcastQueue q(16);
  q.push(alive(1, 0));                     // 7 sends left
  q.push(alive(2, 0), /*transmits_already=*/5);  // 2 sends left
  std::vector<Update> out;
  std::vector<std::uint32_t> sends;
  ASSERT_EQ(q.select_copies(1000, 7, 3, out, sends), 2U);
  ASSERT_EQ(out.size(), 2U);
  ASSERT_EQ(sends.size(), 2U);
  std::map<std::uint64_t, std::uint32_t> sends_of;  // id prefix -> sends
  for (std::size_t i = 0; i < out.size(); ++i) sends_of[id_prefix(out[i].node)] = sends[i];
  EXPECT_EQ(sends_of[id_prefix(sim::sim_node_id(1))], 3U);  // all three targets
  EXPECT_EQ(sends_of[id_prefix(sim::sim_node_id(2))], 2U);  // its last two sends: the first two targets
  EXPECT_EQ(q.size(), 1U) << "node 2's update reached its limit";
  // Node 1's update has 4 left: three now, its last one next round.
  out.clear();
  sends.clear();
  ASSERT_EQ(q.select_copies(1000, 7, 3, out, sends), 1U);
  EXPECT_EQ(sends[0], 3U);
  out.clear();
  sends.clear();
  ASSERT_EQ(q.select_copies(1000, 7, 3, out, sends), 1U);
  EXPECT_EQ(sends[0], 1U);
  EXPECT_TRUE(q.empty());
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

Update suspect(std::uint32_t node, std::uint64_t incarnation, std::uint64_t accuser) {
  Update u = alive(node, incarnation);
  u.kind = UpdateKind::kSuspect;
  u.accuser = accuser;
  return u;
}

TEST(BroadcastQueue, UpdateQueuedWithTransmitsAlreadyGetsASmallerBudget) {
  BroadcastQueue q(16);
  q.push(suspect(1, 0, 7), 8);  // a confirmation: 2 of 10 left
  std::vector<Update> out;
  EXPECT_EQ(q.select(1000, 10, nullptr, out), 1U);
  EXPECT_EQ(q.select(1000, 10, nullptr, out), 1U);
  EXPECT_TRUE(q.empty());
}

TEST(BroadcastQueue, ConfirmationKeepsTheBudgetOfTheSuspicionItReplaces) {
  BroadcastQueue q(16);
  q.push(suspect(1, 0, 7));
  std::vector<Update> out;
  q.select(1000, 10, nullptr, out);  // the suspicion: sent once, 9 left
  q.push(suspect(1, 0, 8), 8);       // a confirmation of it
  ASSERT_EQ(q.size(), 1U);
  out.clear();
  std::size_t sent = 0;
  for (int i = 0; i < 20 && !q.empty(); ++i) sent += q.select(1000, 10, nullptr, out);
  EXPECT_EQ(sent, 9U);
  EXPECT_EQ(out.back().accuser, 8U);  // the newer content travels
}

TEST(BroadcastQueue, BareAliveKeepsTheRecordOfTheAliveItReplaces) {
  BroadcastQueue q(16);
  Update with_record = alive(1, 0);
  with_record.record = {1, 2, 3};
  q.push(with_record);
  q.push(alive(1, 1));  // a refutation, sent bare
  std::vector<Update> out;
  q.select(1000, 10, nullptr, out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].incarnation, 1U);
  EXPECT_EQ(out[0].record, (Bytes{1, 2, 3}));
}

// The flat id index against a plain map under random puts and erases:
// growth, collisions, wrap-around and backward-shift deletion.
TEST(BroadcastQueueNodeIndex, AgreesWithAMapUnderRandomPutsAndErases) {
  BroadcastQueue::NodeIndex index;
  std::map<std::uint32_t, std::uint32_t> model;
  Rng rng(7);
  for (int step = 0; step < 20000; ++step) {
    const auto node = static_cast<std::uint32_t>(rng.uniform(300));
    if (rng.chance(0.4)) {
      index.erase(sim::sim_node_id(node));
      model.erase(node);
    } else {
      const auto t = static_cast<std::uint32_t>(step);
      index.put(sim::sim_node_id(node), BroadcastQueue::Key{t, 0});
      model[node] = t;
    }
    ASSERT_EQ(index.size(), model.size());
  }
  for (std::uint32_t node = 0; node < 300; ++node) {
    BroadcastQueue::Key* key = index.find(sim::sim_node_id(node));
    auto it = model.find(node);
    if (it == model.end()) {
      EXPECT_EQ(key, nullptr) << node;
    } else {
      ASSERT_NE(key, nullptr) << node;
      EXPECT_EQ(key->transmits, it->second);
    }
  }
}

}  // namespace
}  // namespace polder::gossip
