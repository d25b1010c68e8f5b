#include "consensus/invariants.h"

#include <algorithm>

namespace polder::consensus {
namespace {

Status broken(const InstanceKey& key, const NodeId& self, const std::string& what) {
  return internal_error("consensus invariant broken at " + self.short_hex() + " for " + key.to_string() + ": " + what);
}

}  // namespace

Status check_instance(const Instance& inst, const NodeId& self) {
  const InstanceKey& key = inst.spec.key;
  if (!validate_instance_spec(inst.spec).is_ok()) return broken(key, self, "invalid spec");
  if (inst.is_replica != is_member(inst.spec.replicas, self)) return broken(key, self, "is_replica is wrong");
  const AcceptorState& a = inst.acceptor;
  if (a.accepted_ballot.has_value() != a.accepted_value.has_value()) {
    return broken(key, self, "accepted ballot without value or value without ballot");
  }
  if (a.accepted_ballot && (!a.promised || *a.promised < *a.accepted_ballot)) {
    return broken(key, self, "accepted a ballot above the promised one");
  }
  if (a.accepted_ballot && a.accepted_ballot->is_fast() && a.accepted_ballot->node != inst.spec.origin) {
    return broken(key, self, "accepted ballot 0 of a node that is not the origin");
  }
  if ((a.promised || a.accepted_ballot) && !inst.is_replica) return broken(key, self, "a non-replica acceptor voted");
  const Proposer& p = inst.proposer;
  if (inst.decided() && p.active()) return broken(key, self, "a proposer still runs on a decided instance");
  if (p.active() && p.phase() != Proposer::Phase::kBackoff) {
    if (p.ballot().is_fast() ? p.fast_value() == std::nullopt : p.ballot().round > p.round_max()) {
      return broken(key, self, "a ballot in use is not recorded as spent");
    }
    if (p.ballot().node != (p.ballot().is_fast() ? inst.spec.origin : self)) {
      return broken(key, self, "proposing under another node's ballot");
    }
  }
  if (inst.compacted && !inst.decided()) return broken(key, self, "compacted but undecided");
  std::int64_t due = kNoTimer;
  for (std::int64_t t : {inst.proposer_due_us, inst.takeover_due_us, inst.announce_due_us, inst.query_due_us}) {
    if (t != kNoTimer) due = due == kNoTimer ? t : std::min(due, t);
  }
  if (due != inst.timer_us) return broken(key, self, "timer set out of date");
  return Status::ok();
}

Status check_core(const ConsensusCore& core) {
  for (const auto& [key, inst] : core.instances()) {  // bounded by instances_max
    if (key != inst.spec.key) return broken(key, core.self(), "filed under another key");
    POLDER_RETURN_IF_ERROR(check_instance(inst, core.self()));
  }
  if (core.instances().size() > core.options().instances_max) {
    return internal_error("consensus core holds more than instances_max instances");
  }
  if (core.counters().conflicting_chosen != 0) {
    return internal_error("consensus core at " + core.self().short_hex() + " was told two different chosen values");
  }
  return Status::ok();
}

void AgreementChecker::proposed(const InstanceKey& key, const Value& value) {
  auto& values = proposed_[key];
  if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
}

Status AgreementChecker::learned(const InstanceKey& key, const Value& value, const std::string& who) {
  auto p = proposed_.find(key);
  if (p == proposed_.end() || std::find(p->second.begin(), p->second.end(), value) == p->second.end()) {
    return internal_error("validity: " + who + " learned " + value.to_string() + " for " + key.to_string() +
                          ", which nobody proposed");
  }
  auto [it, inserted] = chosen_.try_emplace(key, value);
  if (!inserted && it->second != value) {
    return internal_error("agreement: " + who + " learned " + value.to_string() + " for " + key.to_string() +
                          " but " + it->second.to_string() + " was chosen before");
  }
  return Status::ok();
}

const Value* AgreementChecker::chosen(const InstanceKey& key) const {
  auto it = chosen_.find(key);
  return it == chosen_.end() ? nullptr : &it->second;
}

void DurabilityChecker::acknowledged(const NodeId& acceptor, const InstanceKey& key, const Ballot& ballot,
                                     bool accepted) {
  Acks& acks = acks_[{acceptor, key}];
  auto& slot = accepted ? acks.accepted_max : acks.promised_max;
  if (!slot || *slot < ballot) slot = ballot;
}

Status DurabilityChecker::check_one(const ConsensusCore& core, const InstanceKey& key, const Acks& acks) const {
  const Instance* inst = core.instance(key);
  if (inst == nullptr) return broken(key, core.self(), "durability: an acknowledged instance was forgotten");
  if (inst->decided()) return Status::ok();  // a decision answers every later request with Chosen
  const AcceptorState& a = inst->acceptor;
  std::optional<Ballot> need = acks.promised_max;
  if (acks.accepted_max && (!need || *need < *acks.accepted_max)) need = acks.accepted_max;
  if (need && (!a.promised || *a.promised < *need)) {
    return broken(key, core.self(), "durability: promised " + (a.promised ? a.promised->to_string() : "nothing") +
                                        " after acknowledging " + need->to_string());
  }
  if (acks.accepted_max && (!a.accepted_ballot || *a.accepted_ballot < *acks.accepted_max)) {
    return broken(key, core.self(), "durability: lost an accepted proposal it acknowledged (" +
                                        acks.accepted_max->to_string() + ")");
  }
  return Status::ok();
}

Status DurabilityChecker::check(const ConsensusCore& core) const {
  for (auto it = acks_.lower_bound({core.self(), InstanceKey{}});
       it != acks_.end() && it->first.first == core.self(); ++it) {  // bounded by acks of this node
    POLDER_RETURN_IF_ERROR(check_one(core, it->first.second, it->second));
  }
  return Status::ok();
}

Status DurabilityChecker::check(const ConsensusCore& core, const InstanceKey& key) const {
  auto it = acks_.find({core.self(), key});
  return it == acks_.end() ? Status::ok() : check_one(core, key, it->second);
}

}  // namespace polder::consensus
