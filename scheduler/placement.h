// Placer: which nodes should run a job, best first, and why the others not.
//
// A proposer ranks the candidates it knows from gossip: hard constraints
// filter (GPU type and count, CPUs, memory, the job's allowed/denied regions
// and operators, each node operator's Policy), then CostModel orders the rest
// by expected completion time. The proposer asks the best few for a
// reservation (reservations.h); gossip is stale, so a rank is a guess and the
// executor stays the authority on its own capacity.
//
// Guarantees: pure and deterministic. Equal costs are broken by fewer bytes
// moved, then a rendezvous hash of (job, node) so ties spread over nodes
// rather than piling on the lowest id, then the node id; never by hash-table
// or input order. Every candidate ends up either ranked or rejected with a
// reason. Candidate records are peer input: a malformed one is rejected,
// never asserted on.
// Thread-safety: immutable after create(); concurrent rank() calls are safe
// when the LinkMetrics behind the CostModel is safe for concurrent reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/ids.h"
#include "protocol/messages.h"
#include "protocol/status.h"
#include "scheduler/cost_model.h"
#include "scheduler/job_validation.h"

namespace polder::scheduler {

// What a node's operator lets the federation do with the node. Work from the
// node's own operator is not limited by federation_share.
struct Policy {
  double federation_share = 1.0;                 // of each capacity (GPUs of a type, CPUs, memory), in [0, 1]
  std::vector<std::string> accepted_operators;   // whose work is accepted; empty: everyone's
  std::vector<std::string> refused_operators;    // whose work is never accepted
};

// Whether a candidate needs the GPUs free now or only to have them at all
// (then the job queues there and the queue term of the cost pays for it).
enum class CapacityMode : std::uint8_t { kFree, kTotal };

struct Candidate {
  NodeRecord record;
  Policy policy;
  std::uint32_t jobs_ahead = 0;  // jobs this proposer sent there that the record does not count yet
};

enum class RejectReason : std::uint8_t {
  kGpuType,           // no accelerator of the requested type
  kGpus,              // not enough GPUs (free or total, by CapacityMode)
  kCpus,
  kMemory,
  kRegionNotAllowed,
  kRegionDenied,
  kOperatorNotAllowed,
  kOperatorDenied,
  kPolicyRefuses,     // the node's operator does not accept the submitter's work
  kPolicyShare,       // more than the share the node offers the federation
  kInvalidPolicy,     // a share outside [0, 1] in the node's policy
};
const char* reject_reason_name(RejectReason reason);

struct Rejection {
  NodeId node;
  std::string node_name;
  RejectReason reason = RejectReason::kGpus;
  std::string detail;  // "needs 8 H100 free, has 4 of 8"
};

struct RankedCandidate {
  NodeId node;
  std::string node_name;
  CostBreakdown cost;
};

struct PlacementRequest {
  JobId job;
  const JobSpec* spec = nullptr;        // borrowed for the call; required
  std::string_view submitter_operator;  // operator of the submitter's key
  std::size_t top_k = 3;                // how many ranked candidates to return, >= 1
  std::optional<double> run_s_hint;
};

struct Placement {
  std::vector<RankedCandidate> ranked;  // best first, at most top_k
  std::size_t feasible = 0;             // candidates that passed the filter
  std::vector<Rejection> rejected;      // in candidate order
  // "placed on X: input 40.0 GB local, queue 12.0 s, ...; other candidates:
  //  Y total 80.0 s (...); rejected: Z (region_denied: ...)". At most
  // `others_max` lines of each kind.
  std::string explain(std::size_t others_max = 3) const;
};

struct PlacerConfig {
  CapacityMode capacity_mode = CapacityMode::kTotal;
  bool explain_rejections = true;  // off: rejected holds node ids and reasons, no names or details (cheaper)
  std::size_t top_k_max = 64;
};

class Placer {
 public:
  Placer(PlacerConfig config, const CostModel& model) : config_(config), model_(&model) {}

  // Ranks `candidates` for the request. InvalidArgument for a request or a
  // spec of the wrong shape (validate_job_shape); an ok Placement with no
  // `ranked` when every candidate was rejected.
  Result<Placement> rank(const PlacementRequest& request, std::span<const Candidate> candidates) const;

  // Why `candidate` cannot run the job; nullopt when it can.
  std::optional<Rejection> filter(const JobSpec& spec, std::string_view submitter_operator,
                                  const Candidate& candidate) const;

  const PlacerConfig& config() const { return config_; }
  const CostModel& cost_model() const { return *model_; }

 private:
  std::optional<Rejection> filter_gpus(const Resources& r, const Candidate& c, double share) const;
  std::optional<Rejection> filter_resources(const Resources& r, const Candidate& c, bool federation_work) const;
  std::optional<Rejection> filter_constraints(const Constraints& k, const Candidate& c) const;
  std::optional<Rejection> filter_policy(std::string_view submitter_operator, const Candidate& c) const;
  // The detail is built only when explanations are on (the hot path of a
  // proposer ranking thousands of nodes runs with them off).
  template <typename MakeDetail>
  Rejection reject(const Candidate& c, RejectReason reason, MakeDetail&& make_detail) const {
    if (!config_.explain_rejections) return Rejection{c.record.node_id, {}, reason, {}};
    return Rejection{c.record.node_id, c.record.name, reason, make_detail()};
  }

  PlacerConfig config_;
  const CostModel* model_;  // borrowed; must outlive this placer
};

// Deterministic rendezvous weight of (job, node): the tie-break of equal costs.
std::uint64_t rendezvous_weight(const JobId& job, const NodeId& node);

}  // namespace polder::scheduler
