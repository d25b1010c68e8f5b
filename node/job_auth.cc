#include "node/job_auth.h"

#include <sodium.h>

#include <algorithm>
#include <set>

#include "protocol/codec.h"

namespace polder::node {
namespace {

bool contains(const std::vector<NodeId>& ids, const NodeId& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

std::string who(const NodeId& id) { return "node " + id.short_hex(); }

}  // namespace

bool is_holder(const JobParties& job, const NodeId& key) { return key == job.origin || contains(job.replicas, key); }

Status check_peer_update(const JobParties& job, const NodeId& from, const JobView& view,
                         const std::optional<NodeId>& chosen_executor) {
  if (is_holder(job, from)) return Status::ok();
  const bool known_executor = (view.attempt == job.attempt && job.executor == from) || chosen_executor == from;
  if (known_executor && view.executor == from) return Status::ok();
  return permission_denied(who(from) + " is neither a holder of job " + view.job_id.short_hex() +
                           " nor the executor of its attempt " + std::to_string(view.attempt));
}

Status check_peer_cancel(const JobParties& job, const NodeId& from) {
  if (is_holder(job, from)) return Status::ok();
  return permission_denied(who(from) + " may not cancel a job it does not hold");
}

bool job_id_matches_spec(const JobId& id, const JobSpec& spec) {
  auto bytes = encode_job_spec(spec);
  if (!bytes) return false;
  JobId::Bytes hash{};
  crypto_generichash(hash.data(), hash.size(), bytes->data(), bytes->size(), nullptr, 0);
  return std::equal(hash.begin(), hash.end(), id.span().begin());
}

Status check_reserve(const NodeId& from, const JobId& job_id, const JobSpec& spec, const NodeId& origin,
                     const std::vector<NodeId>& replicas) {
  if (from != origin && !contains(replicas, from)) {
    return permission_denied(who(from) + " asked for a reservation of job " + job_id.short_hex() +
                             " without being its origin or a replica");
  }
  if (!job_id_matches_spec(job_id, spec)) {
    return permission_denied("job id " + job_id.short_hex() + " is not the hash of the spec sent with it");
  }
  return Status::ok();
}

Status check_chosen(const JobParties& job, const consensus::InstanceSpec& instance) {
  std::set<NodeId> ours(job.replicas.begin(), job.replicas.end());
  std::set<NodeId> theirs(instance.replicas.begin(), instance.replicas.end());
  if (instance.origin != job.origin || ours != theirs) {
    return permission_denied("the instance of job " + instance.key.job.short_hex() + " attempt " +
                             std::to_string(instance.key.attempt.value) +
                             " names another origin or replica set than the job record");
  }
  return Status::ok();
}

bool client_is_admin(const NodeConfig& config, const NodeId& client) { return contains(config.admin_keys, client); }

Status check_client_access(const NodeConfig& config, const NodeId& client, const std::optional<NodeId>& submitter,
                           const JobId& job) {
  if (client_is_admin(config, client) || submitter == client) return Status::ok();
  return permission_denied("job " + job.short_hex() +
                           " was submitted by another key; only its submitter or an admin key ([client] "
                           "admin_keys) may read or cancel it");
}

Status check_operator_accepted(const NodeConfig& config, const std::string& operator_name) {
  const auto& accepted = config.jobs_accept_operators;
  if (accepted.empty() || std::find(accepted.begin(), accepted.end(), operator_name) != accepted.end()) {
    return Status::ok();
  }
  return permission_denied("this node does not run jobs of operator \"" + operator_name +
                           "\" ([jobs] accept_operators)");
}

}  // namespace polder::node

// ---- JobManager's checks ---------------------------------------------------
// Kept here, beside the rules, so jobs.cc only calls them at the top of its
// handlers.

#include <spdlog/spdlog.h>

#include "node/jobs.h"
#include "node/record_verifier.h"

namespace polder::node {

std::optional<JobParties> JobManager::parties_of(const JobId& job, std::uint64_t reservation) const {
  if (auto it = jobs_.find(job); it != jobs_.end()) {
    const Record& r = it->second;
    return JobParties{r.origin, r.replicas, r.view.attempt, r.view.executor};
  }
  // Executor side before the decision: what the reservation request said.
  for (const auto& [id, run] : pending_runs_) {
    if (run.job == job && (reservation == 0 || id == reservation)) {
      return JobParties{run.origin, run.replicas, run.attempt, d_.self};
    }
  }
  return std::nullopt;
}

bool JobManager::peer_may_update(const NodeId& from, const JobView& view) {
  if (from == d_.self) return true;
  auto parties = parties_of(view.job_id);
  if (!parties) return true;  // apply_update ignores jobs this node does not hold
  std::optional<NodeId> chosen_executor;
  if (const auto* inst = d_.consensus->instance({view.job_id, Attempt{view.attempt}})) {
    if (inst->learner.chosen() && inst->learner.chosen()->is_run()) chosen_executor = inst->learner.chosen()->executor;
  }
  Status s = check_peer_update(*parties, from, view, chosen_executor);
  if (s.is_ok()) return true;
  ++counters_.unauthorized;
  spdlog::warn("job {}: refused an update: {}", view.job_id.short_hex(), s.message());
  return false;
}

bool JobManager::peer_may_cancel(const NodeId& from, const JobId& job) {
  if (from == d_.self) return true;
  auto parties = parties_of(job);
  Status s = parties ? check_peer_cancel(*parties, from)
                     : permission_denied("node " + from.short_hex() + " cancelled a job this node does not hold");
  if (s.is_ok()) return true;
  ++counters_.unauthorized;
  spdlog::warn("job {}: refused a cancel: {}", job.short_hex(), s.message());
  return false;
}

Status JobManager::reserve_allowed(const NodeId& from, const JobMessage& m) const {
  POLDER_RETURN_IF_ERROR(check_reserve(from, *m.job_id, *m.spec, *m.origin, m.replicas));
  std::string origin_operator = d_.config->operator_name;
  if (*m.origin != d_.self) {
    auto member = d_.gossip->member(*m.origin);
    if (!member || !member->record) return permission_denied("the job's origin has no gossiped record here yet");
    const NodeRecord* record = opened_record(*m.origin, member->record);
    if (!record) return permission_denied("the job's origin has an unreadable record");
    origin_operator = record->operator_name;
  }
  return check_operator_accepted(*d_.config, origin_operator);
}

bool JobManager::chosen_allowed(const consensus::ChosenEvent& chosen) {
  const auto* inst = d_.consensus->instance(chosen.key);
  if (!inst) return true;  // nothing to compare (forgotten instance): the record checks below still apply
  auto parties = parties_of(chosen.key.job, chosen.value.is_run() ? chosen.value.reservation : 0);
  if (!parties) return true;  // this node holds nothing of the job: nothing changes
  Status s = check_chosen(*parties, inst->spec);
  if (s.is_ok()) return true;
  ++counters_.unauthorized;
  spdlog::warn("job {}: ignored a chosen value: {}", chosen.key.job.short_hex(), s.message());
  return false;
}

Status JobManager::client_may_cancel(const NodeId& client, const JobId& job) const {
  auto it = jobs_.find(job);
  if (it == jobs_.end()) {
    return failed_precondition("node " + d_.config->name + " does not hold job " + job.short_hex() +
                               "; cancel it at its origin or one of its replicas (polder status shows the origin)");
  }
  return check_client_access(*d_.config, client, it->second.spec.submitter, job);
}

Status JobManager::client_within_quota(const NodeId& client) const {
  const std::uint64_t max = d_.config->limits_client_jobs_max;
  if (max == 0) return Status::ok();
  auto it = open_by_client_.find(client);  // kept by count_open(), no scan
  const std::uint64_t open = it == open_by_client_.end() ? 0 : it->second;
  if (open < max) return Status::ok();
  return resource_exhausted("this key has " + std::to_string(open) + " unfinished job(s) submitted at " +
                            d_.config->name + " (limits.client_jobs_max = " + std::to_string(max) +
                            "); wait for some to finish or cancel them");
}

// A member can make this node store job records only as their origin
// (on_replicate checks it): at most peer_jobs_max unfinished ones at once.
Status JobManager::peer_within_quota(const NodeId& origin) const {
  const std::uint64_t max = d_.config->limits_peer_jobs_max;
  if (max == 0) return Status::ok();
  auto it = open_by_origin_.find(origin);  // kept by count_open(), no scan
  const std::uint64_t open = it == open_by_origin_.end() ? 0 : it->second;
  if (open < max) return Status::ok();
  return resource_exhausted("member " + origin.short_hex() + " has " + std::to_string(open) +
                            " unfinished job(s) held at " + d_.config->name +
                            " (limits.peer_jobs_max = " + std::to_string(max) + ")");
}

bool JobManager::client_may_read(const PendingClient& p, const JobView& view) const {
  return check_client_access(*d_.config, p.client_key, view.submitter, view.job_id).is_ok();
}

}  // namespace polder::node
