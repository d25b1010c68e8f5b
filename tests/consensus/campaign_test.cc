// The consensus campaign in the simulator: many seeds, all faults, zero
// violations; the latency and contention targets; determinism. A seed that
// ever fails gets its own regression test here, named with its seed.
#include "sim/consensus_campaign.h"

#include <gtest/gtest.h>

namespace polder::sim {
namespace {

ConsensusCampaignOptions all_faults(std::uint64_t first, std::uint64_t last, std::uint32_t jobs) {
  ConsensusCampaignOptions o;
  o.nodes = 9;
  o.jobs = jobs;
  o.faults = *parse_consensus_faults("all");
  o.seed_first = first;
  o.seed_last = last;
  return o;
}

void expect_clean(const ConsensusCampaignResult& r) {
  EXPECT_EQ(r.violations, 0U) << "first failing seed " << (r.failed_seeds.empty() ? 0 : r.failed_seeds[0]) << ": "
                              << r.first_failure.violation;
  EXPECT_EQ(r.undecided_after_heal, 0U);
  EXPECT_EQ(r.decided, r.instances);
  EXPECT_GT(r.instances, 0U);
}

TEST(ConsensusCampaign, AllFaults120SeedsNoViolations) {
  const ConsensusCampaignResult r = run_consensus_campaign(all_faults(1, 120, 40));
  expect_clean(r);
  EXPECT_GT(r.executions, 0U);
}

TEST(ConsensusCampaign, FiveReplicasUnderAllFaults) {
  ConsensusCampaignOptions o = all_faults(500, 540, 30);
  o.nodes = 7;
  o.replicas = 5;
  expect_clean(run_consensus_campaign(o));
}

TEST(ConsensusCampaign, ThreeNodesEveryoneIsAReplica) {
  ConsensusCampaignOptions o = all_faults(900, 940, 30);
  o.nodes = 3;
  expect_clean(run_consensus_campaign(o));
}

TEST(ConsensusCampaign, UncontendedDecidesInAboutOneRoundTrip) {
  ConsensusCampaignOptions o;
  o.jobs = 100;
  o.seed_first = 1;
  o.seed_last = 10;
  o.contended_fraction = 0.0;
  o.rtt_us = 50'000;
  const ConsensusCampaignResult r = run_consensus_campaign(o);
  expect_clean(r);
  EXPECT_LE(r.latency_rtt_p50, 1.2);
}

TEST(ConsensusCampaign, TwoProposersOnEveryInstanceResolveQuickly) {
  ConsensusCampaignOptions o;
  o.jobs = 100;
  o.seed_first = 1;
  o.seed_last = 10;
  o.contended_fraction = 1.0;
  const ConsensusCampaignResult r = run_consensus_campaign(o);
  expect_clean(r);
  EXPECT_GE(r.within_3_ballots_pct, 99.0);
  EXPECT_LE(r.latency_rtt_p99, 4.0);
}

// A proposer cut off from its acceptors times out again and again; it
// resends the same ballot rather than burning a round per timeout, so
// when the partition heals its instance decides within a few ballots.
// (Before: 89% within 3 ballots, ballots p99 7, on these seeds.)
TEST(ConsensusCampaign, PartitionedProposersResendInsteadOfBurningBallots) {
  ConsensusCampaignOptions o;
  o.nodes = 9;
  o.jobs = 40;
  o.faults = *parse_consensus_faults("partition");
  o.seed_first = 1;
  o.seed_last = 20;
  const ConsensusCampaignResult r = run_consensus_campaign(o);
  expect_clean(r);
  EXPECT_GE(r.within_3_ballots_pct, 99.0);
  EXPECT_LE(r.ballots_p99, 3U);
}

TEST(ConsensusCampaign, SameSeedSameRun) {
  ConsensusCampaignOptions o = all_faults(77, 77, 40);
  const ConsensusSeedResult a = run_consensus_seed(o, 77);
  const ConsensusSeedResult b = run_consensus_seed(o, 77);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.messages_sent, b.messages_sent);
  EXPECT_EQ(a.latencies_rtt, b.latencies_rtt);
}

TEST(ConsensusCampaign, ParsesFaultsAndSeeds) {
  EXPECT_TRUE(parse_consensus_faults("crash,restart,partition,loss,dup,reorder,slow-disk").is_ok());
  EXPECT_FALSE(parse_consensus_faults("crash,meteor").is_ok());
  auto seeds = parse_seed_range("3..9");
  ASSERT_TRUE(seeds.is_ok());
  EXPECT_EQ(seeds->first, 3U);
  EXPECT_EQ(seeds->second, 9U);
  EXPECT_FALSE(parse_seed_range("9..3").is_ok());
  EXPECT_FALSE(parse_seed_range("x").is_ok());
}

}  // namespace
}  // namespace polder::sim
