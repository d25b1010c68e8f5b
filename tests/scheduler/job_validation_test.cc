#include "scheduler/job_validation.h"

#include <gtest/gtest.h>

#include "tests/scheduler/fixtures.h"

namespace polder::scheduler {
namespace {

using testing::kGB;
using testing::node;

// Passes when `status` is InvalidArgument and its message contains `text`.
void expect_error(const Status& status, const std::string& text) {
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.to_string();
  EXPECT_NE(status.message().find(text), std::string::npos) << "message: " << status.message();
}

class JobValidationTest : public ::testing::Test {
 protected:
  Status validate(const JobSpec& spec) { return validate_job_for_federation(spec, federation_); }
  std::vector<NodeRecord> federation_ = {node(1, "a", "H100", 8), node(2, "b", "A100", 4)};
};

TEST_F(JobValidationTest, AcceptsAWellFormedSpec) {
  JobSpec spec = testing::job(8, "H100");
  spec.inputs = {DataInput{"imagenet", "a", 40 * kGB}};
  spec.constraints.allowed_regions = {"eu"};
  EXPECT_TRUE(validate(spec).is_ok()) << validate(spec).to_string();
}

TEST_F(JobValidationTest, UnknownGpuTypeNamesTheTypesThatExist) {
  expect_error(validate(testing::job(1, "H200")), "unknown GPU type 'H200': no node declares it; types in the federation: A100, H100");
}

TEST_F(JobValidationTest, MoreGpusThanAnyNodeHas) {
  expect_error(validate(testing::job(16, "H100")), "asks for 16 H100 GPUs, the most any node has is 8");
}

TEST_F(JobValidationTest, MoreCpusThanAnyNodeHas) {
  JobSpec spec = testing::job();
  spec.resources.cpus = 1000;
  expect_error(validate(spec), "asks for 1000 CPUs, the most any node has is 64");
}

TEST_F(JobValidationTest, NoSingleNodeHasEverythingTogether) {
  federation_ = {node(1, "gpus", "H100", 8), node(2, "cpus", "H100", 1)};
  federation_[0].cpus = 8;
  JobSpec spec = testing::job(8, "H100");
  spec.resources.cpus = 64;
  expect_error(validate(spec), "no single node has all of");
}

TEST_F(JobValidationTest, AskingForNothingIsAnError) {
  JobSpec spec = testing::job(0, "");
  spec.resources.cpus = 0;
  expect_error(validate(spec), "asks for no CPUs and no GPUs");
}

TEST_F(JobValidationTest, GpuTypeWithoutGpusIsAnError) {
  expect_error(validate(testing::job(0, "H100")), "gpu_type 'H100' is set but gpus = 0");
}

TEST_F(JobValidationTest, ZeroRunTimeSaysHowToSetIt) {
  JobSpec spec = testing::job();
  spec.max_run_time_s = 0;
  expect_error(validate(spec), "max_run_time_s is 0");
}

TEST_F(JobValidationTest, AbsurdValuesAreRejectedWithTheLimit) {
  JobSpec spec = testing::job();
  spec.resources.memory_bytes = std::uint64_t{1} << 60;
  expect_error(validate(spec), "memory_bytes = 1152921504606846976 is over the limit of");
  spec = testing::job(100'000, "H100");
  expect_error(validate(spec), "gpus = 100000 is over the limit of 4096");
}

TEST_F(JobValidationTest, MalformedInputsNameTheField) {
  JobSpec spec = testing::job();
  spec.inputs = {DataInput{"", "a", 1}};
  expect_error(validate(spec), "inputs[0].dataset is empty");
  spec.inputs = {DataInput{"d", "a", 1}, DataInput{"d", "a", 1}};
  expect_error(validate(spec), "inputs[1]: d@a is listed twice");
}

TEST_F(JobValidationTest, RegionBothAllowedAndDenied) {
  JobSpec spec = testing::job();
  spec.constraints.allowed_regions = {"eu"};
  spec.constraints.denied_regions = {"eu"};
  expect_error(validate(spec), "region 'eu' is both allowed and denied");
}

TEST_F(JobValidationTest, ConstraintsThatExcludeEveryNodeListWhatExists) {
  JobSpec spec = testing::job();
  spec.constraints.allowed_regions = {"mars"};
  expect_error(validate(spec), "regions in the federation: eu");
}

TEST_F(JobValidationTest, NoAllowedNodeIsLargeEnough) {
  federation_[1].region = "us";
  JobSpec spec = testing::job(4, "");
  spec.constraints.allowed_regions = {"us"};
  EXPECT_TRUE(validate(spec).is_ok());
  spec.resources.gpus = 8;  // only node a (eu) has 8
  expect_error(validate(spec), "no node that the constraints allow is large enough");
}

TEST_F(JobValidationTest, EmptyFederationIsAPreconditionNotBadInput) {
  federation_.clear();
  EXPECT_EQ(validate(testing::job()).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace polder::scheduler
