// OffloadPolicy: which of a node's queued jobs should move to a peer.
//
// Work exchange (issue 6): a queued job that would start sooner on a peer,
// counting the transfer of its inputs and the RTT, is offloaded there (the
// host turns each decision into a new attempt, decided through consensus).
// Gossip is stale and two nodes decide independently, so without care a job
// bounces between them. Hysteresis stops that; a job moves only when
//   - the peer would start it at least `gain_s_min` seconds sooner, and
//   - at least `gain_relative_min` of its local time-to-start sooner, and
//   - it has not moved in the last `move_interval_min`;
// and at most `moves_per_round_max` jobs move per decide(). Each decision
// counts against the chosen peer's queue for the rest of the round, so one
// round does not pour the whole queue onto the same peer.
//
// Guarantees: pure and deterministic (peers are ranked by Placer, which
// never breaks ties by input or hash order); never returns a job twice;
// never returns a peer the placement filter rejects.
// Thread-safety: immutable after create(); see Placer.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/ids.h"
#include "protocol/messages.h"
#include "protocol/status.h"
#include "protocol/time.h"
#include "scheduler/cost_model.h"
#include "scheduler/placement.h"

namespace polder::scheduler {

struct OffloadConfig {
  double gain_s_min = 30.0;         // absolute: start at least this much sooner
  double gain_relative_min = 0.25;  // relative to the local time-to-start, in [0, 1]
  Duration move_interval_min = std::chrono::minutes(10);
  std::size_t moves_per_round_max = 8;
  // should_ask_for_work(): a peer is "busy" when its expected wait is at least this.
  double busy_wait_s_min = 60.0;
};

Status validate_offload_config(const OffloadConfig& config);

struct QueuedJob {
  JobId job;
  Attempt attempt;
  const JobSpec* spec = nullptr;         // borrowed for the call; required
  std::string submitter_operator;
  double local_wait_s = 0;               // expected wait in the local queue, from now
  std::optional<double> run_s_hint;
  std::optional<Instant> last_moved_at;  // when the job last changed node; nullopt: never
};

struct OffloadDecision {
  JobId job;
  Attempt attempt;  // the attempt that is queued here; the move is attempt + 1
  NodeId to;
  std::string to_name;
  CostBreakdown local;
  CostBreakdown remote;
  double gain_s = 0;  // local.total_s - remote.total_s
  // "offload to Y: starts 340.0 s sooner (local queue 400.0 s; Y: queue 60.0 s, ...)"
  std::string explain() const;
};

class OffloadPolicy {
 public:
  static Result<OffloadPolicy> create(const OffloadConfig& config, const Placer& placer);

  // Decides for `queue` (in local queue order) against `peers`; `self` is
  // this node's record and is skipped if it appears among the peers.
  // InvalidArgument when a queued job has no spec.
  Result<std::vector<OffloadDecision>> decide(const NodeRecord& self, std::span<const QueuedJob> queue,
                                              std::span<const Candidate> peers, Instant now) const;

  // An idle node (free GPUs or CPUs, empty queue) asks busy peers (jobs
  // queued, expected wait >= busy_wait_s_min) for work; they answer by
  // running decide() with the asker as their only peer (polderd: by placing
  // waiting jobs on it, scheduler/work_exchange.h). `self` says what is
  // free: accelerators' `free`, and `cpus` as CPUs free now.
  bool should_ask_for_work(const NodeRecord& self, std::span<const Candidate> peers) const;

  const OffloadConfig& config() const { return config_; }

 private:
  OffloadPolicy(const OffloadConfig& config, const Placer& placer) : config_(config), placer_(&placer) {}

  bool may_move(const QueuedJob& job, Instant now) const;
  bool worth_moving(const CostBreakdown& local, const CostBreakdown& remote) const;

  OffloadConfig config_;
  const Placer* placer_;  // borrowed; must outlive this policy
};

}  // namespace polder::scheduler
