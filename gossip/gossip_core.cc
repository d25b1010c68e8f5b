// GossipCore: construction, the two entry points, effects plumbing and
// queries. The protocol itself lives in gossip_merge.cc (state transitions),
// gossip_probe.cc (failure detection), gossip_dissemination.cc and
// gossip_antientropy.cc.
#include "gossip/gossip_core.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>


namespace polder::gossip {
namespace {

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

Result<std::uint64_t> stored_incarnation(const DurableRecords& durable) {
  auto it = durable.find({Column::kMeta, kIncarnationKey});
  if (it == durable.end()) return std::uint64_t{0};
  if (it->second.size() != sizeof(std::uint64_t)) {
    return data_loss("stored gossip incarnation is " + std::to_string(it->second.size()) + " bytes, expected 8");
  }
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | it->second[static_cast<std::size_t>(i)];
  return value;
}

}  // namespace

Result<std::unique_ptr<GossipCore>> GossipCore::create(const NodeId& self, GossipOptions options,
                                                       const DurableRecords& durable, std::uint64_t seed) {
  POLDER_RETURN_IF_ERROR(validate_gossip_config(options.config));
  if (!options.verifier) return invalid_argument("a record verifier is required");
  auto stored = stored_incarnation(durable);
  if (!stored) return stored.status();
  if (!options.own_record.empty()) {
    if (options.own_record.size() > options.config.record_bytes_max) {
      return invalid_argument("own record of " + std::to_string(options.own_record.size()) + " bytes exceeds " +
                              std::to_string(options.config.record_bytes_max));
    }
    auto header = options.verifier->peek(options.own_record);
    if (!header) return header.status();
    if (header->subject != self) return permission_denied("own record is about another key");
    auto verified = options.verifier->verify(options.own_record, *header);
    if (!verified) return verified.status();
  }
  // A restart takes a higher incarnation than any it used before, so its
  // alive message beats whatever the federation remembers of its past life.
  const std::uint64_t incarnation = durable.empty() && *stored == 0 ? 0 : *stored + 1;
  return std::make_unique<GossipCore>(ConstructionTag{}, self, std::move(options), incarnation, seed);
}

GossipCore::GossipCore(ConstructionTag, const NodeId& self, GossipOptions options, std::uint64_t incarnation,
                       std::uint64_t seed)
    : self_(self),
      options_(std::move(options)),
      rng_(seed),
      codec_(CodecLimits{options_.config.message_bytes_max, options_.config.record_bytes_max, 1024, 4096, 8}),
      vivaldi_(options_.config.vivaldi),
      awareness_(options_.config.awareness_max),
      broadcasts_(options_.config.broadcasts_max) {
  const std::size_t shared_count = options_.shared_initial_members ? options_.shared_initial_members->size() : 0;
  if (options_.directory) table_.use_directory(std::move(options_.directory));
  table_.reserve(std::max(options_.expected_members, options_.initial_members.size() + shared_count + 1));
  self_slot_ = table_.insert(self_);
  Member& me = table_.at(self_slot_);
  me.incarnation = incarnation;
  alive_ = 1;
  if (!options_.own_record.empty()) {
    auto header = options_.verifier->peek(options_.own_record);
    assert(header.is_ok());
    auto verified = options_.verifier->verify(options_.own_record, *header);
    assert(verified.is_ok());
    me.record = *verified;
  }
  options_.own_record.clear();
  bootstrap(options_.initial_members, 0);
  if (options_.shared_initial_members) bootstrap(*options_.shared_initial_members, 0);
  rebuild_probe_order();
  options_.initial_members.clear();
  options_.initial_members.shrink_to_fit();
  options_.shared_initial_members.reset();
  persist_incarnation();
  broadcast(self_alive_update());  // (re)joining: announce this incarnation
}

void GossipCore::bootstrap(const GossipOptions::InitialMembers& members, std::int64_t now_us) {
  for (std::size_t position = 0; position < members.size(); ++position) {  // bounded by the list
    const auto& [id, record] = members[position];
    if (id == self_) continue;
    std::uint32_t slot = MemberTable::kNone;
    if (options_.admit) {  // the daemon's path: admission is asked before the member exists
      if (table_.find(id) != MemberTable::kNone) continue;
      if (table_.size() >= options_.config.members_max) break;
      if (!options_.admit(id)) {
        ++counters_.members_refused;
        continue;
      }
      slot = table_.insert(id);
    } else {
      // A list in directory order (the simulator's one snapshot for 10,000
      // cores) takes each member's slot without hashing its id.
      if (table_.size() >= options_.config.members_max) break;
      bool inserted = false;
      slot = table_.find_or_insert(id, static_cast<std::uint32_t>(position), inserted);
      if (!inserted) continue;
    }
    Member& m = table_.at(slot);
    m.state = MemberState::kAlive;
    table_.state_change_us(slot) = now_us;
    ++alive_;
    if (record && record->header.subject == id && record->bytes.size() <= options_.config.record_bytes_max) {
      m.record = record;
    }
  }
}

void GossipCore::persist_incarnation() {
  const std::uint64_t inc = table_.at(self_slot_).incarnation;
  PersistOp op;
  op.column = Column::kMeta;
  op.key = kIncarnationKey;
  op.value.resize(8);
  for (int i = 0; i < 8; ++i) op.value[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(inc >> (8 * i));
  out_.persist.push_back(std::move(op));
}

std::uint64_t GossipCore::incarnation() const { return table_.at(self_slot_).incarnation; }

// ---- Entry points -------------------------------------------------------------

Effects GossipCore::receive(const NodeId& from, std::span<const std::uint8_t> bytes, Instant now) {
  now_us_ = std::max(now_us_, to_us(now));
  ++counters_.messages_received;
  counters_.bytes_received += bytes.size();
  auto decoded = codec_.decode(bytes);
  if (!decoded) {
    ++counters_.malformed;  // dropped: no state changes on bad input
    return finish(now);
  }
  Message& message = *decoded;
  const bool sync = std::holds_alternative<Digest>(message.body) ||
                    std::holds_alternative<DigestReply>(message.body) || std::holds_alternative<Sync>(message.body);
  apply_updates(from, message.updates, sync ? Via::kSync : Via::kGossip, now_us_);
  if (const auto* ping = std::get_if<Ping>(&message.body)) {
    on_ping(from, *ping);
  } else if (const auto* ack = std::get_if<Ack>(&message.body)) {
    on_ack(from, *ack, now_us_);
  } else if (const auto* nack = std::get_if<Nack>(&message.body)) {
    on_nack(*nack);
  } else if (const auto* req = std::get_if<PingReq>(&message.body)) {
    on_ping_req(from, *req, now_us_);
  } else if (const auto* digest = std::get_if<Digest>(&message.body)) {
    on_digest(from, *digest);
  } else if (const auto* reply = std::get_if<DigestReply>(&message.body)) {
    joined_ = true;
    on_digest_reply(from, *reply);
  }
  return finish(now);
}

Effects GossipCore::tick(Instant now) {
  now_us_ = std::max(now_us_, to_us(now));
  if (!started_) {
    started_ = true;
    const auto& c = options_.config;
    // Random phases, so a federation started at once does not probe in lockstep.
    next_probe_us_ = now_us_ + static_cast<std::int64_t>(rng_.uniform(static_cast<std::uint64_t>(to_us(c.probe_interval))));
    next_gossip_us_ = now_us_ + to_us(c.gossip_interval);
    next_push_pull_us_ =
        now_us_ + static_cast<std::int64_t>(rng_.uniform(static_cast<std::uint64_t>(to_us(push_pull_interval(c, n())))));
    next_join_us_ = c.seeds.empty() ? kNever : now_us_;
    joined_ = c.seeds.empty();
  }
  expire_probes(now_us_);
  expire_relays(now_us_);
  expire_suspicions(now_us_);
  reap(now_us_);
  if (!joined_ && now_us_ >= next_join_us_) {
    for (const NodeId& seed : options_.config.seeds) {
      if (seed != self_) start_push_pull(seed);
    }
    next_join_us_ = now_us_ + to_us(options_.config.join_retry_interval);
  }
  if (!leaving_) probe_tick(now_us_);
  if (now_us_ >= next_gossip_us_) {
    next_gossip_us_ = now_us_ + to_us(options_.config.gossip_interval);
    if (!broadcasts_.empty()) gossip_round(now_us_);
  }
  push_pull_tick(now_us_);
  return finish(now);
}

Effects GossipCore::set_own_record(std::span<const std::uint8_t> record, Instant now, Status* status) {
  now_us_ = std::max(now_us_, to_us(now));
  Member& me = table_.at(self_slot_);
  Status result = Status::ok();
  if (record.size() > options_.config.record_bytes_max) {
    result = invalid_argument("record of " + std::to_string(record.size()) + " bytes exceeds record_bytes_max " +
                              std::to_string(options_.config.record_bytes_max));
  } else if (auto header = options_.verifier->peek(record); !header) {
    result = header.status();
  } else if (header->subject != self_) {
    result = permission_denied("record is about another key");
  } else if (me.record && !header->newer_than(me.record->header)) {
    result = failed_precondition("record is not newer than the one published");
  } else if (auto verified = options_.verifier->verify(record, *header); !verified) {
    result = verified.status();
  } else {
    me.record = *verified;
    emit(kEventRecord, me);
    broadcast(self_alive_update());
  }
  if (status != nullptr) *status = result;
  return finish(now);
}

Effects GossipCore::leave(Instant now) {
  now_us_ = std::max(now_us_, to_us(now));
  if (!leaving_) {
    leaving_ = true;
    Member& me = table_.at(self_slot_);
    Update u;
    u.kind = UpdateKind::kLeft;
    u.node = self_;
    u.incarnation = me.incarnation;
    u.accuser = id_prefix(self_);
    broadcast(u);
    probes_.clear();
    gossip_round(now_us_);
  }
  return finish(now);
}

void GossipCore::observe_transfer(const NodeId& peer, std::uint64_t bytes, Duration elapsed) {
  if (elapsed <= Duration::zero() || bytes == 0 || peer == self_) return;
  if (links_.size() >= options_.config.members_max && links_.count(peer) == 0) return;  // bounded
  const double sample = static_cast<double>(bytes) * 8.0 * 1e6 / static_cast<double>(elapsed.count());
  Link& link = links_[peer];
  const double alpha = options_.config.bandwidth_ewma_alpha;
  link.bandwidth_bps = link.bandwidth_bps == 0 ? sample : alpha * sample + (1 - alpha) * link.bandwidth_bps;
  if (link.published_bps == 0 || std::abs(link.bandwidth_bps - link.published_bps) > 0.1 * link.published_bps) {
    links_changed_ = true;
  }
}

std::vector<std::pair<NodeId, std::uint64_t>> GossipCore::measured_links() const {
  std::vector<std::pair<NodeId, std::uint64_t>> out;
  out.reserve(links_.size());
  for (const auto& [peer, link] : links_) out.emplace_back(peer, static_cast<std::uint64_t>(link.bandwidth_bps));
  return out;
}

bool GossipCore::take_links_changed() {
  if (!links_changed_) return false;
  links_changed_ = false;
  for (auto& [peer, link] : links_) link.published_bps = link.bandwidth_bps;
  return true;
}

// ---- Plumbing ----------------------------------------------------------------

Effects GossipCore::finish(Instant now) {
  // Relayed news waits for the next gossip round unless gossip_eagerly
  // (each eager push is a few more messages per update at every node: at
  // 10,000 members they would be most of the traffic); news this node
  // originated goes out at once, which is where latency is won.
  if ((eager_pending_ && options_.config.gossip_eagerly) || eager_own_pending_) {
    if (started_) gossip_round(now_us_);
  }
  eager_pending_ = false;
  eager_own_pending_ = false;
  // A leaving node no longer probes, so its probe clock must not wake it.
  std::int64_t wake = leaving_ ? kNever : next_probe_us_;
  if (!started_) wake = to_us(now);
  if (!broadcasts_.empty()) wake = std::min(wake, next_gossip_us_);
  wake = std::min(wake, next_push_pull_us_);
  if (!joined_) wake = std::min(wake, next_join_us_);
  for (const Probe& p : probes_) wake = std::min(wake, p.next_timer_us());
  for (const Relay& r : relays_) wake = std::min(wake, r.nacked ? r.expire_us : r.nack_at_us);
  wake = std::min(wake, suspicion_wake_us());
  if (!reap_queue_.empty()) wake = std::min(wake, reap_queue_.front().first);
  out_.wake_at = instant_from_us(std::max(wake, to_us(now)));
  Effects effects = std::move(out_);
  out_ = Effects{};
  return effects;
}

void GossipCore::send(const NodeId& to, Message message) {
  assert(to != self_ && "a core never messages itself");
  auto bytes = codec_.encode(message);
  if (!bytes) {
    ++counters_.broadcasts_dropped;  // over message_bytes_max: budgets should prevent it
    return;
  }
  send_encoded(to, message, std::move(*bytes));
}

void GossipCore::send_encoded(const NodeId& to, const Message& message, Bytes bytes) {
  assert(to != self_ && "a core never messages itself");
  ++counters_.messages_sent;
  counters_.bytes_sent += bytes.size();
  ++counters_.messages_sent_by_body[message.body.index()];
  counters_.bytes_sent_by_body[message.body.index()] += bytes.size();
  for (const Update& u : message.updates) ++counters_.updates_sent_by_kind[static_cast<std::size_t>(u.kind)];
  out_.send.push_back(OutMessage{to, std::move(bytes)});
}

void GossipCore::emit(const char* kind, const Member& m) {
  std::string detail = m.id.hex();
  detail += ' ';
  detail += std::to_string(m.incarnation);
  detail += ' ';
  detail += std::to_string(m.record ? m.record->header.sequence : 0);
  out_.events.push_back(CoreEvent{kind, std::move(detail)});
}

Update GossipCore::self_alive_update() const { return update_for(table_.at(self_slot_)); }

Update GossipCore::update_for(const Member& m) const {
  Update u;
  u.node = m.id;
  u.incarnation = m.incarnation;
  switch (m.state) {
    case MemberState::kAlive:
      u.kind = UpdateKind::kAlive;
      if (m.record) u.record = m.record->bytes;
      break;
    case MemberState::kSuspect: {
      u.kind = UpdateKind::kSuspect;
      auto it = suspicions_.find(table_.find(m.id));
      u.accuser = it != suspicions_.end() ? it->second.first_accuser() : id_prefix(self_);
      break;
    }
    case MemberState::kDead:
      u.kind = UpdateKind::kDead;
      u.accuser = id_prefix(self_);
      break;
    case MemberState::kLeft:
      u.kind = UpdateKind::kLeft;
      u.accuser = id_prefix(m.id);
      break;
  }
  return u;
}

std::uint64_t GossipCore::version_of(const Member& m) const {
  std::uint64_t v = mix64(m.incarnation * 4 + static_cast<std::uint64_t>(m.state));
  if (m.record) v = mix64(v ^ mix64(m.record->header.incarnation) ^ (m.record->header.sequence * 0x9e3779b97f4a7c15ULL));
  return v;
}

// ---- Queries -------------------------------------------------------------------

namespace {

MemberInfo info_of(const MemberTable& table, std::uint32_t slot, bool is_self) {
  const Member& m = table.at(slot);
  MemberInfo info;
  info.id = m.id;
  info.state = m.state;
  info.incarnation = m.incarnation;
  info.state_since = instant_from_us(table.state_change_us(slot));
  info.record = m.record;
  if (table.coordinate(slot).known()) info.coordinate = table.coordinate(slot).expand();
  info.is_self = is_self;
  return info;
}

}  // namespace

std::vector<MemberInfo> GossipCore::members() const {
  std::vector<MemberInfo> out;
  out.reserve(table_.size());
  for (const auto& [prefix, slot] : table_.sorted()) {
    MemberInfo info = info_of(table_, slot, slot == self_slot_);
    if (slot == self_slot_) info.coordinate = vivaldi_.coordinate();
    out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(), [](const MemberInfo& a, const MemberInfo& b) { return a.id < b.id; });
  return out;
}

std::optional<MemberInfo> GossipCore::member(const NodeId& id) const {
  const std::uint32_t slot = table_.find(id);
  if (slot == MemberTable::kNone) return std::nullopt;
  MemberInfo info = info_of(table_, slot, slot == self_slot_);
  if (slot == self_slot_) info.coordinate = vivaldi_.coordinate();
  return info;
}

std::optional<Duration> GossipCore::estimated_rtt(const NodeId& to) const {
  return estimated_rtt(self_, to);
}

std::optional<Duration> GossipCore::estimated_rtt(const NodeId& a, const NodeId& b) const {
  auto coordinate_of = [&](const NodeId& id) -> std::optional<Coordinate> {
    if (id == self_) return vivaldi_.coordinate();
    const std::uint32_t slot = table_.find(id);
    if (slot == MemberTable::kNone || !table_.coordinate(slot).known()) return std::nullopt;
    return table_.coordinate(slot).expand();
  };
  auto ca = coordinate_of(a);
  auto cb = coordinate_of(b);
  if (!ca || !cb) return std::nullopt;
  return Duration(static_cast<std::int64_t>(vivaldi_distance_ms(*ca, *cb) * 1000.0));
}

std::uint64_t GossipCore::bandwidth_bps(const NodeId& peer) const {
  auto it = links_.find(peer);
  if (it == links_.end() || it->second.bandwidth_bps <= 0) return options_.config.bandwidth_default_bps;
  return static_cast<std::uint64_t>(it->second.bandwidth_bps);
}

std::size_t GossipCore::memory_bytes() const {
  return table_.memory_bytes() + probe_order_.capacity() * sizeof(std::uint32_t) +
         suspicions_.size() * (sizeof(Suspicion) + 64) + reap_queue_.size() * 16 + links_.size() * 80 +
         broadcasts_.size() * 160;
}

}  // namespace polder::gossip
