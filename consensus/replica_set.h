// Replica sets: the few nodes (3 by default, 5 configurable) that run the
// Paxos instance of one (job, attempt). Chosen by rendezvous (highest random
// weight) hashing over the member list, so every node that knows the same
// members computes the same set, and a member joining or leaving moves only
// the jobs it wins or loses. The set is written into the job record and
// carried in every instance message; it never changes while an instance runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/ids.h"
#include "protocol/status.h"

namespace polder::consensus {

// Sorted, distinct node ids.
using ReplicaSet = std::vector<NodeId>;

inline constexpr std::size_t kReplicasMin = 1;
inline constexpr std::size_t kReplicasMax = 7;  // bounds every list on the wire
inline constexpr std::size_t kReplicasDefault = 3;

// Votes needed out of `replicas` for a quorum: a strict majority.
constexpr std::size_t majority(std::size_t replicas) { return replicas / 2 + 1; }

// Ok when `replicas` is sorted, has no duplicates, no zero id, and holds
// between kReplicasMin and kReplicasMax nodes.
Status validate_replica_set(const ReplicaSet& replicas);

bool is_member(const ReplicaSet& replicas, const NodeId& node);

// The `count` members with the highest rendezvous score for (job, attempt).
// `members` need not be sorted and may hold duplicates (ignored); the result
// is sorted. Pure: the same inputs give the same set on every node. Fails
// when count is outside [kReplicasMin, kReplicasMax] or exceeds the number
// of distinct members.
Result<ReplicaSet> rendezvous_replica_set(const JobId& job, Attempt attempt, std::span<const NodeId> members,
                                          std::size_t count);

// The score of `node` for (job, attempt): a 64-bit mix of all three.
std::uint64_t rendezvous_score(const JobId& job, Attempt attempt, const NodeId& node);

}  // namespace polder::consensus
