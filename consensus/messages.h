// The messages of single-decree Paxos, as plain values (decoded once in
// consensus/wire.cc; nothing here can throw). Names follow the paper:
// Prepare (1a), Promise (1b), Accept (2a), Accepted (2b); Reject is the
// acceptor's "I promised higher" hint, Chosen the learners' announcement.
#pragma once

#include <optional>
#include <variant>

#include "consensus/ballot.h"
#include "consensus/value.h"

namespace polder::consensus {

// Phase 1a: "promise not to accept ballots below `ballot`".
struct Prepare {
  InstanceSpec spec;
  Ballot ballot;
};

// Phase 1b: the acceptor promised `ballot` and reports its highest accepted
// proposal, if any, so the proposer adopts it.
struct Promise {
  InstanceKey key;
  Ballot ballot;
  std::optional<Ballot> accepted_ballot;
  std::optional<Value> accepted_value;  // set iff accepted_ballot is
};

// Phase 2a: "accept `value` at `ballot`".
struct Accept {
  InstanceSpec spec;
  Ballot ballot;
  Value value;
};

// Phase 2b: the acceptor accepted `ballot` (durably, before this left).
struct Accepted {
  InstanceKey key;
  Ballot ballot;
};

// The acceptor refused `ballot`: it already promised `promised` (higher).
struct Reject {
  InstanceKey key;
  Ballot ballot;
  Ballot promised;
};

// `value` is chosen for the instance. Final.
struct Chosen {
  InstanceSpec spec;
  Value value;
};

// The executor named in the chosen value has learned it.
struct ChosenAck {
  InstanceKey key;
};

// "What is chosen for this instance?" Answered with Chosen when known.
struct Query {
  InstanceSpec spec;
};

using Message = std::variant<Prepare, Promise, Accept, Accepted, Reject, Chosen, ChosenAck, Query>;

// The instance a message is about.
const InstanceKey& message_key(const Message& message);
const char* message_name(const Message& message);

}  // namespace polder::consensus
