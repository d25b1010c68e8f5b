// CostModel: expected completion time of a job on one candidate node.
//
//   total_s = queue_s + transfer_s + rtt_s + run_s
//
//   queue_s    the candidate's gossiped expected wait, plus the wait behind
//              the jobs this proposer already sent there that the (stale)
//              record does not count yet (`jobs_ahead`);
//   transfer_s each input not already at the candidate (the candidate is the
//              input's site, or it holds a dataset of that name) crosses the
//              link from the input's site: size_bytes * 8 / bandwidth_bps,
//              inputs one after another (they share the link);
//   rtt_s      round trip from the proposer to the candidate (Vivaldi);
//   run_s      the caller's hint, else the spec's max_run_time_s.
//
// Every term is returned by name so a log can say why a node won
// ("placed on X: input 40 GB local, queue 12 s").
//
// Guarantees: pure and deterministic; every term is finite and >= 0.
// Thread-safety: immutable after create(); concurrent estimate() calls are
// safe when the LinkMetrics is safe for concurrent reads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "protocol/messages.h"
#include "protocol/status.h"
#include "scheduler/link_metrics.h"

namespace polder::scheduler {

struct CostModelConfig {
  double bandwidth_bps_default = 1e9;  // an unmeasured link: 1 Gb/s
  double rtt_ms_default = 50.0;        // an unmeasured round trip
  double run_s_default = 3600.0;       // a spec without max_run_time_s and no hint
  // Wait added per job ahead that the record does not count yet, when the
  // record has an empty queue (otherwise expected_wait / queue_length).
  double queued_job_wait_s_default = 60.0;
};

// Status of config values; ok when all are finite and positive.
Status validate_cost_model_config(const CostModelConfig& config);

struct CostBreakdown {
  double queue_s = 0;
  double transfer_s = 0;
  double rtt_s = 0;
  double run_s = 0;
  double total_s = 0;
  std::uint64_t bytes_local = 0;  // input bytes already at the candidate
  std::uint64_t bytes_moved = 0;  // input bytes that cross a link
  // "input 40.0 GB local, queue 12.0 s, transfer 0.0 s, rtt 0.005 s, run 600.0 s, total 612.0 s"
  std::string describe() const;
};

// What only the caller knows about this placement.
struct CostHints {
  std::optional<double> run_s;      // a better run-time estimate than max_run_time_s
  std::uint32_t jobs_ahead = 0;     // jobs sent to this candidate that its record does not count yet
  std::optional<double> queue_s;    // replaces the queue term (the local queue, known exactly)
  bool rtt_zero = false;            // the candidate is the proposer itself
};

class CostModel {
 public:
  // Fails on a config value that is not finite and positive.
  static Result<CostModel> create(const CostModelConfig& config, const LinkMetrics& links);

  CostBreakdown estimate(const JobSpec& spec, const NodeRecord& candidate, const CostHints& hints) const;

  // True when `candidate` already holds `input` (it is the site, or it holds
  // a dataset of that name).
  static bool input_is_local(const DataInput& input, const NodeRecord& candidate);

  const CostModelConfig& config() const { return config_; }

 private:
  CostModel(const CostModelConfig& config, const LinkMetrics& links) : config_(config), links_(&links) {}

  double queue_s(const NodeRecord& candidate, const CostHints& hints) const;
  void add_transfer(const JobSpec& spec, const NodeRecord& candidate, CostBreakdown& cost) const;

  CostModelConfig config_;
  const LinkMetrics* links_;  // borrowed; must outlive this model
};

// "40.0 GB", "512.0 MB": for explanations (powers of 1000, like link speeds).
std::string format_bytes(std::uint64_t size_bytes);

}  // namespace polder::scheduler
