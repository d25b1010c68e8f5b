// The gossip campaign across many seeds: small federations over the
// planet-wide geography with 5% loss converge, detect every crash, and never
// declare a live node dead. Each failing seed becomes a named regression.
#include "sim/gossip_campaign.h"

#include <gtest/gtest.h>

namespace polder::sim {
namespace {

GossipCampaignOptions small(std::uint64_t seed) {
  GossipCampaignOptions o;
  o.nodes = 40;
  o.loss = 0.05;
  o.seed = seed;
  o.slow_fraction = 0.04;
  o.duration_s = 60;
  o.warmup_s = 5;
  o.crash_fraction = 0.08;
  o.restart_after_s = 20;
  o.updates_per_s = 1;
  o.check_invariants = true;
  return o;
}

// What every seed of a small campaign must show.
void expect_converges_detects_no_false_deaths(const GossipCampaignResult& r, std::uint64_t seed) {
  ASSERT_TRUE(r.ok) << "seed " << seed << ": " << r.error;
  EXPECT_EQ(r.false_deaths, 0U) << "seed " << seed;
  EXPECT_EQ(r.undetected, 0U) << "seed " << seed;
  // Piggybacking is probabilistic: an update may miss a node until
  // anti-entropy repairs it, after the measurement window.
  EXPECT_LE(r.updates_not_converged, 2U) << "seed " << seed;
  EXPECT_GE(r.converge_p9999_s, 0) << "seed " << seed;
  EXPECT_LE(r.converge_p9999_s, 2.0) << "seed " << seed;
  EXPECT_LE(r.detect_p99_s, 15.0) << "seed " << seed;
}

TEST(GossipCampaign, FiftySeedsConvergeDetectAndHaveNoFalseDeaths) {
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    expect_converges_detects_no_false_deaths(run_gossip_campaign(small(seed)), seed);
  }
}

TEST(GossipCampaign, SameSeedSameRun) {
  GossipCampaignOptions o = small(7);
  o.check_invariants = false;
  const auto a = run_gossip_campaign(o);
  const auto b = run_gossip_campaign(o);
  EXPECT_EQ(a.json["trace_hash"], b.json["trace_hash"]);
  EXPECT_EQ(a.json["events"], b.json["events"]);
}

// The campaign on ParallelSimulator: the JSON a run prints (all but its
// wall time) is the same for 1, 2 and 3 threads and for two runs of one
// thread count, and the parallel runs meet the small-federation targets.
TEST(GossipCampaign, ThreadCountDoesNotChangeTheRun) {
  GossipCampaignOptions o = small(11);
  o.nodes = 160;  // 8 sites: every region has nodes
  o.duration_s = 45;
  o.check_invariants = false;
  auto without_wall = [](GossipCampaignResult r) {
    r.json.erase("wall_s");
    return r.json.dump();
  };
  o.threads = 1;
  const GossipCampaignResult one = run_gossip_campaign(o);
  ASSERT_TRUE(one.ok) << one.error;
  for (std::uint32_t threads : {2U, 2U, 3U}) {
    o.threads = threads;
    const GossipCampaignResult r = run_gossip_campaign(o);
    ASSERT_TRUE(r.ok) << threads << " threads: " << r.error;
    EXPECT_EQ(without_wall(r), without_wall(one)) << threads << " threads";
    EXPECT_EQ(r.false_deaths, 0U);
    EXPECT_EQ(r.undetected, 0U);
    EXPECT_GE(r.converge_p9999_s, 0);
    EXPECT_LE(r.converge_p9999_s, 2.0);
    EXPECT_LE(r.detect_p99_s, 15.0);
  }
}

TEST(GossipCampaign, FiveSeedsOnTwoThreadsConvergeDetectAndHaveNoFalseDeaths) {
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    GossipCampaignOptions o = small(seed);
    o.nodes = 120;
    o.threads = 2;
    expect_converges_detects_no_false_deaths(run_gossip_campaign(o), seed);
  }
}

TEST(GossipCampaign, RejectsTooManyThreads) {
  GossipCampaignOptions o = small(1);
  o.threads = kThreadsMax + 1;
  EXPECT_FALSE(validate_gossip_campaign_options(o).is_ok());
}

}  // namespace
}  // namespace polder::sim
