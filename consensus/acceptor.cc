#include "consensus/acceptor.h"

#include <cassert>

namespace polder::consensus {

AcceptorStep Acceptor::on_prepare(AcceptorState& state, const Ballot& ballot) {
  AcceptorStep step;
  if (ballot.is_fast()) return step;  // ballot 0 skips phase 1; a Prepare for it is malformed
  if (state.promised && ballot < *state.promised) {
    step.reply = AcceptorStep::Reply::kReject;
    step.promised = *state.promised;
    return step;
  }
  // A duplicate Prepare arriving after its own Accept: the proposer has
  // moved on, and a Promise reporting the same ballot would be malformed.
  if (state.accepted_ballot && *state.accepted_ballot == ballot) return step;
  step.reply = AcceptorStep::Reply::kPromise;
  step.changed = !state.promised || *state.promised != ballot;
  state.promised = ballot;
  assert(!state.accepted_ballot || *state.accepted_ballot <= *state.promised);
  return step;
}

AcceptorStep Acceptor::on_accept(AcceptorState& state, const Ballot& ballot, const Value& value, bool from_origin,
                                 const NodeId& origin) {
  AcceptorStep step;
  // Ballot 0 belongs to the origin alone: anyone else using it could pair it
  // with a second value.
  if (ballot.is_fast() && (!from_origin || ballot.node != origin)) return step;
  if (state.promised && ballot < *state.promised) {
    step.reply = AcceptorStep::Reply::kReject;
    step.promised = *state.promised;
    return step;
  }
  if (state.accepted_ballot && *state.accepted_ballot == ballot) {
    if (*state.accepted_value != value) return step;  // one ballot, one value: refuse the second
    step.reply = AcceptorStep::Reply::kAccepted;      // duplicate: already durable (or queued before us)
    return step;
  }
  const Ballot promised_before = state.promised.value_or(ballot);
  state.promised = ballot;
  state.accepted_ballot = ballot;
  state.accepted_value = value;
  assert(promised_before <= ballot && "the promised ballot never goes backwards");
  step.reply = AcceptorStep::Reply::kAccepted;
  step.changed = true;
  return step;
}

Promise Acceptor::promise_for(const InstanceKey& key, const Ballot& ballot, const AcceptorState& state) {
  Promise promise{key, ballot, std::nullopt, std::nullopt};
  if (state.accepted_ballot) {
    promise.accepted_ballot = state.accepted_ballot;
    promise.accepted_value = state.accepted_value;
  }
  return promise;
}

}  // namespace polder::consensus
