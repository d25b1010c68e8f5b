#include "scheduler/offload.h"

#include <cassert>
#include <cmath>
#include <cstdio>
#include <set>

namespace polder::scheduler {

Status validate_offload_config(const OffloadConfig& c) {
  if (!std::isfinite(c.gain_s_min) || c.gain_s_min < 0) return invalid_argument("offload: gain_s_min must be >= 0");
  if (!(c.gain_relative_min >= 0 && c.gain_relative_min <= 1)) {
    return invalid_argument("offload: gain_relative_min must be in [0, 1]");
  }
  if (c.move_interval_min < Duration::zero()) return invalid_argument("offload: move_interval_min must be >= 0");
  if (c.moves_per_round_max == 0) return invalid_argument("offload: moves_per_round_max must be > 0");
  if (!std::isfinite(c.busy_wait_s_min) || c.busy_wait_s_min < 0) {
    return invalid_argument("offload: busy_wait_s_min must be >= 0");
  }
  return Status::ok();
}

Result<OffloadPolicy> OffloadPolicy::create(const OffloadConfig& config, const Placer& placer) {
  POLDER_RETURN_IF_ERROR(validate_offload_config(config));
  return OffloadPolicy(config, placer);
}

bool OffloadPolicy::may_move(const QueuedJob& job, Instant now) const {
  return !job.last_moved_at || now - *job.last_moved_at >= config_.move_interval_min;
}

// Run time is the same on both sides, so what a move buys is an earlier
// start: compare times-to-start, never totals (a long run would otherwise
// hide any gain behind the relative threshold).
bool OffloadPolicy::worth_moving(const CostBreakdown& local, const CostBreakdown& remote) const {
  const double local_start_s = local.total_s - local.run_s;
  const double remote_start_s = remote.total_s - remote.run_s;
  const double gain_s = local_start_s - remote_start_s;
  return gain_s > 0 && gain_s >= config_.gain_s_min && gain_s >= config_.gain_relative_min * local_start_s;
}

Result<std::vector<OffloadDecision>> OffloadPolicy::decide(const NodeRecord& self, std::span<const QueuedJob> queue,
                                                           std::span<const Candidate> peers, Instant now) const {
  for (const auto& q : queue) {
    if (q.spec == nullptr) return invalid_argument("offload: queued job " + q.job.short_hex() + " has no spec");
  }
  std::vector<Candidate> others;  // a copy: each decision adds to a peer's jobs_ahead
  for (const auto& p : peers) {
    if (p.record.node_id != self.node_id) others.push_back(p);
  }
  std::vector<OffloadDecision> decisions;
  std::set<JobId> decided;
  // From the back of the queue: the jobs that wait longest gain most.
  for (auto it = queue.rbegin(); it != queue.rend() && decisions.size() < config_.moves_per_round_max; ++it) {
    const QueuedJob& q = *it;
    if (!may_move(q, now) || decided.count(q.job) > 0) continue;
    auto placement = placer_->rank(PlacementRequest{q.job, q.spec, q.submitter_operator, 1, q.run_s_hint}, others);
    if (!placement || placement->ranked.empty()) continue;  // nowhere else can run it
    const RankedCandidate& best = placement->ranked.front();
    CostHints local_hints;
    local_hints.run_s = q.run_s_hint;
    local_hints.queue_s = q.local_wait_s;
    local_hints.rtt_zero = true;
    const CostBreakdown local = placer_->cost_model().estimate(*q.spec, self, local_hints);
    if (!worth_moving(local, best.cost)) continue;
    decisions.push_back(OffloadDecision{q.job, q.attempt, best.node, best.node_name, local, best.cost,
                                        local.total_s - best.cost.total_s});
    decided.insert(q.job);
    for (auto& c : others) {
      if (c.record.node_id == best.node) ++c.jobs_ahead;
    }
  }
  assert(decisions.size() <= config_.moves_per_round_max && "moves per round are bounded");
  return decisions;
}

bool OffloadPolicy::should_ask_for_work(const NodeRecord& self, std::span<const Candidate> peers) const {
  if (self.queue_length > 0) return false;
  bool has_free = self.cpus > 0;
  for (const auto& a : self.accelerators) has_free |= a.free > 0;
  if (!has_free) return false;
  for (const auto& p : peers) {
    if (p.record.node_id == self.node_id || p.record.queue_length == 0) continue;
    if (static_cast<double>(p.record.expected_wait_ms) / 1000.0 >= config_.busy_wait_s_min) return true;
  }
  return false;
}

std::string OffloadDecision::explain() const {
  char gain[32];
  std::snprintf(gain, sizeof gain, "%.1f", gain_s);
  return "offload to " + to_name + ": finishes " + gain + " s sooner (local " + local.describe() + "; " + to_name +
         ": " + remote.describe() + ")";
}

}  // namespace polder::scheduler
