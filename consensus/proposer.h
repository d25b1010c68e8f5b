// Proposer: drives one instance towards a decision (Lamport, "Paxos Made
// Simple", §2.2). Any replica may propose; there is no leader.
//
//   fast path   the origin, on its first proposal, sends Accept at ballot 0
//               directly: no lower ballot exists, so phase 1 has nothing to
//               learn. Uncontended, a decision takes one round trip.
//   phase 1     everyone else (and the origin after a failed fast attempt)
//               picks a round above every round seen, gathers Promises from
//               a majority and adopts the value of the highest accepted
//               ballot among them, else its own value.
//   phase 2     sends Accept; a majority of Accepted means chosen.
//   backoff     a proposer that lost a duel (a majority rejected it, or its
//               phase timed out after some acceptor rejected it) waits a
//               randomised time before trying a higher round, so duels end
//               (the caller draws the delay). A phase that timed out with
//               no Reject is retransmitted at the same ballot instead: only
//               messages were lost or slow, and a new round would only
//               start a duel with itself (and throw away the late replies).
//
// One ballot never carries two values: round_max is persisted by the
// caller before the first Accept of a round leaves, and the use of ballot
// 0, with its value, before its Accept leaves (ProposerRecord). A Prepare
// may leave before its round is durable; a restarted proposer may then
// send a Prepare of that round again, which is harmless since no Accept of
// it was ever sent.
//
// Pure state: timers and sends are the caller's (ConsensusCore).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "consensus/ballot.h"
#include "consensus/learner.h"
#include "consensus/messages.h"
#include "consensus/value.h"

namespace polder::consensus {

class Proposer {
 public:
  enum class Phase : std::uint8_t { kIdle, kPreparing, kAccepting, kBackoff };

  Phase phase() const { return phase_; }
  bool active() const { return phase_ != Phase::kIdle; }
  const Ballot& ballot() const { return ballot_; }
  // The value being proposed in phase 2 (kAccepting only).
  const Value& value() const { return *value_; }
  const std::optional<Value>& own_value() const { return own_value_; }
  std::uint64_t round_max() const { return round_max_; }
  const std::optional<Value>& fast_value() const { return fast_value_; }
  std::uint32_t failures() const { return failures_; }
  std::uint32_t ballots_tried() const { return ballots_tried_; }

  // Restores what a previous life persisted.
  void restore(std::uint64_t round_max, std::optional<Value> fast_value);
  void set_own_value(const Value& value) { own_value_ = value; }

  // The fast ballot is usable once per instance, by the origin, first.
  bool can_use_fast() const { return round_max_ == 0 && !fast_value_; }
  // Phase 2 at ballot 0 with the own value. Precondition: can_use_fast()
  // and an own value is set.
  void start_fast(const NodeId& origin);
  // Phase 1 at a fresh round above every round seen. Returns the ballot.
  // Precondition: an own value is set.
  Ballot start_prepare(const NodeId& self);
  // A round some acceptor promised: the next ballot must beat it.
  void observe_round(std::uint64_t round) { round_seen_ = round > round_seen_ ? round : round_seen_; }

  // True when this Promise completes a majority: the proposer moved to
  // phase 2 with the value Paxos dictates (value()).
  bool on_promise(const ReplicaSet& replicas, const NodeId& from, const Promise& promise);
  // True when this Accepted completes a majority: value() is chosen.
  bool on_accepted(const ReplicaSet& replicas, const NodeId& from, const Accepted& accepted);
  // True when this Reject leaves no majority for the ballot: back off.
  bool on_reject(const ReplicaSet& replicas, const NodeId& from, const Reject& reject);

  // Phase 1 or 2 is running and `voter` answered its ballot (a Promise or
  // Accepted counted, or a Reject): a retransmission skips it.
  bool answered(const NodeId& voter) const;
  // An acceptor refused the running ballot: it promised higher, so only a
  // new round can win it (a retransmission of this ballot cannot).
  bool rejected() const { return rejects_.count() > 0; }

  void back_off();
  // Waits before the first phase 1 (the caller's timer ends it) without
  // counting a lost ballot: a non-origin lets the origin's fast ballot go first.
  void defer() { phase_ = Phase::kBackoff; }
  void stop() { phase_ = Phase::kIdle; }

 private:
  Phase phase_ = Phase::kIdle;
  Ballot ballot_;
  std::optional<Value> value_;      // phase-2 value
  std::optional<Value> own_value_;  // what this node wants if nothing was accepted
  std::uint64_t round_max_ = 0;     // persisted: highest round used
  std::uint64_t round_seen_ = 0;    // highest round seen in promises and rejects
  std::optional<Value> fast_value_; // persisted: value sent at ballot 0
  std::uint32_t failures_ = 0;      // consecutive lost ballots: scales the backoff
  std::uint32_t ballots_tried_ = 0;
  VoteTally promises_;
  std::optional<Ballot> best_accepted_ballot_;
  std::optional<Value> best_accepted_value_;
  VoteTally accepts_;
  VoteTally rejects_;
};

}  // namespace polder::consensus
