// The turn's job messages leave bundled per peer (node/job_outbox.h).
#include "node/job_outbox.h"

#include <gtest/gtest.h>

#include <string>

namespace polder::node {
namespace {

NodeId key(char c) { return *NodeId::from_hex(std::string(64, c)); }

JobMessage numbered(std::uint64_t n) {
  JobMessage m;
  m.request_id = n;
  return m;
}

std::vector<std::uint64_t> numbers(const JobBundle& b) {
  std::vector<std::uint64_t> out;
  for (const auto& m : b.messages) out.push_back(m.request_id);
  return out;
}

TEST(JobOutbox, EachPeersMessagesLeaveTogetherInTheOrderSent) {
  const NodeId a = key('a');
  const NodeId b = key('b');
  std::vector<std::pair<NodeId, JobMessage>> outbox;
  outbox.emplace_back(b, numbered(1));
  outbox.emplace_back(a, numbered(2));
  outbox.emplace_back(b, numbered(3));
  outbox.emplace_back(a, numbered(4));
  outbox.emplace_back(b, numbered(5));
  const auto bundles = bundle_by_peer(std::move(outbox), 256);
  ASSERT_EQ(bundles.size(), 2u);
  EXPECT_EQ(bundles[0].to, a);
  EXPECT_EQ(numbers(bundles[0]), (std::vector<std::uint64_t>{2, 4}));
  EXPECT_EQ(bundles[1].to, b);
  EXPECT_EQ(numbers(bundles[1]), (std::vector<std::uint64_t>{1, 3, 5}));
}

TEST(JobOutbox, APeersMessagesOverTheBundleLimitLeaveInSeveralBundlesInOrder) {
  const NodeId a = key('a');
  std::vector<std::pair<NodeId, JobMessage>> outbox;
  for (std::uint64_t n = 1; n <= 7; ++n) outbox.emplace_back(a, numbered(n));
  const auto bundles = bundle_by_peer(std::move(outbox), 3);
  ASSERT_EQ(bundles.size(), 3u);
  EXPECT_EQ(numbers(bundles[0]), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(numbers(bundles[1]), (std::vector<std::uint64_t>{4, 5, 6}));
  EXPECT_EQ(numbers(bundles[2]), (std::vector<std::uint64_t>{7}));
  for (const auto& bundle : bundles) EXPECT_EQ(bundle.to, a);
}

TEST(JobOutbox, AnEmptyOutboxSendsNothing) { EXPECT_TRUE(bundle_by_peer({}, 256).empty()); }

}  // namespace
}  // namespace polder::node
