#include "scheduler/placement.h"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "protocol/rng.h"
#include "tests/scheduler/fixtures.h"

namespace polder::scheduler {
namespace {

using testing::candidate;
using testing::kGB;
using testing::node;

class PlacementTest : public ::testing::Test {
 protected:
  Placement rank(const JobSpec& spec, const std::vector<Candidate>& cs, std::string_view submitter = "op-x",
                 std::size_t k = 3, std::uint32_t job = 1) {
    auto model = CostModel::create(CostModelConfig{}, links_);
    Placer placer(config_, *model);
    auto p = placer.rank(PlacementRequest{testing::job_id(job), &spec, submitter, k, std::nullopt}, cs);
    EXPECT_TRUE(p.is_ok()) << p.status().to_string();
    return p.is_ok() ? *p : Placement{};
  }
  PlacerConfig config_;
  StaticLinkMetrics links_;
};

TEST_F(PlacementTest, FollowsTheDataDespiteASlightlyLongerQueue) {
  links_.set_bandwidth_bps("data-site", "near-empty", 10e9);
  JobSpec spec = testing::job();
  spec.inputs = {DataInput{"imagenet", "data-site", 100 * kGB}};  // 80 s over 10 Gb/s
  std::vector<Candidate> cs = {candidate(node(1, "near-empty", "H100", 8, 5'000)),
                               candidate(node(2, "data-site", "H100", 8, 25'000))};
  const Placement p = rank(spec, cs);
  ASSERT_EQ(p.ranked.size(), 2u);
  EXPECT_EQ(p.ranked[0].node_name, "data-site");
  EXPECT_EQ(p.ranked[0].cost.bytes_local, 100 * kGB);
  EXPECT_GT(p.ranked[1].cost.transfer_s, p.ranked[0].cost.queue_s - p.ranked[1].cost.queue_s);
  EXPECT_NE(p.explain().find("placed on data-site: input 100.0 GB local, queue 25.0 s"), std::string::npos) << p.explain();
}

TEST_F(PlacementTest, ShorterQueueWinsWhenNoInputMoves) {
  std::vector<Candidate> cs = {candidate(node(1, "busy", "H100", 8, 60'000)), candidate(node(2, "idle"))};
  EXPECT_EQ(rank(testing::job(), cs).ranked.at(0).node_name, "idle");
}

TEST_F(PlacementTest, RejectsWrongGpuTypeAndTooFewGpusWithReasons) {
  std::vector<Candidate> cs = {candidate(node(1, "a100", "A100", 8)), candidate(node(2, "small", "H100", 2)),
                               candidate(node(3, "big", "H100", 8))};
  const Placement p = rank(testing::job(4, "H100"), cs);
  ASSERT_EQ(p.ranked.size(), 1u);
  EXPECT_EQ(p.ranked[0].node_name, "big");
  ASSERT_EQ(p.rejected.size(), 2u);
  EXPECT_EQ(p.rejected[0].reason, RejectReason::kGpuType);
  EXPECT_EQ(p.rejected[1].reason, RejectReason::kGpus);
  EXPECT_NE(p.explain().find("small (gpus: needs 4 H100"), std::string::npos) << p.explain();
}

TEST_F(PlacementTest, FreeCapacityModeNeedsGpusFreeNow) {
  NodeRecord full = node(1, "full");
  full.accelerators[0].free = 0;
  config_.capacity_mode = CapacityMode::kTotal;
  EXPECT_EQ(rank(testing::job(), {candidate(full)}).ranked.size(), 1u);
  config_.capacity_mode = CapacityMode::kFree;
  const Placement p = rank(testing::job(), {candidate(full)});
  EXPECT_TRUE(p.ranked.empty());
  EXPECT_EQ(p.rejected.at(0).reason, RejectReason::kGpus);
}

TEST_F(PlacementTest, NeverBelievesMoreFreeGpusThanTotal) {
  NodeRecord liar = node(1, "liar", "H100", 2);
  liar.accelerators[0].free = 100;
  config_.capacity_mode = CapacityMode::kFree;
  EXPECT_TRUE(rank(testing::job(4), {candidate(liar)}).ranked.empty());
}

TEST_F(PlacementTest, RespectsAllowedAndDeniedRegionsAndOperators) {
  NodeRecord us = node(1, "us");
  us.region = "us";
  NodeRecord eu = node(2, "eu");
  NodeRecord eu_denied_op = node(3, "eu-bad");
  eu_denied_op.operator_name = "shady";
  JobSpec spec = testing::job();
  spec.constraints.allowed_regions = {"eu"};
  spec.constraints.denied_operators = {"shady"};
  const Placement p = rank(spec, {candidate(us), candidate(eu), candidate(eu_denied_op)});
  ASSERT_EQ(p.ranked.size(), 1u);
  EXPECT_EQ(p.ranked[0].node_name, "eu");
  EXPECT_EQ(p.rejected[0].reason, RejectReason::kRegionNotAllowed);
  EXPECT_EQ(p.rejected[1].reason, RejectReason::kOperatorDenied);
}

TEST_F(PlacementTest, OperatorPolicyRefusesWorkFromOperatorsItDoesNotAccept) {
  Candidate picky = candidate(node(1, "picky"));
  picky.policy.accepted_operators = {"op-friend"};
  Candidate grumpy = candidate(node(2, "grumpy"));
  grumpy.policy.refused_operators = {"op-friend"};
  EXPECT_EQ(rank(testing::job(), {picky, grumpy}, "op-friend").ranked.at(0).node_name, "picky");
  const Placement p = rank(testing::job(), {picky, grumpy}, "op-stranger");
  ASSERT_EQ(p.ranked.size(), 1u);
  EXPECT_EQ(p.ranked[0].node_name, "grumpy");
  EXPECT_EQ(p.rejected.at(0).reason, RejectReason::kPolicyRefuses);
}

TEST_F(PlacementTest, FederationShareLimitsOtherOperatorsButNotTheOwner) {
  Candidate c = candidate(node(1, "half"));  // 8 GPUs, half offered
  c.policy.federation_share = 0.5;
  c.policy.accepted_operators = {"op-x"};
  const Placement foreign = rank(testing::job(5), {c}, "op-x");
  EXPECT_TRUE(foreign.ranked.empty());
  EXPECT_EQ(foreign.rejected.at(0).reason, RejectReason::kPolicyShare);
  EXPECT_EQ(rank(testing::job(4), {c}, "op-x").ranked.size(), 1u);
  EXPECT_EQ(rank(testing::job(8), {c}, "op-half").ranked.size(), 1u);  // the node's own operator
}

TEST_F(PlacementTest, InvalidPolicyFromGossipIsRejectedNotTrusted) {
  Candidate c = candidate(node(1, "weird"));
  c.policy.federation_share = std::numeric_limits<double>::quiet_NaN();
  const Placement p = rank(testing::job(), {c});
  EXPECT_TRUE(p.ranked.empty());
  EXPECT_EQ(p.rejected.at(0).reason, RejectReason::kInvalidPolicy);
}

TEST_F(PlacementTest, TieBreakIsIndependentOfCandidateOrder) {
  std::vector<Candidate> cs;
  for (std::uint32_t i = 0; i < 50; ++i) cs.push_back(candidate(node(i, "n" + std::to_string(i))));
  const Placement first = rank(testing::job(), cs, "op-x", 10);
  Rng rng(7);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(cs.begin(), cs.end(), rng);
    const Placement again = rank(testing::job(), cs, "op-x", 10);
    ASSERT_EQ(again.ranked.size(), first.ranked.size());
    for (std::size_t i = 0; i < first.ranked.size(); ++i) EXPECT_EQ(again.ranked[i].node, first.ranked[i].node);
  }
}

TEST_F(PlacementTest, EqualCostsSpreadOverNodesAcrossJobs) {
  std::vector<Candidate> cs;
  for (std::uint32_t i = 0; i < 8; ++i) cs.push_back(candidate(node(i, "n" + std::to_string(i))));
  std::set<std::string> winners;
  for (std::uint32_t j = 0; j < 64; ++j) winners.insert(rank(testing::job(), cs, "op-x", 1, j).ranked.at(0).node_name);
  EXPECT_GE(winners.size(), 6u);  // the lowest id does not win every tie
}

TEST_F(PlacementTest, ReturnsAtMostTopKAndAccountsForEveryCandidate) {
  std::vector<Candidate> cs;
  for (std::uint32_t i = 0; i < 20; ++i) cs.push_back(candidate(node(i, "n" + std::to_string(i), i % 2 ? "H100" : "A100")));
  const Placement p = rank(testing::job(), cs, "op-x", 3);
  EXPECT_EQ(p.ranked.size(), 3u);
  EXPECT_EQ(p.feasible + p.rejected.size(), cs.size());
  for (std::size_t i = 1; i < p.ranked.size(); ++i) EXPECT_LE(p.ranked[i - 1].cost.total_s, p.ranked[i].cost.total_s);
}

TEST_F(PlacementTest, RankRejectsBadRequestWithClearError) {
  auto model = CostModel::create(CostModelConfig{}, links_);
  Placer placer(config_, *model);
  const JobSpec spec = testing::job();
  auto zero_k = placer.rank(PlacementRequest{testing::job_id(1), &spec, "op", 0, std::nullopt}, {});
  ASSERT_FALSE(zero_k.is_ok());
  EXPECT_NE(zero_k.status().message().find("top_k"), std::string::npos);
  JobSpec no_time = spec;
  no_time.max_run_time_s = 0;
  auto bad = placer.rank(PlacementRequest{testing::job_id(1), &no_time, "op", 1, std::nullopt}, {});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(RendezvousWeightTest, IsAFixedFunctionOfJobAndNode) {
  // Pinned: every node must break a tie the same way, on any host and build.
  EXPECT_EQ(rendezvous_weight(testing::job_id(1), testing::node_id(2)), 0x251a144acf94005eULL);
  EXPECT_NE(rendezvous_weight(testing::job_id(1), testing::node_id(2)),
            rendezvous_weight(testing::job_id(2), testing::node_id(2)));
}

}  // namespace
}  // namespace polder::scheduler
