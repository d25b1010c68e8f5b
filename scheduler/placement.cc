#include "scheduler/placement.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>

namespace polder::scheduler {

namespace {

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Little-endian words, explicitly, so the weight is the same on every host.
template <typename Tag>
std::uint64_t fold(std::uint64_t h, const Id32<Tag>& id) {
  const auto& b = id.bytes();
  for (std::size_t w = 0; w < b.size(); w += 8) {
    std::uint64_t word = 0;
    for (std::size_t i = 0; i < 8; ++i) word |= std::uint64_t{b[w + i]} << (8 * i);
    h = mix64(h ^ word);
  }
  return h;
}

// Share of a capacity the federation may use; floor so a share never rounds up.
std::uint64_t share_of(std::uint64_t total, double share) {
  return static_cast<std::uint64_t>(std::floor(static_cast<double>(total) * share));
}

struct Scored {
  CostBreakdown cost;
  std::uint64_t weight = 0;
  std::uint32_t index = 0;
};

}  // namespace

const char* reject_reason_name(RejectReason reason) {
  switch (reason) {
    case RejectReason::kGpuType: return "gpu_type";
    case RejectReason::kGpus: return "gpus";
    case RejectReason::kCpus: return "cpus";
    case RejectReason::kMemory: return "memory";
    case RejectReason::kRegionNotAllowed: return "region_not_allowed";
    case RejectReason::kRegionDenied: return "region_denied";
    case RejectReason::kOperatorNotAllowed: return "operator_not_allowed";
    case RejectReason::kOperatorDenied: return "operator_denied";
    case RejectReason::kPolicyRefuses: return "policy_refuses_operator";
    case RejectReason::kPolicyShare: return "policy_share";
    case RejectReason::kInvalidPolicy: return "invalid_policy";
  }
  return "unknown";
}

std::uint64_t rendezvous_weight(const JobId& job, const NodeId& node) {
  return fold(fold(0x706f6c646572ULL, job), node);
}

std::optional<Rejection> Placer::filter_policy(std::string_view submitter_operator, const Candidate& c) const {
  const Policy& p = c.policy;
  if (!(p.federation_share >= 0.0 && p.federation_share <= 1.0)) {
    return reject(c, RejectReason::kInvalidPolicy, [] { return std::string("federation_share outside [0, 1]"); });
  }
  if (submitter_operator == c.record.operator_name) return std::nullopt;  // an operator's own work
  if (contains(p.refused_operators, submitter_operator) ||
      (!p.accepted_operators.empty() && !contains(p.accepted_operators, submitter_operator))) {
    return reject(c, RejectReason::kPolicyRefuses, [&] {
      return "operator " + c.record.operator_name + " does not accept work from " + std::string(submitter_operator);
    });
  }
  return std::nullopt;
}

std::optional<Rejection> Placer::filter_constraints(const Constraints& k, const Candidate& c) const {
  const auto& region = c.record.region;
  const auto& op = c.record.operator_name;
  if (!k.allowed_regions.empty() && !contains(k.allowed_regions, region)) {
    return reject(c, RejectReason::kRegionNotAllowed, [&] { return "region " + region + " is not among the allowed regions"; });
  }
  if (contains(k.denied_regions, region)) {
    return reject(c, RejectReason::kRegionDenied, [&] { return "region " + region + " is denied"; });
  }
  if (!k.allowed_operators.empty() && !contains(k.allowed_operators, op)) {
    return reject(c, RejectReason::kOperatorNotAllowed, [&] { return "operator " + op + " is not among the allowed operators"; });
  }
  if (contains(k.denied_operators, op)) {
    return reject(c, RejectReason::kOperatorDenied, [&] { return "operator " + op + " is denied"; });
  }
  return std::nullopt;
}

std::optional<Rejection> Placer::filter_gpus(const Resources& r, const Candidate& c, double share) const {
  bool type_seen = false, fits_raw = false, fits_share = false;
  for (const auto& a : c.record.accelerators) {
    if (!r.gpu_type.empty() && a.type != r.gpu_type) continue;
    type_seen = true;
    // A peer's record may claim free > total; never believe more than total.
    const std::uint64_t have = config_.capacity_mode == CapacityMode::kFree ? std::min(a.free, a.total) : a.total;
    fits_raw |= have >= r.gpus;
    fits_share |= std::min<std::uint64_t>(have, share_of(a.total, share)) >= r.gpus;
  }
  auto what = [&] { return std::to_string(r.gpus) + " " + (r.gpu_type.empty() ? std::string("GPUs") : r.gpu_type); };
  if (!type_seen) {
    return reject(c, RejectReason::kGpuType, [&] { return "has no " + (r.gpu_type.empty() ? "GPUs" : r.gpu_type); });
  }
  if (!fits_raw) {
    const char* how = config_.capacity_mode == CapacityMode::kFree ? " free" : "";
    return reject(c, RejectReason::kGpus, [&] { return "needs " + what() + how + ", has fewer"; });
  }
  if (!fits_share) {
    return reject(c, RejectReason::kPolicyShare, [&] { return "needs " + what() + ", more than the share offered to the federation"; });
  }
  return std::nullopt;
}

std::optional<Rejection> Placer::filter_resources(const Resources& r, const Candidate& c, bool federation_work) const {
  const NodeRecord& n = c.record;
  const double share = federation_work ? c.policy.federation_share : 1.0;
  if (r.gpus > 0) {
    if (auto rejection = filter_gpus(r, c, share)) return rejection;
  }
  if (r.cpus > n.cpus) {
    return reject(c, RejectReason::kCpus, [&] { return "needs " + std::to_string(r.cpus) + " CPUs, has " + std::to_string(n.cpus); });
  }
  if (r.memory_bytes > n.memory_bytes) {
    return reject(c, RejectReason::kMemory, [&] {
      return "needs " + format_bytes(r.memory_bytes) + " memory, has " + format_bytes(n.memory_bytes);
    });
  }
  if (r.cpus > share_of(n.cpus, share) || r.memory_bytes > share_of(n.memory_bytes, share)) {
    return reject(c, RejectReason::kPolicyShare, [] { return std::string("CPUs or memory over the share offered to the federation"); });
  }
  return std::nullopt;
}

std::optional<Rejection> Placer::filter(const JobSpec& spec, std::string_view submitter_operator,
                                        const Candidate& candidate) const {
  if (auto r = filter_policy(submitter_operator, candidate)) return r;
  if (auto r = filter_constraints(spec.constraints, candidate)) return r;
  const bool federation_work = submitter_operator != candidate.record.operator_name;
  return filter_resources(spec.resources, candidate, federation_work);
}

Result<Placement> Placer::rank(const PlacementRequest& request, std::span<const Candidate> candidates) const {
  if (request.spec == nullptr) return invalid_argument("placement request has no job spec");
  if (request.top_k == 0 || request.top_k > config_.top_k_max) {
    return invalid_argument("placement request: top_k = " + std::to_string(request.top_k) + ", must be in [1, " +
                            std::to_string(config_.top_k_max) + "]");
  }
  const JobSpec& spec = *request.spec;
  POLDER_RETURN_IF_ERROR(validate_job_shape(spec));

  Placement placement;
  std::vector<Scored> scored;
  scored.reserve(candidates.size());
  for (std::uint32_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    if (auto rejection = filter(spec, request.submitter_operator, c)) {
      placement.rejected.push_back(std::move(*rejection));
      continue;
    }
    CostHints hints;
    hints.run_s = request.run_s_hint;
    hints.jobs_ahead = c.jobs_ahead;
    scored.push_back(Scored{model_->estimate(spec, c.record, hints), rendezvous_weight(request.job, c.record.node_id), i});
  }
  placement.feasible = scored.size();

  auto better = [&](const Scored& a, const Scored& b) {
    if (a.cost.total_s != b.cost.total_s) return a.cost.total_s < b.cost.total_s;
    if (a.cost.bytes_moved != b.cost.bytes_moved) return a.cost.bytes_moved < b.cost.bytes_moved;
    if (a.weight != b.weight) return a.weight > b.weight;
    return candidates[a.index].record.node_id < candidates[b.index].record.node_id;
  };
  const std::size_t k = std::min(request.top_k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(k), scored.end(), better);
  for (std::size_t i = 0; i < k; ++i) {
    const auto& record = candidates[scored[i].index].record;
    placement.ranked.push_back(RankedCandidate{record.node_id, record.name, scored[i].cost});
  }
  assert(placement.feasible + placement.rejected.size() == candidates.size() && "every candidate ranked or rejected");
  return placement;
}

std::string Placement::explain(std::size_t others_max) const {
  if (ranked.empty()) {
    std::string out = "no candidate can run the job; rejected " + std::to_string(rejected.size()) + ":";
    for (std::size_t i = 0; i < rejected.size() && i < others_max; ++i) {
      out += " " + rejected[i].node_name + " (" + reject_reason_name(rejected[i].reason) + ": " + rejected[i].detail + ")";
    }
    return out;
  }
  std::string out = "placed on " + ranked[0].node_name + ": " + ranked[0].cost.describe();
  if (ranked.size() > 1) out += "; other candidates:";
  for (std::size_t i = 1; i < ranked.size() && i <= others_max; ++i) {
    out += " " + ranked[i].node_name + " (" + ranked[i].cost.describe() + ")";
  }
  if (!rejected.empty()) out += "; rejected " + std::to_string(rejected.size()) + ":";
  for (std::size_t i = 0; i < rejected.size() && i < others_max; ++i) {
    out += " " + rejected[i].node_name + " (" + reject_reason_name(rejected[i].reason) + ": " + rejected[i].detail + ")";
  }
  return out;
}

}  // namespace polder::scheduler
