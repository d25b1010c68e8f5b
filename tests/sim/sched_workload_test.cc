// The synthetic workload of `polder-sim sched`: its distributions, its
// determinism, and the trace file format (round trip and clear errors).
#include "sim/sched_workload.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

namespace polder::sim {
namespace {

SchedWorkloadOptions options(std::uint32_t sites, std::uint32_t jobs, std::uint64_t seed) {
  SchedWorkloadOptions o;
  o.sites = sites;
  o.jobs = jobs;
  o.seed = seed;
  return o;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

TEST(SchedWorkload, GpuDemandMixIsWithinTolerance) {
  const std::uint64_t seed = 1;
  auto w = generate_sched_workload(options(20, 20'000, seed));
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  ASSERT_GE(w->gpus_largest_site(), 64u) << "seed " << seed << " must have a site for every demand";
  EXPECT_EQ(w->jobs_rejected_too_big, 0u);
  std::map<std::uint32_t, double> count;
  for (const auto& j : w->jobs) count[j.gpus] += 1;
  const double n = static_cast<double>(w->jobs.size());
  for (const auto& d : kGpuDemandMix) {
    const double share = count[d.gpus] / n;
    const double tolerance = 4 * std::sqrt(d.share * (1 - d.share) / n) + 0.001;  // 4 sigma
    EXPECT_NEAR(share, d.share, tolerance) << d.gpus << " GPUs, seed " << seed;
  }
  EXPECT_EQ(count.size(), std::size(kGpuDemandMix)) << "no demand outside the mix";
}

TEST(SchedWorkload, RunTimesAndInputsFollowTheirLognormals) {
  auto w = generate_sched_workload(options(20, 20'000, 2));
  ASSERT_TRUE(w.is_ok());
  std::vector<double> run_s, input_bytes, log_run;
  for (const auto& j : w->jobs) {
    run_s.push_back(j.run_s);
    log_run.push_back(std::log(j.run_s));
    input_bytes.push_back(static_cast<double>(j.input_bytes));
    EXPECT_LE(j.run_s, 7 * 24 * 3600.0);
  }
  EXPECT_NEAR(median(run_s), 200, 20);
  EXPECT_NEAR(median(input_bytes), 10e9, 1e9);
  double mean = 0, var = 0;
  for (double v : log_run) mean += v / static_cast<double>(log_run.size());
  for (double v : log_run) var += (v - mean) * (v - mean) / static_cast<double>(log_run.size());
  EXPECT_NEAR(std::sqrt(var), 2.6, 0.1) << "sigma of log(run time)";
}

TEST(SchedWorkload, SitesAndLinksAreInTheirRanges) {
  auto w = generate_sched_workload(options(30, 20'000, 3));
  ASSERT_TRUE(w.is_ok());
  for (const auto& s : w->sites) {
    EXPECT_GE(s.gpus, 8u);
    EXPECT_LE(s.gpus, 512u);
    EXPECT_EQ(s.gpus & (s.gpus - 1), 0u) << "a power of two";
  }
  for (std::uint32_t a = 0; a < 30; ++a) {
    for (std::uint32_t b = 0; b < 30; ++b) {
      if (a == b) continue;
      EXPECT_GE(w->link(a, b).bandwidth_bps, 1e9);
      EXPECT_LE(w->link(a, b).bandwidth_bps, 100e9);
      EXPECT_GE(w->link(a, b).rtt_ms, 1);
      EXPECT_LE(w->link(a, b).rtt_ms, 50);
      EXPECT_EQ(w->link(a, b).rtt_ms, w->link(b, a).rtt_ms);
    }
  }
}

TEST(SchedWorkload, InputSitesFollowZipfPopularity) {
  auto w = generate_sched_workload(options(10, 20'000, 4));
  ASSERT_TRUE(w.is_ok());
  std::vector<double> count(10);
  for (const auto& j : w->jobs) count[j.input_site] += 1;
  std::sort(count.rbegin(), count.rend());
  // Zipf(1) over 10 sites: the top site holds 1/H(10) = 34.1% of inputs, the second half of that.
  EXPECT_NEAR(count[0] / 20'000, 0.341, 0.02);
  EXPECT_NEAR(count[1] / count[0], 0.5, 0.05);
}

TEST(SchedWorkload, ArrivalsOfferTheRequestedLoad) {
  for (double load : {0.5, 0.8, 1.2}) {
    auto o = options(20, 20'000, 5);
    o.load = load;
    auto w = generate_sched_workload(o);
    ASSERT_TRUE(w.is_ok());
    EXPECT_NEAR(w->offered_load(), load, 0.05 * load);
    EXPECT_TRUE(std::is_sorted(w->jobs.begin(), w->jobs.end(),
                               [](const SchedJob& a, const SchedJob& b) { return a.arrival_s < b.arrival_s; }));
  }
}

TEST(SchedWorkload, SameSeedGivesTheSameWorkloadAndAnotherSeedDoesNot) {
  auto a = generate_sched_workload(options(12, 4'000, 7));
  auto b = generate_sched_workload(options(12, 4'000, 7));
  auto c = generate_sched_workload(options(12, 4'000, 8));
  ASSERT_TRUE(a.is_ok() && b.is_ok() && c.is_ok());
  EXPECT_EQ(format_sched_trace(*a), format_sched_trace(*b));
  EXPECT_NE(format_sched_trace(*a), format_sched_trace(*c));
}

TEST(SchedWorkload, JobsLargerThanEverySiteAreRejectedAtGeneration) {
  std::uint64_t rejected = 0;
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    auto w = generate_sched_workload(options(2, 1000, seed));
    ASSERT_TRUE(w.is_ok());
    EXPECT_EQ(w->jobs.size(), 1000u) << "rejected jobs are replaced, seed " << seed;
    for (const auto& j : w->jobs) ASSERT_LE(j.gpus, w->gpus_largest_site()) << "seed " << seed;
    rejected += w->jobs_rejected_too_big;
  }
  EXPECT_GT(rejected, 0u) << "two small sites cannot hold a 64-GPU job in some seed";
}

TEST(SchedWorkload, TooFewJobsForTheLoadIsAClearError) {
  auto w = generate_sched_workload(options(30, 10, 3));
  ASSERT_FALSE(w.is_ok());
  EXPECT_NE(w.status().message().find("too few jobs to offer a load of 0.8"), std::string::npos) << w.status().message();
}

TEST(SchedWorkload, TraceFileRoundTrips) {
  auto w = generate_sched_workload(options(5, 1000, 9));
  ASSERT_TRUE(w.is_ok());
  const auto path = std::filesystem::temp_directory_path() / ("sched_trace_" + std::to_string(::getpid()) + ".txt");
  ASSERT_TRUE(write_sched_trace_file(path.string(), *w).is_ok());
  auto back = read_sched_trace_file(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  ASSERT_EQ(back->jobs.size(), w->jobs.size());
  for (std::size_t i = 0; i < w->jobs.size(); ++i) {
    EXPECT_EQ(back->jobs[i].arrival_s, w->jobs[i].arrival_s);
    EXPECT_EQ(back->jobs[i].run_s, w->jobs[i].run_s);
    EXPECT_EQ(back->jobs[i].gpus, w->jobs[i].gpus);
    EXPECT_EQ(back->jobs[i].origin, w->jobs[i].origin);
    EXPECT_EQ(back->jobs[i].input_site, w->jobs[i].input_site);
    EXPECT_EQ(back->jobs[i].input_bytes, w->jobs[i].input_bytes);
  }
  for (std::uint32_t a = 0; a < 5; ++a) {
    for (std::uint32_t b = 0; b < 5; ++b) EXPECT_EQ(back->link(a, b).bandwidth_bps, w->link(a, b).bandwidth_bps);
  }
  EXPECT_EQ(format_sched_trace(*back), format_sched_trace(*w));
}

const char* kGoodHeader =
    "polder-sched-trace 1\n"
    "site a 8\n"
    "site b 16\n"
    "link a b 1e10 5\n";

void expect_error(const std::string& text, const std::string& needle) {
  auto w = parse_sched_trace(text, "t.trace");
  ASSERT_FALSE(w.is_ok()) << text;
  EXPECT_NE(w.status().message().find(needle), std::string::npos) << w.status().message();
  EXPECT_EQ(w.status().message().rfind("t.trace", 0), 0u) << "the error names the file: " << w.status().message();
}

TEST(SchedWorkload, GoodTraceParses) {
  auto w = parse_sched_trace(std::string(kGoodHeader) + "# a comment\njob 0 a 4 100 b 1000\njob 1.5 b 16 10 a 0\n", "t");
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  EXPECT_EQ(w->jobs.size(), 2u);
  EXPECT_EQ(w->jobs[1].origin, 1u);
  EXPECT_EQ(w->link(1, 0).rtt_ms, 5);
}

TEST(SchedWorkload, BadTraceGivesAClearErrorWithItsLine) {
  expect_error("hello\n", "line 1: not a scheduler trace");
  expect_error("polder-sched-trace 2\n", "version 2 is not supported");
  expect_error(std::string(kGoodHeader) + "job 0 a 4 100 c 1000\n", "line 5: unknown site 'c'");
  expect_error(std::string(kGoodHeader) + "job 0 a four 100 b 1000\n", "line 5: expected 'job ARRIVAL_S");
  expect_error(std::string(kGoodHeader) + "job 0 a 32 100 b 1000\n", "line 5: job 0: asks for 32 GPUs, the largest site has 16");
  expect_error(std::string(kGoodHeader) + "job 5 a 1 100 b 1\njob 4 a 1 100 b 1\n", "line 6: job 1: arrivals must be in time order");
  expect_error(std::string(kGoodHeader) + "job 0 a 1 0 b 1\n", "run_s must be in");
  expect_error(std::string(kGoodHeader) + "frob 1\n", "line 5: unknown record 'frob'");
  expect_error("polder-sched-trace 1\nsite a 8\nsite b 8\nsite c 8\nlink a b 1e9 1\nlink a c 1e9 1\njob 0 a 1 1 a 1\n",
               "link b - c: no bandwidth");
  expect_error("polder-sched-trace 1\nsite a 8\nsite a 8\n", "line 3: site 'a' declared twice");
  expect_error("polder-sched-trace 1\nsite a/b 8\n", "may only hold");
  expect_error(std::string(kGoodHeader), "needs 1 to");
  expect_error("", "empty trace");
}

TEST(SchedWorkload, MissingTraceFileGivesAClearError) {
  auto w = read_sched_trace_file("/nonexistent/polder/trace.txt");
  ASSERT_FALSE(w.is_ok());
  EXPECT_NE(w.status().message().find("cannot open trace file '/nonexistent/polder/trace.txt'"), std::string::npos);
}

}  // namespace
}  // namespace polder::sim
