#include "scheduler/work_exchange.h"

#include <set>

#include <gtest/gtest.h>

#include "protocol/rng.h"
#include "tests/scheduler/fixtures.h"

namespace polder::scheduler {
namespace {

using namespace std::chrono_literals;
using testing::candidate;
using testing::node;

const Instant kNow = instant_from_us(3'600'000'000);

NodeRecord waiting_peer(std::uint32_t i, const std::string& name, std::uint32_t queue, std::uint64_t wait_ms) {
  NodeRecord r = node(i, name);
  r.queue_length = queue;
  r.expected_wait_ms = wait_ms;
  return r;
}

class WorkExchangeTest : public ::testing::Test {
 protected:
  WorkExchangeTest()
      : model_(*CostModel::create(CostModelConfig{}, links_)),
        placer_(PlacerConfig{.capacity_mode = CapacityMode::kFree}, model_),
        policy_(*OffloadPolicy::create({.busy_wait_s_min = 0}, placer_)) {}

  WorkExchange exchange() {
    auto x = WorkExchange::create(config_, policy_);
    EXPECT_TRUE(x.is_ok()) << x.status().to_string();
    return std::move(*x);
  }
  // This node with 2 H100 free of 8 and an empty queue.
  NodeRecord idle_self() {
    NodeRecord r = node(1, "self");
    r.accelerators[0].free = 2;
    return r;
  }
  static FreeCapacity free_h100(std::uint32_t gpus, std::uint32_t cpus = 64) {
    return FreeCapacity{{Accelerator{"H100", 8, gpus}}, cpus, 512 * testing::kGB};
  }

  NoLinkMetrics links_;
  CostModel model_;
  Placer placer_;
  OffloadPolicy policy_;
  WorkExchangeConfig config_;
};

TEST_F(WorkExchangeTest, OffersGoToPeersWithWaitingJobsBusiestFirstOncePerInterval) {
  WorkExchange x = exchange();
  std::vector<Candidate> peers{candidate(waiting_peer(2, "busy", 2, 5'000)),
                               candidate(waiting_peer(3, "busier", 1, 9'000)),
                               candidate(waiting_peer(4, "calm", 0, 0))};
  auto first = x.offers_due(idle_self(), peers, kNow);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0], testing::node_id(3)) << "the longest wait first";
  EXPECT_EQ(first[1], testing::node_id(2));
  EXPECT_TRUE(x.offers_due(idle_self(), peers, kNow + 500ms).empty()) << "at most one offer per peer per interval";
  EXPECT_EQ(x.offers_due(idle_self(), peers, kNow + config_.offer_interval).size(), 2u);
}

TEST_F(WorkExchangeTest, NoOfferWithoutFreeCapacityOrWhileItsOwnJobsWait) {
  WorkExchange x = exchange();
  std::vector<Candidate> peers{candidate(waiting_peer(2, "busy", 3, 5'000))};
  NodeRecord full = idle_self();
  full.accelerators[0].free = 0;
  full.cpus = 0;
  EXPECT_TRUE(x.offers_due(full, peers, kNow).empty());
  NodeRecord queued = idle_self();
  queued.queue_length = 1;
  EXPECT_TRUE(x.offers_due(queued, peers, kNow).empty());
  // Free CPUs alone are capacity too (CPU jobs wait as well).
  NodeRecord cpus_only = full;
  cpus_only.cpus = 4;
  EXPECT_EQ(x.offers_due(cpus_only, peers, kNow).size(), 1u);
}

TEST_F(WorkExchangeTest, OffersPerRoundAreCapped) {
  config_.offer_peers_max = 2;
  WorkExchange x = exchange();
  std::vector<Candidate> peers;
  for (std::uint32_t i = 2; i < 10; ++i) peers.push_back(candidate(waiting_peer(i, "p" + std::to_string(i), 1, 1'000 * i)));
  auto due = x.offers_due(idle_self(), peers, kNow);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0], testing::node_id(9));
  EXPECT_EQ(due[1], testing::node_id(8));
  // The next round reaches the next busiest, not the same two again.
  auto next = x.offers_due(idle_self(), peers, kNow + 100ms);
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0], testing::node_id(7));
}

TEST_F(WorkExchangeTest, ADriverHonoursOneOfferPerPeerPerInterval) {
  WorkExchange x = exchange();
  EXPECT_TRUE(x.accept_offer(testing::node_id(2), kNow));
  EXPECT_FALSE(x.accept_offer(testing::node_id(2), kNow + 999ms));
  EXPECT_TRUE(x.accept_offer(testing::node_id(3), kNow + 999ms)) << "the limit is per peer";
  EXPECT_TRUE(x.accept_offer(testing::node_id(2), kNow + 1s));
}

TEST_F(WorkExchangeTest, PicksTheOldestJobsThatFitWhatWasOffered) {
  WorkExchange x = exchange();
  JobSpec four = testing::job(4), one = testing::job(1), a100 = testing::job(1, "A100");
  std::vector<WaitingJob> waiting{{testing::job_id(1), &four, ""},
                                  {testing::job_id(2), &a100, ""},
                                  {testing::job_id(3), &one, ""},
                                  {testing::job_id(4), &one, ""},
                                  {testing::job_id(5), &one, ""}};
  auto picked = x.pick(waiting, candidate(node(2, "asker")), free_h100(2), placer_);
  ASSERT_TRUE(picked.is_ok());
  EXPECT_EQ(*picked, (std::vector<std::size_t>{2, 3})) << "two 1-GPU jobs fill 2 free GPUs; 4 GPUs and A100 do not fit";
}

TEST_F(WorkExchangeTest, JobsPerOfferAreCapped) {
  config_.jobs_per_offer_max = 1;
  WorkExchange x = exchange();
  JobSpec one = testing::job(1);
  std::vector<WaitingJob> waiting{{testing::job_id(1), &one, ""}, {testing::job_id(2), &one, ""}};
  auto picked = x.pick(waiting, candidate(node(2, "asker")), free_h100(8), placer_);
  ASSERT_TRUE(picked.is_ok());
  EXPECT_EQ(*picked, std::vector<std::size_t>{0});
}

TEST_F(WorkExchangeTest, PickKeepsTheJobsConstraintsAndTheAskersPolicy) {
  WorkExchange x = exchange();
  JobSpec denied = testing::job(1);
  denied.constraints.denied_regions = {"eu"};
  JobSpec fine = testing::job(1);
  std::vector<WaitingJob> waiting{{testing::job_id(1), &denied, ""}, {testing::job_id(2), &fine, "op-x"}};
  auto picked = x.pick(waiting, candidate(node(2, "asker")), free_h100(8), placer_);
  ASSERT_TRUE(picked.is_ok());
  EXPECT_EQ(*picked, std::vector<std::size_t>{1});
  Candidate refusing = candidate(node(2, "asker"));
  refusing.policy.refused_operators = {"op-x"};
  picked = x.pick(waiting, refusing, free_h100(8), placer_);
  ASSERT_TRUE(picked.is_ok());
  EXPECT_TRUE(picked->empty());
  std::vector<WaitingJob> no_spec{{testing::job_id(3), nullptr, ""}};
  EXPECT_FALSE(x.pick(no_spec, refusing, free_h100(8), placer_).is_ok());
}

TEST_F(WorkExchangeTest, OffZeroIntervalSendsAndHonoursNothing) {
  config_.offer_interval = Duration::zero();
  WorkExchange x = exchange();
  EXPECT_FALSE(x.enabled());
  EXPECT_TRUE(x.offers_due(idle_self(), std::vector<Candidate>{candidate(waiting_peer(2, "busy", 1, 1))}, kNow).empty());
  EXPECT_FALSE(x.accept_offer(testing::node_id(2), kNow));
}

TEST_F(WorkExchangeTest, RejectsBadConfig) {
  config_.jobs_per_offer_max = 0;
  EXPECT_FALSE(WorkExchange::create(config_, policy_).is_ok());
  config_ = {};
  config_.offer_interval = -1s;
  EXPECT_FALSE(WorkExchange::create(config_, policy_).is_ok());
}

// Seeded: whatever the offers and queues, the jobs picked for one offer
// never need more than it offered, none is picked twice, and the memory of
// offers stays within the peers of one interval.
TEST_F(WorkExchangeTest, RandomOffersNeverPickMoreThanOfferedSeed7) {
  const std::uint64_t seed = 7;
  Rng rng(seed);
  WorkExchange x = exchange();
  std::vector<JobSpec> specs;
  for (std::uint32_t g = 0; g <= 4; ++g) {
    specs.push_back(testing::job(g == 0 ? 0 : g, g % 2 == 0 ? "H100" : "A100"));
    specs.back().resources.cpus = 1 + g;
  }
  for (int round = 0; round < 2000; ++round) {
    FreeCapacity free{{Accelerator{"A100", 4, static_cast<std::uint32_t>(rng.uniform(5))},
                       Accelerator{"H100", 8, static_cast<std::uint32_t>(rng.uniform(9))}},
                      static_cast<std::uint32_t>(rng.uniform(12)), 512 * testing::kGB};
    std::vector<WaitingJob> waiting;
    const std::size_t n = rng.uniform(20);
    for (std::size_t i = 0; i < n; ++i) {
      waiting.push_back({testing::job_id(static_cast<std::uint32_t>(i)), &specs[rng.uniform(specs.size())], ""});
    }
    NodeRecord asker = node(2, "asker");
    asker.accelerators = free.accelerators;
    auto picked = x.pick(waiting, candidate(asker), free, placer_);
    ASSERT_TRUE(picked.is_ok()) << "seed " << seed;
    ASSERT_LE(picked->size(), config_.jobs_per_offer_max) << "seed " << seed;
    std::set<std::size_t> unique(picked->begin(), picked->end());
    ASSERT_EQ(unique.size(), picked->size()) << "seed " << seed;
    FreeCapacity left = free;
    for (std::size_t i : *picked) {
      ASSERT_TRUE(left.fits(waiting[i].spec->resources)) << "seed " << seed << " round " << round;
      left.take(waiting[i].spec->resources);
    }
    const Instant now = kNow + std::chrono::milliseconds(100 * round);
    (void)x.accept_offer(testing::node_id(2 + static_cast<std::uint32_t>(rng.uniform(50))), now);
    ASSERT_LE(x.peers_remembered(), 10u) << "seed " << seed << ": one offer per 100 ms, 1 s interval";
  }
}

}  // namespace
}  // namespace polder::scheduler
