#include "consensus/learner.h"

#include <algorithm>

namespace polder::consensus {

bool VoteTally::add(const ReplicaSet& replicas, const NodeId& voter) {
  // A node outside the replica set cannot vote (DESIGN.md invariant 5).
  if (!is_member(replicas, voter) || has(voter)) return false;
  voters_.push_back(voter);
  return true;
}

bool VoteTally::has(const NodeId& voter) const {
  return std::find(voters_.begin(), voters_.end(), voter) != voters_.end();
}

Learner::Learn Learner::learn(const Value& value) {
  if (!chosen_) {
    chosen_ = value;
    return Learn::kNew;
  }
  return *chosen_ == value ? Learn::kSame : Learn::kConflict;
}

}  // namespace polder::consensus
