#include "consensus/replica_set.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "harness.h"

namespace polder::consensus {
namespace {

using testing::job;
using testing::node;

std::vector<NodeId> members(int n) {
  std::vector<NodeId> out;
  for (int i = 1; i <= n; ++i) out.push_back(node(static_cast<std::uint8_t>(i)));
  return out;
}

TEST(ReplicaSet, RendezvousIsSortedSizedAndValid) {
  auto set = rendezvous_replica_set(job(1), Attempt{0}, members(9), 3);
  ASSERT_TRUE(set.is_ok());
  EXPECT_EQ(set->size(), 3U);
  EXPECT_TRUE(validate_replica_set(*set).is_ok());
  EXPECT_TRUE(std::is_sorted(set->begin(), set->end()));
}

TEST(ReplicaSet, RendezvousIgnoresMemberOrderAndDuplicates) {
  auto ms = members(9);
  auto a = rendezvous_replica_set(job(2), Attempt{0}, ms, 5);
  std::reverse(ms.begin(), ms.end());
  ms.push_back(ms.front());
  auto b = rendezvous_replica_set(job(2), Attempt{0}, ms, 5);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(*a, *b);
}

TEST(ReplicaSet, RemovingANonReplicaMovesNothing) {
  auto ms = members(9);
  auto before = *rendezvous_replica_set(job(3), Attempt{0}, ms, 3);
  auto it = std::find_if(ms.begin(), ms.end(), [&](const NodeId& n) { return !is_member(before, n); });
  ms.erase(it);
  EXPECT_EQ(*rendezvous_replica_set(job(3), Attempt{0}, ms, 3), before);
}

TEST(ReplicaSet, SpreadsJobsOverMembers) {
  std::map<NodeId, int> load;
  for (int j = 0; j < 200; ++j) {
    const auto set = rendezvous_replica_set(job(static_cast<std::uint8_t>(j)), Attempt{0}, members(9), 3);
    for (const NodeId& n : *set) ++load[n];
  }
  EXPECT_EQ(load.size(), 9U);
  for (const auto& [n, count] : load) EXPECT_GT(count, 30) << n.short_hex();
}

TEST(ReplicaSet, RefusesImpossibleCounts) {
  EXPECT_FALSE(rendezvous_replica_set(job(1), Attempt{0}, members(2), 3).is_ok());
  EXPECT_FALSE(rendezvous_replica_set(job(1), Attempt{0}, members(9), 0).is_ok());
  EXPECT_FALSE(rendezvous_replica_set(job(1), Attempt{0}, members(9), 8).is_ok());
}

TEST(ReplicaSet, ValidationRejectsUnsortedAndDuplicates) {
  EXPECT_FALSE(validate_replica_set({node(2), node(1)}).is_ok());
  EXPECT_FALSE(validate_replica_set({node(1), node(1)}).is_ok());
  EXPECT_FALSE(validate_replica_set({}).is_ok());
  EXPECT_FALSE(validate_replica_set({NodeId()}).is_ok());
  EXPECT_TRUE(validate_replica_set({node(1), node(2)}).is_ok());
}

TEST(ReplicaSet, MajorityIsStrict) {
  EXPECT_EQ(majority(1), 1U);
  EXPECT_EQ(majority(3), 2U);
  EXPECT_EQ(majority(4), 3U);
  EXPECT_EQ(majority(5), 3U);
}

}  // namespace
}  // namespace polder::consensus
