// GossipCore: membership, failure detection and dissemination for one node.
//
// SWIM (Das, Gupta, Motivala, DSN 2002) with Lifeguard (Dadgar, Phillips,
// Currey, 2018), as a sans-IO state machine (DESIGN.md). Each protocol
// period the core probes one member, round-robin over a shuffled list; with
// no ack within the probe timeout it asks `indirect_checks` others to probe;
// with no ack by the probe deadline it suspects the member, tells it (so it
// can refute early) and gossips the suspicion. A suspicion becomes a death
// after a Lifeguard timeout that shrinks with independent confirmations. A
// suspected member refutes by raising its incarnation. Graceful leave is a
// distinct `left` state. Dead and left members are forgotten after
// dead_reap_after; a restarted node rejoins with a higher incarnation (kept
// on disk through Effects::persist).
//
// Updates piggyback on every message, newest and least-sent first within a
// byte budget, each sent about retransmit_mult x log10(n) times; new updates
// are also pushed to gossip_fanout members at once and every gossip_interval
// while any are queued. Periodic push-pull anti-entropy with one random
// member exchanges paged digests (id prefix, version) and then only what
// differs, so its cost is bounded per message and per exchange.
//
// Each member carries an opaque signed record (capacity) checked by the
// injected RecordVerifier: (incarnation, sequence) newer wins; oversized,
// unparseable, badly signed, foreign ("about another key") and replayed
// (older) records are dropped and counted. Vivaldi coordinates are updated
// from direct probe RTTs and travel on pings and acks; link bandwidth is an
// EWMA of transfers the node reports.
//
// Guarantees: receive() never throws or crashes on any bytes; malformed
// messages are counted and dropped and change no state. Same seed, same
// inputs -> same outputs (no clock, no global randomness, no decisions from
// hash order). Thread-safety: none; one host thread drives a core.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gossip/broadcast_queue.h"
#include "gossip/codec.h"
#include "gossip/config.h"
#include "gossip/member_table.h"
#include "gossip/record_verifier.h"
#include "gossip/suspicion.h"
#include "gossip/vivaldi.h"
#include "protocol/core.h"
#include "protocol/rng.h"

namespace polder::gossip {

// Event kinds in Effects::events; detail is "<64 hex id> <incarnation> <record sequence>".
inline constexpr const char* kEventAlive = "member.alive";
inline constexpr const char* kEventSuspect = "member.suspect";
inline constexpr const char* kEventDead = "member.dead";
inline constexpr const char* kEventLeft = "member.left";
inline constexpr const char* kEventRecord = "member.record";

// Key of the persisted incarnation (Column::kMeta), 8 bytes little-endian.
inline constexpr const char* kIncarnationKey = "gossip/incarnation";

struct GossipCounters {
  std::uint64_t messages_received = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t malformed = 0;          // undecodable messages dropped
  std::uint64_t probes = 0;
  std::uint64_t probes_indirect = 0;    // probes that needed ping-req
  std::uint64_t probes_failed = 0;      // ended in a suspicion
  std::uint64_t suspicions = 0;         // members this node started to suspect
  std::uint64_t refutations = 0;        // times this node refuted a suspicion of itself
  std::uint64_t deaths_declared = 0;    // suspicion timeouts that expired here
  std::uint64_t records_accepted = 0;
  std::uint64_t records_oversized = 0;
  std::uint64_t records_unparseable = 0;
  std::uint64_t records_bad_signature = 0;
  std::uint64_t records_foreign = 0;    // about another key than the member it came with
  std::uint64_t records_replayed = 0;   // older than the one held
  std::uint64_t members_refused = 0;    // not admitted by GossipOptions::admit
  std::uint64_t members_expelled = 0;   // dropped by expel() (revoked)
  std::uint64_t push_pulls = 0;
  std::uint64_t broadcasts_dropped = 0;
  // Traffic by message body (index: Body's variant index) and updates sent
  // by kind (index: UpdateKind): where the bandwidth goes.
  std::array<std::uint64_t, std::variant_size_v<Body>> messages_sent_by_body{};
  std::array<std::uint64_t, std::variant_size_v<Body>> bytes_sent_by_body{};
  std::array<std::uint64_t, 5> updates_sent_by_kind{};
};

// Everything a core needs besides its config: its identity's helpers.
struct GossipOptions {
  GossipConfig config;
  std::shared_ptr<const RecordVerifier> verifier;  // required
  // Who may become a member (the federation's allowlist); null admits all.
  std::function<bool(const NodeId&)> admit;
  // Members known at start (a table the node persisted after verifying
  // it, or the simulator's bootstrap), with their records when known (null
  // otherwise; a record about another key is dropped); they start alive at
  // incarnation 0.
  using InitialMembers = std::vector<std::pair<NodeId, std::shared_ptr<const VerifiedRecord>>>;
  InitialMembers initial_members;
  // More of the same, shared read-only between cores started from one
  // snapshot (the simulator's 10,000 cores: one list, not 10,000 copies);
  // may hold this node itself, which is skipped. Null: none.
  std::shared_ptr<const InitialMembers> shared_initial_members;
  // Ids whose slots the member table lays out by this shared directory
  // (MemberDirectory): cores started from one snapshot share one index
  // instead of each holding its own. Null: the table indexes every id.
  std::shared_ptr<const MemberDirectory> directory;
  Bytes own_record;  // this node's signed record; may be empty
  std::size_t expected_members = 0;  // reserve hint
};

class GossipCore : public Core {
 public:
  // Fails on a bad config, a missing verifier, an own record that does not
  // verify or is about another key, or a stored incarnation that is not 8
  // bytes (DataLoss).
  static Result<std::unique_ptr<GossipCore>> create(const NodeId& self, GossipOptions options,
                                                    const DurableRecords& durable, std::uint64_t seed);

  Effects receive(const NodeId& from, std::span<const std::uint8_t> bytes, Instant now) override;
  Effects tick(Instant now) override;

  // Publishes a new version of this node's signed record.
  Effects set_own_record(std::span<const std::uint8_t> record, Instant now, Status* status = nullptr);
  // Announces a graceful leave; keep ticking for a few gossip intervals so
  // it spreads. The core then stops probing.
  Effects leave(Instant now);
  // The host's admit predicate refuses `id` from now on (its key was
  // revoked): its member is dropped at once, as if it had died and been
  // reaped, and a dead update spreads so others stop probing it; updates
  // about it are then refused at insertion (GossipOptions::admit). No-op for
  // an unknown id or this node.
  Effects expel(const NodeId& id, Instant now);
  // The node measured a transfer of `bytes` to/from `peer` taking `elapsed`.
  void observe_transfer(const NodeId& peer, std::uint64_t bytes, Duration elapsed);

  // ---- Queries ----------------------------------------------------------
  const NodeId& self() const { return self_; }
  std::uint64_t incarnation() const;
  std::vector<MemberInfo> members() const;  // sorted by id
  std::optional<MemberInfo> member(const NodeId& id) const;
  std::size_t member_count() const { return table_.size(); }
  std::size_t alive_count() const { return alive_; }
  const Coordinate& coordinate() const { return vivaldi_.coordinate(); }
  // Estimated RTT from this node / between two members, if coordinates are known.
  std::optional<Duration> estimated_rtt(const NodeId& to) const;
  std::optional<Duration> estimated_rtt(const NodeId& a, const NodeId& b) const;
  // Bandwidth EWMA to `peer`, or the configured default when unmeasured.
  std::uint64_t bandwidth_bps(const NodeId& peer) const;
  // Every peer with a measurement, by id: what the node puts in its record
  // so the federation learns the links (gossiped signed, like capacity).
  std::vector<std::pair<NodeId, std::uint64_t>> measured_links() const;
  // True once after a new peer was measured or an estimate moved by more
  // than a tenth since it was last taken: time to republish the record.
  bool take_links_changed();
  std::uint32_t health_score() const { return awareness_.score(); }
  const GossipCounters& counters() const { return counters_; }
  std::size_t memory_bytes() const;
  const GossipConfig& config() const { return options_.config; }

  // For the invariant checker (gossip/invariants.h).
  const MemberTable& table() const { return table_; }
  const std::map<std::uint32_t, Suspicion>& suspicions() const { return suspicions_; }
  std::size_t probes_in_flight() const { return probes_.size(); }
  std::size_t relays_in_flight() const { return relays_.size(); }
  std::size_t broadcasts_queued() const { return broadcasts_.size(); }
  std::uint32_t self_slot() const { return self_slot_; }

  class ConstructionTag {
    friend class GossipCore;
    explicit ConstructionTag() = default;
  };
  GossipCore(ConstructionTag, const NodeId& self, GossipOptions options, std::uint64_t incarnation, std::uint64_t seed);

 private:
  struct Probe {
    NodeId target;
    std::uint32_t seq = 0;
    std::int64_t started_us = 0;
    std::int64_t retry_at_us = 0;     // == indirect_at_us unless retry_before_indirect
    std::int64_t indirect_at_us = 0;
    std::int64_t deadline_us = 0;
    std::uint32_t nacks_expected = 0;
    std::uint32_t nacks = 0;
    bool retry_sent = false;
    bool indirect_sent = false;
    std::int64_t next_timer_us() const {
      return indirect_sent ? deadline_us : (retry_sent ? indirect_at_us : retry_at_us);
    }
  };
  struct Relay {  // an indirect probe done for someone else
    std::uint32_t seq = 0;  // our ping's
    NodeId target;
    NodeId requester;
    std::uint32_t requester_seq = 0;
    std::int64_t started_us = 0;
    std::int64_t nack_at_us = 0;
    std::int64_t expire_us = 0;
    bool nacked = false;
  };
  struct Link {
    double bandwidth_bps = 0;
    double published_bps = 0;  // the estimate when links were last taken
  };
  enum class Via : std::uint8_t { kGossip, kSync };  // kSync: anti-entropy, not re-gossiped

  // gossip_core.cc: plumbing
  Effects finish(Instant now);
  void send(const NodeId& to, Message message);
  void send_encoded(const NodeId& to, const Message& message, Bytes bytes);  // `bytes` encode `message`
  void emit(const char* kind, const Member& m);
  std::size_t n() const { return std::max<std::size_t>(table_.size(), 1); }
  void persist_incarnation();
  Update self_alive_update() const;
  Update update_for(const Member& m) const;
  std::uint64_t version_of(const Member& m) const;
  void bootstrap(const GossipOptions::InitialMembers& members, std::int64_t now_us);

  // gossip_merge.cc: SWIM's state transitions
  void apply_updates(const NodeId& from, std::vector<Update>& updates, Via via, std::int64_t now_us);
  void apply_alive(Update& u, Via via, bool from_subject, std::int64_t now_us);
  bool apply_record(Member& m, const Bytes& record);
  void apply_suspect(const Update& u, Via via, std::int64_t now_us);
  void apply_dead(const Update& u, Via via, std::int64_t now_us);
  void refute(std::uint64_t accused_incarnation);
  void set_state(std::uint32_t slot, MemberState state, std::int64_t now_us);
  void broadcast(Update update, std::uint32_t transmits_already = 0);
  void declare_dead(std::uint32_t slot, std::int64_t now_us);
  void expire_suspicions(std::int64_t now_us);
  std::int64_t suspicion_wake_us();
  void reap(std::int64_t now_us);

  // gossip_probe.cc: SWIM failure detection with Lifeguard
  void probe_tick(std::int64_t now_us);
  bool next_probe_target(std::uint32_t& slot);
  void start_probe(std::uint32_t slot, std::int64_t now_us);
  Duration probe_timeout_for(std::uint32_t slot) const;
  void expire_probes(std::int64_t now_us);
  void send_retry(Probe& probe);
  void send_indirect(Probe& probe);
  void fail_probe(const Probe& probe, std::int64_t now_us);
  void on_ping(const NodeId& from, const Ping& ping);
  void on_ack(const NodeId& from, const Ack& ack, std::int64_t now_us);
  void on_nack(const Nack& nack);
  void on_ping_req(const NodeId& from, const PingReq& req, std::int64_t now_us);
  void expire_relays(std::int64_t now_us);
  void learn_coordinate(const NodeId& from, const std::optional<Coordinate>& c);
  void rebuild_probe_order();
  void maybe_probe_suspect(std::uint32_t slot, std::int64_t now_us);

  // gossip_dissemination.cc
  void piggyback(Message& message, const NodeId& to);
  void gossip_round(std::int64_t now_us);
  std::vector<std::uint32_t> random_members(std::size_t count, const NodeId* exclude);

  // gossip_antientropy.cc: push-pull
  void push_pull_tick(std::int64_t now_us);
  void start_push_pull(const NodeId& peer);
  void send_digest_pages(const NodeId& peer, std::uint64_t lo, std::uint64_t hi);
  void on_digest(const NodeId& from, const Digest& digest);
  void on_digest_reply(const NodeId& from, const DigestReply& reply);

  NodeId self_;
  GossipOptions options_;
  Rng rng_;
  Codec codec_;
  MemberTable table_;
  std::uint32_t self_slot_ = MemberTable::kNone;
  std::size_t alive_ = 0;  // members alive or suspect, self included
  Vivaldi vivaldi_;
  Awareness awareness_;
  BroadcastQueue broadcasts_;
  std::map<std::uint32_t, Suspicion> suspicions_;  // by slot; ordered for determinism
  std::vector<Probe> probes_;                       // bounded by probes_in_flight_max
  std::vector<Relay> relays_;                       // bounded by kRelaysMax
  std::vector<std::uint32_t> probe_order_;
  std::size_t probe_position_ = 0;
  std::deque<std::pair<std::int64_t, std::uint32_t>> reap_queue_;  // (due, slot), in due order
  std::map<NodeId, Link> links_;  // only peers the node reported transfers with
  std::uint32_t next_seq_ = 1;
  bool started_ = false;
  bool joined_ = false;
  bool leaving_ = false;
  bool links_changed_ = false;
  bool eager_pending_ = false;
  bool eager_own_pending_ = false;       // news this node originated: pushed at once in any profile
  bool suspicion_wake_dirty_ = false;    // suspicions_ changed since suspicion_wake_us_
  std::int64_t suspicion_wake_us_ = 0;   // earliest suspicion deadline (valid unless dirty)
  std::int64_t now_us_ = 0;
  std::int64_t next_probe_us_ = 0;
  std::int64_t next_gossip_us_ = 0;
  std::int64_t next_push_pull_us_ = 0;
  std::int64_t next_join_us_ = 0;
  GossipCounters counters_;
  Effects out_;
};

}  // namespace polder::gossip
