// SWIM failure detection (Das et al. section 3) with Lifeguard's local
// health (Dadgar et al. section 4.1): direct probe, indirect probes through
// k members with nacks, suspicion when nothing came back by the deadline.
#include <algorithm>
#include <cassert>

#include "gossip/gossip_core.h"

namespace polder::gossip {
namespace {

constexpr std::size_t kRelaysMax = 64;

}  // namespace

void GossipCore::probe_tick(std::int64_t now_us) {
  if (now_us < next_probe_us_) return;
  // Lifeguard: a node that is unhealthy itself probes less often.
  Duration interval = awareness_.scale(options_.config.probe_interval);
  if (vivaldi_.updates() < options_.config.vivaldi.fast_start_samples) interval /= 2;
  next_probe_us_ = now_us + to_us(interval);
  if (probes_.size() >= options_.config.probes_in_flight_max) return;
  std::uint32_t slot = MemberTable::kNone;
  if (next_probe_target(slot)) start_probe(slot, now_us);
}

// Round-robin over a shuffled list (SWIM section 4.3): every member is
// probed once per round, in a fresh random order each round.
bool GossipCore::next_probe_target(std::uint32_t& slot) {
  for (std::size_t tries = 0; tries <= probe_order_.size() + 1; ++tries) {  // bounded
    if (probe_position_ >= probe_order_.size()) {
      rebuild_probe_order();
      if (probe_order_.empty()) return false;
    }
    const std::uint32_t s = probe_order_[probe_position_++];
    if (!table_.in_use(s) || s == self_slot_) continue;
    const Member& m = table_.at(s);
    if (m.state != MemberState::kAlive && m.state != MemberState::kSuspect) continue;
    const bool probing = std::any_of(probes_.begin(), probes_.end(), [&](const Probe& p) { return p.target == m.id; });
    if (probing) continue;
    slot = s;
    return true;
  }
  return false;
}

void GossipCore::rebuild_probe_order() {
  probe_order_.clear();
  for (std::uint32_t s = 0; s < table_.slot_count(); ++s) {
    if (!table_.in_use(s) || s == self_slot_) continue;
    const MemberState state = table_.at(s).state;
    if (state == MemberState::kAlive || state == MemberState::kSuspect) probe_order_.push_back(s);
  }
  for (std::size_t i = probe_order_.size(); i > 1; --i) {  // Fisher-Yates
    std::swap(probe_order_[i - 1], probe_order_[rng_.uniform(i)]);
  }
  probe_position_ = 0;
}

// Adaptive: a small multiple of the Vivaldi RTT estimate, once the
// coordinates are trustworthy; the configured timeout otherwise.
Duration GossipCore::probe_timeout_for(std::uint32_t slot) const {
  const auto& c = options_.config;
  const Coordinate& own = vivaldi_.coordinate();
  const CompactCoordinate& theirs = table_.coordinate(slot);
  if (!theirs.known() || own.error > 0.5F) return c.probe_timeout;
  const Coordinate other = theirs.expand();
  if (other.error > 0.5F) return c.probe_timeout;
  const double rtt_ms = vivaldi_distance_ms(own, other);
  const auto timeout = Duration(static_cast<std::int64_t>(rtt_ms * c.probe_timeout_rtt_factor * 1000.0));
  return std::clamp(timeout, c.probe_timeout_min, c.probe_timeout);
}

void GossipCore::start_probe(std::uint32_t slot, std::int64_t now_us) {
  const Member& m = table_.at(slot);
  Probe p;
  p.target = m.id;
  p.seq = next_seq_++;
  p.started_us = now_us;
  const std::int64_t deadline_us = to_us(awareness_.scale(options_.config.probe_deadline));
  const std::int64_t timeout_us = to_us(awareness_.scale(probe_timeout_for(slot)));
  p.deadline_us = now_us + deadline_us;
  p.retry_at_us = std::min(now_us + timeout_us, p.deadline_us - 1);
  p.indirect_at_us = p.retry_at_us;
  if (options_.config.retry_before_indirect) {
    // The retry by a third of the deadline, the others asked a timeout
    // later but by half of it: the relayed round trip (requester, helper,
    // target and back, plus the helper's nack) fits in the second half.
    p.retry_at_us = now_us + std::min(timeout_us, deadline_us / 3);
    p.indirect_at_us = std::max(p.retry_at_us, now_us + std::min(2 * timeout_us, deadline_us / 2));
  }
  Message message{Ping{p.seq, vivaldi_.coordinate()}, {}};
  // Lifeguard: tell a suspect it is suspected, so it can refute at once.
  if (m.state == MemberState::kSuspect) message.updates.push_back(update_for(m));
  piggyback(message, m.id);
  send(m.id, std::move(message));
  probes_.push_back(p);
  ++counters_.probes;
}

void GossipCore::expire_probes(std::int64_t now_us) {
  for (std::size_t i = 0; i < probes_.size();) {  // bounded by probes_in_flight_max
    Probe& p = probes_[i];
    if (!p.indirect_sent && now_us >= p.indirect_at_us) send_indirect(p);
    if (!p.retry_sent && now_us >= p.retry_at_us) send_retry(p);
    if (now_us >= p.deadline_us) {
      const Probe failed = p;
      probes_.erase(probes_.begin() + static_cast<std::ptrdiff_t>(i));
      fail_probe(failed, now_us);
      continue;
    }
    ++i;
  }
}

void GossipCore::send_indirect(Probe& probe) {
  probe.indirect_sent = true;
  ++counters_.probes_indirect;
  const std::vector<std::uint32_t> helpers = random_members(options_.config.indirect_checks, &probe.target);
  for (std::uint32_t slot : helpers) {
    const NodeId helper = table_.at(slot).id;
    Message message{PingReq{probe.seq, probe.target}, {}};
    piggyback(message, helper);
    send(helper, std::move(message));
  }
  probe.nacks_expected = static_cast<std::uint32_t>(helpers.size());
}

// Ping the target once more (memberlist's TCP fallback in spirit): under
// message loss most failed probes are a lost ping or ack, and a second
// direct try makes a false suspicion ~10x rarer for one message. Same seq:
// whichever ack comes back first ends the probe.
void GossipCore::send_retry(Probe& probe) {
  probe.retry_sent = true;
  Message retry{Ping{probe.seq, vivaldi_.coordinate()}, {}};
  send(probe.target, std::move(retry));
}

void GossipCore::fail_probe(const Probe& probe, std::int64_t now_us) {
  // Lifeguard: nacks we should have had and did not get mean our own
  // network or CPU is the problem, so we get slower before we accuse.
  if (probe.nacks_expected > 0) {
    if (probe.nacks < probe.nacks_expected) awareness_.apply_delta(static_cast<int>(probe.nacks_expected - probe.nacks));
  } else {
    awareness_.apply_delta(1);
  }
  const std::uint32_t slot = table_.find(probe.target);
  if (slot == MemberTable::kNone) return;
  const Member& m = table_.at(slot);
  if (m.state != MemberState::kAlive && m.state != MemberState::kSuspect) return;
  ++counters_.probes_failed;
  if (m.state == MemberState::kAlive) ++counters_.suspicions;
  Update u;
  u.kind = UpdateKind::kSuspect;
  u.node = m.id;
  u.incarnation = m.incarnation;
  u.accuser = id_prefix(self_);
  apply_suspect(u, Via::kGossip, now_us);
  // Tell the suspect directly as well: the path back may work even if acks were lost.
  send(u.node, Message{GossipOnly{}, {u}});
}

void GossipCore::on_ping(const NodeId& from, const Ping& ping) {
  learn_coordinate(from, ping.coordinate);
  Message reply{Ack{ping.seq, vivaldi_.coordinate()}, {}};
  piggyback(reply, from);
  send(from, std::move(reply));
}

void GossipCore::on_ack(const NodeId& from, const Ack& ack, std::int64_t now_us) {
  auto probe = std::find_if(probes_.begin(), probes_.end(), [&](const Probe& p) { return p.seq == ack.seq; });
  if (probe != probes_.end()) {
    // Direct and answering the first ping: an RTT sample for Vivaldi.
    if (from == probe->target && ack.coordinate && !probe->retry_sent) {
      const double rtt_ms = static_cast<double>(now_us - probe->started_us) / 1000.0;
      vivaldi_.observe(*ack.coordinate, rtt_ms, rng_);
      learn_coordinate(from, ack.coordinate);
    }
    awareness_.apply_delta(-1);
    probes_.erase(probe);
    return;
  }
  auto relay = std::find_if(relays_.begin(), relays_.end(), [&](const Relay& r) { return r.seq == ack.seq; });
  if (relay == relays_.end() || from != relay->target) return;  // late or unknown: ignore
  if (ack.coordinate) {
    // The relay's own ping and this ack are a round trip like any other:
    // one more Vivaldi sample for free.
    const double rtt_ms = static_cast<double>(now_us - relay->started_us) / 1000.0;
    vivaldi_.observe(*ack.coordinate, rtt_ms, rng_);
    learn_coordinate(from, ack.coordinate);
  }
  const NodeId requester = relay->requester;
  Message forward{Ack{relay->requester_seq, std::nullopt}, {}};
  relays_.erase(relay);
  piggyback(forward, requester);
  send(requester, std::move(forward));
}

void GossipCore::on_nack(const Nack& nack) {
  for (Probe& p : probes_) {
    if (p.seq == nack.seq && p.nacks < p.nacks_expected) ++p.nacks;
  }
}

void GossipCore::on_ping_req(const NodeId& from, const PingReq& req, std::int64_t now_us) {
  if (req.target == self_) {  // asked to probe ourselves: just answer
    Message reply{Ack{req.seq, vivaldi_.coordinate()}, {}};
    send(from, std::move(reply));
    return;
  }
  if (relays_.size() >= kRelaysMax) relays_.erase(relays_.begin());  // bounded: drop the oldest
  const auto& c = options_.config;
  Relay relay;
  relay.seq = next_seq_++;
  relay.target = req.target;
  relay.requester = from;
  relay.requester_seq = req.seq;
  relay.started_us = now_us;
  // Nack halfway through the requester's remaining window, so it arrives
  // before the requester's deadline.
  relay.nack_at_us = now_us + to_us(c.probe_deadline - c.probe_timeout) / 2;
  relay.expire_us = now_us + to_us(c.probe_deadline);
  relays_.push_back(relay);
  Message ping{Ping{relay.seq, vivaldi_.coordinate()}, {}};
  piggyback(ping, req.target);
  send(req.target, std::move(ping));
}

void GossipCore::expire_relays(std::int64_t now_us) {
  for (std::size_t i = 0; i < relays_.size();) {  // bounded by kRelaysMax
    Relay& r = relays_[i];
    if (!r.nacked && now_us >= r.nack_at_us) {
      r.nacked = true;
      send(r.requester, Message{Nack{r.requester_seq}, {}});
    }
    if (now_us >= r.expire_us) {
      relays_.erase(relays_.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    ++i;
  }
}

void GossipCore::learn_coordinate(const NodeId& from, const std::optional<Coordinate>& c) {
  if (!c || !vivaldi_is_valid(*c)) return;
  const std::uint32_t slot = table_.find(from);
  if (slot != MemberTable::kNone && slot != self_slot_) table_.coordinate(slot) = CompactCoordinate::from(*c);
}

// A member that hears of a new suspicion probes the suspect itself with
// probability fanout / n: about `fanout` independent confirmations (or
// refutations) arrive within one probe deadline instead of one per period.
void GossipCore::maybe_probe_suspect(std::uint32_t slot, std::int64_t now_us) {
  const double fanout = options_.config.suspicion_probe_fanout;
  if (fanout <= 0 || leaving_ || probes_.size() >= options_.config.probes_in_flight_max) return;
  const double p = std::min(1.0, fanout / static_cast<double>(std::max<std::size_t>(alive_, 1)));
  if (!rng_.chance(p)) return;
  const NodeId& target = table_.at(slot).id;
  const bool probing = std::any_of(probes_.begin(), probes_.end(), [&](const Probe& pr) { return pr.target == target; });
  if (!probing) start_probe(slot, now_us);
}

}  // namespace polder::gossip
