// SWIM's state transitions (Das et al. section 4.2, memberlist's state.go):
// how alive, suspect, dead and left updates change one member, how a node
// refutes a suspicion of itself, and when a suspicion becomes a death.
#include <algorithm>
#include <cassert>
#include <limits>

#include "gossip/gossip_core.h"

namespace polder::gossip {

void GossipCore::apply_updates(const NodeId& from, std::vector<Update>& updates, Via via, std::int64_t now_us) {
  for (Update& u : updates) {  // bounded by the codec's updates_max
    switch (u.kind) {
      case UpdateKind::kAlive:
        apply_alive(u, via, u.node == from, now_us);
        break;
      case UpdateKind::kSuspect:
        apply_suspect(u, via, now_us);
        break;
      case UpdateKind::kDead:
      case UpdateKind::kLeft:
        apply_dead(u, via, now_us);
        break;
    }
  }
}

void GossipCore::apply_alive(Update& u, Via via, bool from_subject, std::int64_t now_us) {
  if (u.node == self_) {
    // Someone holds a newer alive of us than we do (our disk was lost):
    // take a higher incarnation still. Our own record is ours to publish.
    if (u.incarnation > table_.at(self_slot_).incarnation && !leaving_) refute(u.incarnation);
    return;
  }
  const bool regossip = via == Via::kGossip || from_subject;
  std::uint32_t slot = table_.find(u.node);
  if (slot == MemberTable::kNone) {
    if (table_.size() >= options_.config.members_max) return;  // bounded; anti-entropy retries later
    if (options_.admit && !options_.admit(u.node)) {
      ++counters_.members_refused;
      return;
    }
    slot = table_.insert(u.node);
    Member& m = table_.at(slot);
    m.incarnation = u.incarnation;
    m.state = MemberState::kAlive;
    table_.state_change_us(slot) = now_us;
    ++alive_;
    probe_order_.push_back(slot);
    if (!u.record.empty()) apply_record(m, u.record);
    emit(kEventAlive, m);
    if (regossip) broadcast(update_for(m));
    return;
  }
  Member& m = table_.at(slot);
  bool changed = false;
  if (u.incarnation > m.incarnation) {
    m.incarnation = u.incarnation;
    if (m.state != MemberState::kAlive) {
      if (m.state == MemberState::kDead || m.state == MemberState::kLeft) probe_order_.push_back(slot);
      set_state(slot, MemberState::kAlive, now_us);
      emit(kEventAlive, m);
    }
    changed = true;
  }
  const bool record_changed = !u.record.empty() && apply_record(m, u.record);
  if ((changed || record_changed) && regossip) {
    // A new incarnation alone (a refutation) travels without the record,
    // which members already hold: records are most of an update's bytes.
    Update out = update_for(m);
    if (!record_changed) out.record.clear();
    broadcast(std::move(out));
  }
}

// True when `record` replaced the member's record. Every refusal is counted.
bool GossipCore::apply_record(Member& m, const Bytes& record) {
  if (record.size() > options_.config.record_bytes_max) {
    ++counters_.records_oversized;
    return false;
  }
  auto header = options_.verifier->peek(record);
  if (!header) {
    ++counters_.records_unparseable;
    return false;
  }
  if (header->subject != m.id) {
    ++counters_.records_foreign;  // a record about another key than the member it came with
    return false;
  }
  if (m.record && !header->newer_than(m.record->header)) {
    if (m.record->header.newer_than(*header)) ++counters_.records_replayed;  // equal: a duplicate
    return false;
  }
  auto verified = options_.verifier->verify(record, *header);
  if (!verified) {
    ++counters_.records_bad_signature;
    return false;
  }
  assert((*verified)->header.subject == m.id);
  m.record = std::move(*verified);
  ++counters_.records_accepted;
  emit(kEventRecord, m);
  return true;
}

void GossipCore::apply_suspect(const Update& u, Via via, std::int64_t now_us) {
  if (u.node == self_) {
    if (!leaving_) refute(u.incarnation);
    return;
  }
  const std::uint32_t slot = table_.find(u.node);
  if (slot == MemberTable::kNone) return;
  Member& m = table_.at(slot);
  if (m.state == MemberState::kDead || m.state == MemberState::kLeft || u.incarnation < m.incarnation) return;
  if (m.state == MemberState::kSuspect) {
    m.incarnation = std::max(m.incarnation, u.incarnation);
    auto it = suspicions_.find(slot);
    assert(it != suspicions_.end() && "every suspect member has a suspicion timer");
    if (it->second.confirm(u.accuser)) {
      suspicion_wake_dirty_ = true;
      // A confirmation only shortens timers: it needs to reach the few
      // members about to time out, not everyone, so it travels on a third
      // of the budget of news (the suspicion itself keeps its own).
      const std::uint32_t limit = retransmit_limit(options_.config, n());
      if (via == Via::kGossip) broadcast(u, limit - std::max<std::uint32_t>(1, limit / 3));
    }
    return;
  }
  m.incarnation = u.incarnation;
  set_state(slot, MemberState::kSuspect, now_us);
  const std::size_t others = alive_ >= 2 ? alive_ - 2 : 0;  // neither self nor the suspect confirms
  const auto k = static_cast<std::uint32_t>(std::min<std::size_t>(options_.config.suspicion_confirmations, others));
  const std::size_t members = n();
  suspicion_wake_dirty_ = true;
  suspicions_.emplace(slot, Suspicion(u.accuser, k, suspicion_timeout_min(options_.config, members),
                                      suspicion_timeout_max(options_.config, members), instant_from_us(now_us)));
  emit(kEventSuspect, m);
  if (via == Via::kGossip) broadcast(u);
  if (u.accuser != id_prefix(self_)) maybe_probe_suspect(slot, now_us);
}

// Dead and left: both end a member's life; left is announced by the member.
void GossipCore::apply_dead(const Update& u, Via via, std::int64_t now_us) {
  if (u.node == self_) {
    if (!leaving_) refute(u.incarnation);
    return;
  }
  const std::uint32_t slot = table_.find(u.node);
  if (slot == MemberTable::kNone) return;
  Member& m = table_.at(slot);
  if (m.state == MemberState::kDead || m.state == MemberState::kLeft || u.incarnation < m.incarnation) return;
  m.incarnation = u.incarnation;
  const bool left = u.kind == UpdateKind::kLeft;
  set_state(slot, left ? MemberState::kLeft : MemberState::kDead, now_us);
  emit(left ? kEventLeft : kEventDead, m);
  if (via == Via::kGossip) broadcast(u);
}

void GossipCore::refute(std::uint64_t accused_incarnation) {
  Member& me = table_.at(self_slot_);
  if (accused_incarnation < me.incarnation) return;  // already refuted
  me.incarnation = accused_incarnation + 1;
  ++counters_.refutations;
  // Lifeguard 4.1: being suspected hints that we are the slow one.
  awareness_.apply_delta(1);
  persist_incarnation();
  // Refuting changes the incarnation, not the record: send it bare.
  Update u = self_alive_update();
  u.record.clear();
  broadcast(std::move(u));
}

void GossipCore::set_state(std::uint32_t slot, MemberState state, std::int64_t now_us) {
  Member& m = table_.at(slot);
  const bool was_live = m.state == MemberState::kAlive || m.state == MemberState::kSuspect;
  const bool is_live = state == MemberState::kAlive || state == MemberState::kSuspect;
  if (was_live && !is_live) --alive_;
  if (!was_live && is_live) ++alive_;
  if (m.state == MemberState::kSuspect && state != MemberState::kSuspect) {
    suspicions_.erase(slot);
    suspicion_wake_dirty_ = true;
  }
  m.state = state;
  table_.state_change_us(slot) = now_us;
  if (!is_live) reap_queue_.emplace_back(now_us + to_us(options_.config.dead_reap_after), slot);
}

void GossipCore::broadcast(Update update, std::uint32_t transmits_already) {
  const bool own = update.node == self_ || update.accuser == id_prefix(self_);
  if (!broadcasts_.push(std::move(update), transmits_already)) ++counters_.broadcasts_dropped;
  eager_pending_ = true;
  eager_own_pending_ = eager_own_pending_ || own;
}

void GossipCore::declare_dead(std::uint32_t slot, std::int64_t now_us) {
  const Member& m = table_.at(slot);
  Update u;
  u.kind = UpdateKind::kDead;
  u.node = m.id;
  u.incarnation = m.incarnation;
  u.accuser = id_prefix(self_);
  ++counters_.deaths_declared;
  apply_dead(u, Via::kGossip, now_us);
}

// The earliest deadline, recomputed only after suspicions changed: finish()
// asks after every message, and walking a map there costs more than the rest.
std::int64_t GossipCore::suspicion_wake_us() {
  if (suspicion_wake_dirty_) {
    suspicion_wake_us_ = std::numeric_limits<std::int64_t>::max();
    for (const auto& [slot, s] : suspicions_) suspicion_wake_us_ = std::min(suspicion_wake_us_, to_us(s.deadline()));
    suspicion_wake_dirty_ = false;
  }
  return suspicions_.empty() ? std::numeric_limits<std::int64_t>::max() : suspicion_wake_us_;
}

void GossipCore::expire_suspicions(std::int64_t now_us) {
  if (suspicion_wake_us() > now_us) return;
  std::vector<std::uint32_t> expired;
  for (const auto& [slot, suspicion] : suspicions_) {
    if (to_us(suspicion.deadline()) <= now_us) expired.push_back(slot);
  }
  for (std::uint32_t slot : expired) declare_dead(slot, now_us);
}

Effects GossipCore::expel(const NodeId& id, Instant now) {
  now_us_ = std::max(now_us_, to_us(now));
  const std::int64_t now_us = now_us_;
  const std::uint32_t slot = table_.find(id);
  if (slot != MemberTable::kNone && slot != self_slot_) {
    const MemberState state = table_.at(slot).state;
    if (state == MemberState::kAlive || state == MemberState::kSuspect) declare_dead(slot, now_us);
    table_.erase(slot);
    ++counters_.members_expelled;
  }
  return finish(now);
}

void GossipCore::reap(std::int64_t now_us) {
  const std::int64_t after_us = to_us(options_.config.dead_reap_after);
  while (!reap_queue_.empty() && reap_queue_.front().first <= now_us) {  // bounded by the queue
    const std::uint32_t slot = reap_queue_.front().second;
    reap_queue_.pop_front();
    if (!table_.in_use(slot) || slot == self_slot_) continue;
    const Member& m = table_.at(slot);
    const bool gone = m.state == MemberState::kDead || m.state == MemberState::kLeft;
    if (gone && now_us - table_.state_change_us(slot) >= after_us) table_.erase(slot);
  }
}

}  // namespace polder::gossip
