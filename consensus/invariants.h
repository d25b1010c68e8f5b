// Invariant checkers for the consensus core (STYLE.md habit 14). The tests
// call them after every step and the simulator after every event; a
// non-ok Status names the broken invariant and the instance.
//
//   check_core         one core's internal invariants (acceptor, proposer,
//                      learner, timers) — what must hold after any call.
//   AgreementChecker   across all learners, ever: at most one value chosen
//                      per (job, attempt), and only a value that was
//                      proposed (validity).
//   DurabilityChecker  an acceptor never forgets, across crashes, a promise
//                      or accept it acknowledged (a Promise/Accepted that
//                      reached someone), and its promised ballot never
//                      goes backwards.
// Thread-safety: none; one per simulator run or test.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "consensus/consensus_core.h"
#include "consensus/instance.h"
#include "protocol/status.h"

namespace polder::consensus {

Status check_instance(const Instance& inst, const NodeId& self);
Status check_core(const ConsensusCore& core);

class AgreementChecker {
 public:
  // Records that someone proposed `value` for `key`.
  void proposed(const InstanceKey& key, const Value& value);
  // A learner (`who`, for the message) learned `value` chosen for `key`.
  // Fails when another value was learned for `key` before, or when `value`
  // was never proposed.
  Status learned(const InstanceKey& key, const Value& value, const std::string& who);
  const Value* chosen(const InstanceKey& key) const;
  std::size_t decided_count() const { return chosen_.size(); }

 private:
  std::map<InstanceKey, std::vector<Value>> proposed_;
  std::map<InstanceKey, Value> chosen_;
};

class DurabilityChecker {
 public:
  // `acceptor` sent a Promise (accepted = false) or an Accepted for `ballot`
  // that reached its destination.
  void acknowledged(const NodeId& acceptor, const InstanceKey& key, const Ballot& ballot, bool accepted);
  // What `core` (the acceptor's current life) holds honours every
  // acknowledgement of that acceptor.
  Status check(const ConsensusCore& core) const;
  // Only the acknowledgements of one instance.
  Status check(const ConsensusCore& core, const InstanceKey& key) const;

 private:
  struct Acks {
    std::optional<Ballot> promised_max;
    std::optional<Ballot> accepted_max;
  };
  Status check_one(const ConsensusCore& core, const InstanceKey& key, const Acks& acks) const;
  std::map<std::pair<NodeId, InstanceKey>, Acks> acks_;
};

}  // namespace polder::consensus
