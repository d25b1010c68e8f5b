// Learner: finds out that a value is chosen (Lamport, "Paxos Made Simple",
// §2.3). A value is chosen when a majority of the instance's replica set
// accepted the same ballot. Votes are counted per ballot, only from members
// of the replica set, each member once (duplicated or replayed Accepted
// messages never add up to a false majority). Once a value is learned it
// never changes: a second, different value is reported as a conflict, which
// can only mean a broken peer or a bug, and is never adopted.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "consensus/ballot.h"
#include "consensus/replica_set.h"
#include "consensus/value.h"

namespace polder::consensus {

// Votes for one ballot. Bounded by the replica set (kReplicasMax).
class VoteTally {
 public:
  VoteTally() = default;
  explicit VoteTally(const Ballot& ballot) : ballot_(ballot) {}

  const Ballot& ballot() const { return ballot_; }
  // Counts `voter` once; false when it is not a member or already counted.
  bool add(const ReplicaSet& replicas, const NodeId& voter);
  bool has(const NodeId& voter) const;
  std::size_t count() const { return voters_.size(); }
  bool has_majority(const ReplicaSet& replicas) const { return voters_.size() >= majority(replicas.size()); }

 private:
  Ballot ballot_;
  std::vector<NodeId> voters_;
};

class Learner {
 public:
  enum class Learn { kNew, kSame, kConflict };

  // Records that `value` is chosen.
  Learn learn(const Value& value);
  const std::optional<Value>& chosen() const { return chosen_; }
  bool decided() const { return chosen_.has_value(); }

 private:
  std::optional<Value> chosen_;
};

}  // namespace polder::consensus
