#include "scheduler/cost_model.h"

#include <cassert>
#include <cmath>
#include <cstdio>

namespace polder::scheduler {

namespace {

bool positive_finite(double v) { return std::isfinite(v) && v > 0; }

// A gossiped value can be anything a peer sent; a bad one falls back to the
// default instead of poisoning the ranking with NaN or a negative cost.
double or_default(std::optional<double> measured, double fallback) {
  if (measured && std::isfinite(*measured) && *measured > 0) return *measured;
  return fallback;
}

}  // namespace

Status validate_cost_model_config(const CostModelConfig& c) {
  if (!positive_finite(c.bandwidth_bps_default)) return invalid_argument("cost model: bandwidth_bps_default must be > 0");
  if (!std::isfinite(c.rtt_ms_default) || c.rtt_ms_default < 0) {
    return invalid_argument("cost model: rtt_ms_default must be >= 0");
  }
  if (!positive_finite(c.run_s_default)) return invalid_argument("cost model: run_s_default must be > 0");
  if (!std::isfinite(c.queued_job_wait_s_default) || c.queued_job_wait_s_default < 0) {
    return invalid_argument("cost model: queued_job_wait_s_default must be >= 0");
  }
  return Status::ok();
}

Result<CostModel> CostModel::create(const CostModelConfig& config, const LinkMetrics& links) {
  POLDER_RETURN_IF_ERROR(validate_cost_model_config(config));
  return CostModel(config, links);
}

bool CostModel::input_is_local(const DataInput& input, const NodeRecord& candidate) {
  if (input.site == candidate.name) return true;
  for (const auto& d : candidate.datasets) {
    if (d.name == input.dataset) return true;
  }
  return false;
}

double CostModel::queue_s(const NodeRecord& candidate, const CostHints& hints) const {
  if (hints.queue_s) return or_default(hints.queue_s, 0.0);
  const double wait_s = static_cast<double>(candidate.expected_wait_ms) / 1000.0;
  // Each job ahead that the record does not count yet waits, on average, as
  // long as each job the record does count.
  const double per_job_s = candidate.queue_length > 0 ? wait_s / candidate.queue_length
                                                      : config_.queued_job_wait_s_default;
  return wait_s + per_job_s * hints.jobs_ahead;
}

void CostModel::add_transfer(const JobSpec& spec, const NodeRecord& candidate, CostBreakdown& cost) const {
  for (const auto& input : spec.inputs) {
    if (input_is_local(input, candidate)) {
      cost.bytes_local += input.size_bytes;
      continue;
    }
    const double bandwidth_bps = or_default(links_->bandwidth_bps(input.site, candidate), config_.bandwidth_bps_default);
    cost.bytes_moved += input.size_bytes;
    cost.transfer_s += static_cast<double>(input.size_bytes) * 8.0 / bandwidth_bps;
  }
}

CostBreakdown CostModel::estimate(const JobSpec& spec, const NodeRecord& candidate, const CostHints& hints) const {
  CostBreakdown cost;
  cost.queue_s = queue_s(candidate, hints);
  add_transfer(spec, candidate, cost);
  cost.rtt_s = hints.rtt_zero ? 0.0 : or_default(links_->rtt_ms(candidate), config_.rtt_ms_default) / 1000.0;
  if (hints.run_s && std::isfinite(*hints.run_s) && *hints.run_s >= 0) {
    cost.run_s = *hints.run_s;
  } else if (spec.max_run_time_s > 0) {
    cost.run_s = static_cast<double>(spec.max_run_time_s);
  } else {
    cost.run_s = config_.run_s_default;
  }
  cost.total_s = cost.queue_s + cost.transfer_s + cost.rtt_s + cost.run_s;
  assert(std::isfinite(cost.total_s) && cost.total_s >= 0 && "cost terms are finite and non-negative");
  return cost;
}

std::string format_bytes(std::uint64_t size_bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  double v = static_cast<double>(size_bytes);
  int unit = 0;
  while (v >= 1000.0 && unit < 6) {
    v /= 1000.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", v, kUnits[unit]);
  return buf;
}

std::string CostBreakdown::describe() const {
  char buf[256];
  std::string inputs;
  if (bytes_local > 0) inputs += "input " + format_bytes(bytes_local) + " local, ";
  if (bytes_moved > 0) inputs += "input " + format_bytes(bytes_moved) + " moved, ";
  std::snprintf(buf, sizeof buf, "queue %.1f s, transfer %.1f s, rtt %.3f s, run %.1f s, total %.1f s", queue_s,
                transfer_s, rtt_s, run_s, total_s);
  return inputs + buf;
}

}  // namespace polder::scheduler
