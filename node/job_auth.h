// Who may do what to a job (issue 8): the authorisation rules of the job
// protocol, as pure functions of what a node holds about a job and the key
// that authenticated a message (the transport's ZAP User-Id, never a claim
// inside the message). JobManager calls them at the top of its handlers;
// a refusal changes no state and is counted (JobCounters::unauthorized).
//
// The rules:
//  - A job's *holders* are its origin and its replica set. They and the
//    executor of an attempt are the only peers whose word about the job
//    counts: an update (kUpdate, or the answer to a holder's poll) is taken
//    from a holder, or from the executor of the view's attempt about its own
//    attempt (the executor is known from the job record or from the chosen
//    consensus value of that attempt).
//  - A cancel from a peer (kCancelJob) is taken from a holder only.
//  - A reservation (kReserve) is granted only to the origin or a replica the
//    request itself names, and only for a job whose id is the hash of its
//    spec: nobody can reserve under another job's id.
//  - A chosen value starts or changes a job only when the instance's replica
//    set and origin are the job's.
//  - A client reads and cancels the jobs it submitted; an admin key
//    ([client] admin_keys) reads and cancels every job.
//  - A node executes only jobs of the operators it accepts
//    ([jobs] accept_operators, empty = all).
//
// Thread-safety: pure functions, no shared state.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "consensus/value.h"
#include "node/config.h"
#include "protocol/messages.h"
#include "protocol/status.h"

namespace polder::node {

// What a node knows about the parties of a job.
struct JobParties {
  NodeId origin;
  std::vector<NodeId> replicas;
  std::uint32_t attempt = 0;         // the attempt the record is at
  std::optional<NodeId> executor;    // of that attempt, when placed
};

bool is_holder(const JobParties& job, const NodeId& key);

// An update (or poll answer) `view` from `from`. `chosen_executor` is the
// executor of view.attempt as this node's consensus core learned it chosen.
Status check_peer_update(const JobParties& job, const NodeId& from, const JobView& view,
                         const std::optional<NodeId>& chosen_executor);
Status check_peer_cancel(const JobParties& job, const NodeId& from);
// kReserve from `from` naming `origin` and `replicas` for `job_id` with `spec`.
Status check_reserve(const NodeId& from, const JobId& job_id, const JobSpec& spec, const NodeId& origin,
                     const std::vector<NodeId>& replicas);
// The chosen instance's parties against the job's.
Status check_chosen(const JobParties& job, const consensus::InstanceSpec& instance);
// True when `id` is the BLAKE2b-256 hash of the encoded spec (as the origin names jobs).
bool job_id_matches_spec(const JobId& id, const JobSpec& spec);

bool client_is_admin(const NodeConfig& config, const NodeId& client);
// May `client` read or cancel a job submitted by `submitter`?
Status check_client_access(const NodeConfig& config, const NodeId& client, const std::optional<NodeId>& submitter,
                           const JobId& job);
// Does this node run jobs whose origin belongs to `operator_name`?
Status check_operator_accepted(const NodeConfig& config, const std::string& operator_name);

}  // namespace polder::node
