#include "scheduler/cost_model.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "tests/scheduler/fixtures.h"

namespace polder::scheduler {
namespace {

using testing::kGB;

class CostModelTest : public ::testing::Test {
 protected:
  CostModel model() { return *CostModel::create(config_, links_); }
  CostModelConfig config_;
  StaticLinkMetrics links_;
};

TEST_F(CostModelTest, TermsAddUpToTotal) {
  links_.set_bandwidth_bps("siteA", "b", 10e9);
  links_.set_rtt_ms("b", 20);
  JobSpec spec = testing::job();
  spec.inputs = {DataInput{"imagenet", "siteA", 40 * kGB}};
  NodeRecord b = testing::node(2, "b", "H100", 8, 12'000);
  const CostBreakdown c = model().estimate(spec, b, CostHints{});
  EXPECT_DOUBLE_EQ(c.queue_s, 12.0);
  EXPECT_DOUBLE_EQ(c.transfer_s, 32.0);  // 40 GB * 8 / 10 Gb/s
  EXPECT_DOUBLE_EQ(c.rtt_s, 0.020);
  EXPECT_DOUBLE_EQ(c.run_s, 600.0);
  EXPECT_DOUBLE_EQ(c.total_s, 12.0 + 32.0 + 0.020 + 600.0);
  EXPECT_EQ(c.bytes_moved, 40 * kGB);
  EXPECT_EQ(c.bytes_local, 0u);
}

TEST_F(CostModelTest, InputAtCandidateSiteOrHeldDatasetIsNotTransferred) {
  JobSpec spec = testing::job();
  spec.inputs = {DataInput{"imagenet", "a", 40 * kGB}, DataInput{"laion", "elsewhere", 5 * kGB}};
  NodeRecord a = testing::node(1, "a");
  a.datasets = {Dataset{"laion", 5 * kGB}};
  const CostBreakdown c = model().estimate(spec, a, CostHints{});
  EXPECT_EQ(c.transfer_s, 0.0);
  EXPECT_EQ(c.bytes_local, 45 * kGB);
  EXPECT_NE(c.describe().find("input 45.0 GB local"), std::string::npos) << c.describe();
}

TEST_F(CostModelTest, UnmeasuredLinkAndRttUseConfiguredDefaults) {
  config_.bandwidth_bps_default = 1e9;
  config_.rtt_ms_default = 40;
  JobSpec spec = testing::job();
  spec.inputs = {DataInput{"d", "far", 1 * kGB}};
  const CostBreakdown c = model().estimate(spec, testing::node(1, "a"), CostHints{});
  EXPECT_DOUBLE_EQ(c.transfer_s, 8.0);
  EXPECT_DOUBLE_EQ(c.rtt_s, 0.040);
}

TEST_F(CostModelTest, MalformedMeasurementsFallBackToDefaults) {
  links_.set_bandwidth_bps("far", "a", std::numeric_limits<double>::quiet_NaN());
  links_.set_rtt_ms("a", -5);
  JobSpec spec = testing::job();
  spec.inputs = {DataInput{"d", "far", 1 * kGB}};
  const CostBreakdown c = model().estimate(spec, testing::node(1, "a"), CostHints{});
  EXPECT_DOUBLE_EQ(c.transfer_s, 8.0);
  EXPECT_DOUBLE_EQ(c.rtt_s, 0.050);
  EXPECT_TRUE(std::isfinite(c.total_s));
}

TEST_F(CostModelTest, JobsAheadAddTheRecordsPerJobWait) {
  NodeRecord a = testing::node(1, "a", "H100", 8, 40'000);
  a.queue_length = 4;  // 10 s per queued job
  CostHints hints;
  hints.jobs_ahead = 3;
  EXPECT_DOUBLE_EQ(model().estimate(testing::job(), a, hints).queue_s, 70.0);
  NodeRecord idle = testing::node(2, "idle");
  EXPECT_DOUBLE_EQ(model().estimate(testing::job(), idle, hints).queue_s, 3 * config_.queued_job_wait_s_default);
}

TEST_F(CostModelTest, RunTimeHintAndQueueOverrideReplaceTheirTerms) {
  CostHints hints;
  hints.run_s = 42;
  hints.queue_s = 7;
  hints.rtt_zero = true;
  const CostBreakdown c = model().estimate(testing::job(), testing::node(1, "a", "H100", 8, 99'000), hints);
  EXPECT_DOUBLE_EQ(c.run_s, 42);
  EXPECT_DOUBLE_EQ(c.queue_s, 7);
  EXPECT_DOUBLE_EQ(c.rtt_s, 0);
}

TEST_F(CostModelTest, CreateRejectsNonPositiveDefaults) {
  config_.bandwidth_bps_default = 0;
  auto m = CostModel::create(config_, links_);
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("bandwidth_bps_default"), std::string::npos);
}

TEST(FormatBytesTest, UsesDecimalUnits) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(40 * kGB), "40.0 GB");
  EXPECT_EQ(format_bytes(1'500'000), "1.5 MB");
}

}  // namespace
}  // namespace polder::scheduler
