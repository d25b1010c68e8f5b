#include "consensus/proposer.h"

#include <algorithm>
#include <cassert>

namespace polder::consensus {

void Proposer::restore(std::uint64_t round_max, std::optional<Value> fast_value) {
  round_max_ = round_max;
  round_seen_ = std::max(round_seen_, round_max);
  fast_value_ = std::move(fast_value);
}

void Proposer::start_fast(const NodeId& origin) {
  assert(can_use_fast() && own_value_);
  ballot_ = Ballot::fast(origin);
  value_ = own_value_;
  fast_value_ = own_value_;
  phase_ = Phase::kAccepting;
  accepts_ = VoteTally(ballot_);
  rejects_ = VoteTally(ballot_);
  ++ballots_tried_;
}

Ballot Proposer::start_prepare(const NodeId& self) {
  assert(own_value_);
  const std::uint64_t round = std::max(round_max_, round_seen_) + 1;
  assert(round > round_max_ && "a proposer never reuses a round");
  round_max_ = round;
  ballot_ = Ballot{round, self};
  phase_ = Phase::kPreparing;
  value_.reset();
  promises_ = VoteTally(ballot_);
  rejects_ = VoteTally(ballot_);
  best_accepted_ballot_.reset();
  best_accepted_value_.reset();
  ++ballots_tried_;
  return ballot_;
}

bool Proposer::on_promise(const ReplicaSet& replicas, const NodeId& from, const Promise& promise) {
  if (phase_ != Phase::kPreparing || promise.ballot != ballot_) return false;  // stale or duplicate
  if (!promises_.add(replicas, from)) return false;
  if (promise.accepted_ballot && (!best_accepted_ballot_ || *best_accepted_ballot_ < *promise.accepted_ballot)) {
    best_accepted_ballot_ = promise.accepted_ballot;
    best_accepted_value_ = promise.accepted_value;
  }
  if (!promises_.has_majority(replicas)) return false;
  // Paxos' rule: a value possibly chosen at a lower ballot is in the highest
  // accepted proposal any majority reports; only if none, our own is free.
  value_ = best_accepted_value_ ? best_accepted_value_ : own_value_;
  phase_ = Phase::kAccepting;
  accepts_ = VoteTally(ballot_);
  return true;
}

bool Proposer::on_accepted(const ReplicaSet& replicas, const NodeId& from, const Accepted& accepted) {
  if (phase_ != Phase::kAccepting || accepted.ballot != ballot_) return false;
  if (!accepts_.add(replicas, from)) return false;
  return accepts_.has_majority(replicas);
}

bool Proposer::on_reject(const ReplicaSet& replicas, const NodeId& from, const Reject& reject) {
  observe_round(reject.promised.round);
  if ((phase_ != Phase::kPreparing && phase_ != Phase::kAccepting) || reject.ballot != ballot_) return false;
  if (!rejects_.add(replicas, from)) return false;
  // Lost once more acceptors refused than could still be spared.
  return rejects_.count() > replicas.size() - majority(replicas.size());
}

bool Proposer::answered(const NodeId& voter) const {
  if (rejects_.has(voter)) return true;
  if (phase_ == Phase::kPreparing) return promises_.has(voter);
  if (phase_ == Phase::kAccepting) return accepts_.has(voter);
  return false;
}

void Proposer::back_off() {
  phase_ = Phase::kBackoff;
  ++failures_;
}

}  // namespace polder::consensus
