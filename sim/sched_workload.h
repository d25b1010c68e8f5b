// SchedWorkload: the multi-site GPU workload that `polder-sim sched` plays.
//
// A workload is sites (name, GPUs), a full mesh of links between them
// (bandwidth, RTT) and jobs (arrival, origin site, GPUs, run time, one input
// at a site). It comes either from generate_sched_workload() — seeded, so
// the same options give the same workload byte for byte — or from a trace
// file (docs/benchmarks.md, "Scheduler simulator", documents the format).
//
// The synthetic distributions follow issue 6:
//   GPUs per job   1:62% 2:10% 4:10% 8:12% 16:3% 32:2% 64:1%;
//   run time       lognormal, median 200 s, sigma 2.6, capped at run_s_max;
//   input          one per job, at a site drawn with Zipf popularity over
//                  the sites, size lognormal (median 10 GB, sigma 1.5);
//   sites          8..512 GPUs (a power of two, uniform over the 7 sizes);
//   links          1..100 Gb/s (log-uniform), 1..50 ms RTT (uniform);
//   arrivals       Poisson, at the rate that offers `load` of the total GPU
//                  capacity over the arrival window (offered_load(): the
//                  GPUs that would be busy between the first and the last
//                  arrival if every job started on arrival). A week-long
//                  tail never reaches steady state in a trace of days, so
//                  the steady-state definition, sum(gpus * run_s) /
//                  (capacity * span), would promise a load the schedulers
//                  never face; it is reported as offered_load_steady();
//   origin         uniform over the sites.
// A job that asks more GPUs than the largest site has is rejected at
// generation (counted in jobs_rejected_too_big) and another is drawn, so the
// workload always has exactly `jobs` jobs and each fits some site.
//
// Thread-safety: plain values; the functions are pure apart from the file IO
// of the *_file functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/status.h"

namespace polder::sim {

struct SchedSite {
  std::string name;
  std::uint32_t gpus = 0;
};

struct SchedLink {
  double bandwidth_bps = 0;  // a site to itself: +inf (never used: local input moves nothing)
  double rtt_ms = 0;         // a site to itself: 0
};

struct SchedJob {
  std::uint32_t id = 0;          // index in the workload, 0..jobs-1
  double arrival_s = 0;
  std::uint32_t origin = 0;      // site index where the job is submitted
  std::uint32_t gpus = 1;
  double run_s = 1;
  std::uint32_t input_site = 0;  // site index holding the input
  std::uint64_t input_bytes = 0;
};

struct SchedWorkload {
  std::vector<SchedSite> sites;
  std::vector<SchedLink> links;  // sites.size()^2, row-major: links[a * n + b]
  std::vector<SchedJob> jobs;    // by arrival time
  std::uint64_t jobs_rejected_too_big = 0;

  const SchedLink& link(std::uint32_t a, std::uint32_t b) const { return links[a * sites.size() + b]; }
  std::uint64_t gpus_total() const;
  std::uint32_t gpus_largest_site() const;
  // GPU-seconds inside [first, last arrival] if every job started on
  // arrival, over capacity * that span.
  double offered_load() const;
  // sum(gpus * run_s) / (capacity * arrival span).
  double offered_load_steady() const;
};

struct SchedWorkloadOptions {
  std::uint32_t sites = 20;
  std::uint32_t jobs = 20'000;
  double load = 0.8;
  std::uint64_t seed = 1;
  double run_s_median = 200;
  double run_sigma = 2.6;
  double run_s_max = 7 * 24 * 3600.0;  // a week: a typical cluster's wall-time limit
  double input_bytes_median = 10e9;
  double input_sigma = 1.5;
  double zipf_exponent = 1.0;          // popularity of the sites that hold inputs
  double bandwidth_gbps_min = 1, bandwidth_gbps_max = 100;
  double rtt_ms_min = 1, rtt_ms_max = 50;
};

// Bounds, so a typo cannot ask for a billion sites.
inline constexpr std::uint32_t kSchedSitesMax = 4096;
inline constexpr std::uint32_t kSchedJobsMax = 10'000'000;
inline constexpr std::uint32_t kSchedGpusPerSiteMax = 1024;  // ReservationTable's slot bound

Status validate_sched_workload_options(const SchedWorkloadOptions& options);
Result<SchedWorkload> generate_sched_workload(const SchedWorkloadOptions& options);

// Checks what a trace file could get wrong: names, sizes, a missing or
// asymmetric link, an unknown site, arrivals out of order, a job larger
// than every site.
Status validate_sched_workload(const SchedWorkload& workload);

// The text form (one record per line; docs/benchmarks.md). format then
// parse gives back an equal workload (numbers are printed round-trip exact).
std::string format_sched_trace(const SchedWorkload& workload);
// `source` names the text in errors ("trace.txt line 12: ...").
Result<SchedWorkload> parse_sched_trace(std::string_view text, std::string_view source);
Result<SchedWorkload> read_sched_trace_file(const std::string& path);
Status write_sched_trace_file(const std::string& path, const SchedWorkload& workload);

// The GPU demand mix of issue 6, for the generator and its tests.
struct GpuDemandShare {
  std::uint32_t gpus;
  double share;
};
inline constexpr GpuDemandShare kGpuDemandMix[] = {{1, 0.62}, {2, 0.10}, {4, 0.10}, {8, 0.12},
                                                   {16, 0.03}, {32, 0.02}, {64, 0.01}};

}  // namespace polder::sim
