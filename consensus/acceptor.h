// Acceptor: the memory of Paxos (Lamport, "Paxos Made Simple", §2.2).
//
// Per instance it holds the highest ballot it promised and the highest
// proposal it accepted. It answers a Prepare with a Promise (reporting what
// it accepted) unless it promised higher, and accepts an Accept unless it
// promised higher. Ballot 0 is special (the fast path): it is accepted only
// from the instance's origin, and only while nothing above it was promised.
//
// Pure state transitions: the caller (ConsensusCore) persists the state
// whenever `changed` is set, in the same Effects and before the reply, so a
// reply never promises what a crash could forget.
#pragma once

#include <optional>

#include "consensus/ballot.h"
#include "consensus/messages.h"
#include "consensus/value.h"

namespace polder::consensus {

struct AcceptorState {
  std::optional<Ballot> promised;
  std::optional<Ballot> accepted_ballot;
  std::optional<Value> accepted_value;  // set iff accepted_ballot is

  bool operator==(const AcceptorState&) const = default;
};

// What the acceptor answers to one request.
struct AcceptorStep {
  enum class Reply { kPromise, kAccepted, kReject, kIgnore };
  Reply reply = Reply::kIgnore;
  bool changed = false;  // state must be persisted before the reply leaves
  Ballot promised;       // kReject: the ballot that beat the request
};

class Acceptor {
 public:
  // Phase 1b. Promises `ballot` when it is at least the promised ballot
  // (an equal ballot is a duplicate Prepare: promising again is safe, since
  // nothing above it was accepted). Ballot 0 never needs a Prepare.
  static AcceptorStep on_prepare(AcceptorState& state, const Ballot& ballot);

  // Phase 2b. `from_origin`: the request came from the instance's origin,
  // the only node that may use ballot 0. An Accept at the ballot already
  // accepted but with another value is a broken proposer: ignored.
  static AcceptorStep on_accept(AcceptorState& state, const Ballot& ballot, const Value& value, bool from_origin,
                                const NodeId& origin);

  // The Promise reply for the state after on_prepare.
  static Promise promise_for(const InstanceKey& key, const Ballot& ballot, const AcceptorState& state);
};

}  // namespace polder::consensus
