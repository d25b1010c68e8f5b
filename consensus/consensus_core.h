// ConsensusCore: leaderless single-decree Paxos, one instance per
// (job, attempt), as a sans-IO state machine (DESIGN.md).
//
// What it does: for every instance it plays the roles this node has in it —
// acceptor if the node is in the instance's replica set, proposer when the
// node calls propose() (or takes over a stalled instance as a replica),
// learner always. A value is chosen when a majority of the replica set
// accepted one ballot; the learner that sees that majority announces Chosen
// to the replicas, the origin and the executor; the executor acknowledges.
// See acceptor.h, proposer.h, learner.h for each role.
//
// How a host drives it (node/ with a real clock, ZeroMQ and RocksDB; sim/
// with virtual ones):
//   * create() at start, with every record of Column::kAcceptor that
//     survived (records.h documents keys and values);
//   * receive() for every consensus payload an authenticated peer sent
//     (the envelope's `consensus` bytes; `from` is the authenticated sender);
//   * tick() no later than the returned wake_at (which may be now: a call
//     can leave this node's own durable write of a Prepare or of a
//     post-phase-1 Accept to the next call, so that its sends do not wait
//     for that write);
//   * propose() / query() / forget() when the node decides to;
//   * apply each returned Effects in order, and each completely before the
//     next: persist (one atomic batch, durably), then send (each
//     OutMessage's bytes are a consensus payload for `to`: wrap them in an
//     envelope), then events. Effects of later calls must not be applied
//     before the persist of earlier ones completed (a FIFO group commit).
//
// Events: kind "chosen", detail as format_chosen_detail() — once per
// instance per life of the core, and again when propose() is called on an
// instance already decided. parse_chosen_event() reads one back; chosen()
// answers the same from memory.
//
// Guarantees: never throws and never crashes on peer input (malformed
// messages are counted and dropped); no clock, IO or global randomness
// (randomised backoff draws from the seeded Rng); decisions never depend on
// hash order (instances and timers live in ordered maps). Memory is bounded
// by instances_max. Thread-safety: none; one thread drives a core.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "consensus/instance.h"
#include "consensus/messages.h"
#include "consensus/records.h"
#include "consensus/value.h"
#include "consensus/wire.h"
#include "protocol/core.h"
#include "protocol/rng.h"
#include "protocol/status.h"
#include "protocol/time.h"

namespace polder::consensus {

inline constexpr const char* kChosenEventKind = "chosen";

struct ConsensusOptions {
  // Round-trip estimate to the replicas: the unit of every timeout below.
  // Too low only costs extra messages, too high only slows recovery.
  // With rtt_adaptive the core starts from rtt_us and then uses what its
  // own phases measure (see RttEstimator), never more than rtt_us and never
  // less than rtt_min_us; otherwise rtt_us is used as it is.
  std::int64_t rtt_us = 10'000;
  bool rtt_adaptive = true;
  std::int64_t rtt_min_us = 200;
  double phase_timeout_rtts = 3.0;     // a phase not done by then backs off and retries
  double backoff_min_rtts = 1.0;       // backoff is uniform in [m, 2m)·2^min(k-1, doublings)
  std::uint32_t backoff_doublings_max = 3;
  double takeover_timeout_rtts = 6.0;  // a replica holding an undecided accepted value proposes it after [t, 2t)
  // A proposer other than the origin waits [g, 1.25g) before its first
  // phase 1: the origin's fast ballot decides in one round trip and its
  // announcement reaches every replica half a round trip later, so a duel
  // it would have started (and the second phase pair that costs) mostly
  // never happens. Only timing: an origin that is gone costs this much
  // more. 0: phase 1 at once.
  double origin_grace_rtts = 2.0;
  double announce_delay_rtts = 4.0;    // replicas that learned second-hand back the announcer up after this
  double announce_interval_max_rtts = 32.0;
  std::size_t instances_max = 1'000'000;
  std::int64_t retention_us = 600'000'000;  // forget(job) erases the job's instances this much later
  // A decided instance's records compact into one decision record with the
  // next persist that happens anyway, or after this long if none comes: on
  // a busy node compaction then never costs a durable write of its own (one
  // that a waiting Accept would queue behind).
  std::int64_t compaction_delay_us = 20'000;
  std::size_t timer_fires_per_tick_max = 4096;  // the rest fire on an immediate next tick
  WireLimits wire;
};

Status validate_consensus_options(const ConsensusOptions& options);

// What one phase of this node's proposals takes (send to majority reply,
// so the acceptors' fsyncs and queueing are in it), smoothed as TCP does
// (RFC 6298: srtt += (s - srtt)/8, rttvar += (|s - srtt| - rttvar)/4).
// unit_us() = (srtt + 2·rttvar)·backoff, clamped to [min_us, max_us]: a
// timeout of a few units then covers a loaded node's decision time, and a
// backoff of one or two units lets a duel's winner finish. A phase that
// timed out doubles the backoff factor (Karn: its late replies are no
// sample), so an overloaded or cut-off node slows its timers down instead
// of abandoning ever more ballots; the next phase that completes resets it
// to 1 (RFC 6298 5.5-5.7), so a passing stall is forgotten at once.
class RttEstimator {
 public:
  RttEstimator(std::int64_t initial_us, std::int64_t min_us, std::int64_t max_us, bool adaptive);
  void sample(std::int64_t phase_us);
  void timed_out();
  std::int64_t unit_us() const { return unit_us_; }
  std::uint64_t samples() const { return samples_; }

 private:
  void update_unit();
  static constexpr double kBackoffMax = 1024;
  double srtt_us_;
  double backoff_ = 1;
  double rttvar_us_;
  std::int64_t min_us_, max_us_;
  bool adaptive_;
  std::uint64_t samples_ = 0;
  std::int64_t unit_us_;
};

// Counters of one core's history; read by /metrics and the simulator.
struct ConsensusCounters {
  std::uint64_t messages_received = 0;
  std::uint64_t malformed_dropped = 0;        // bytes that did not decode
  std::uint64_t non_member_ignored = 0;       // a vote or proposal from outside the replica set
  std::uint64_t spec_mismatch_ignored = 0;    // a message naming another replica set or origin
  std::uint64_t bad_ballot_ignored = 0;       // a ballot not owned by its sender, or Prepare at 0
  std::uint64_t unknown_instance_ignored = 0;
  std::uint64_t full_refused = 0;             // instances_max reached
  std::uint64_t conflicting_chosen = 0;       // a Chosen that contradicts what we learned (never expected)
  std::uint64_t fast_proposals = 0;
  std::uint64_t prepares_started = 0;
  std::uint64_t origin_graces = 0;            // non-origin proposals that first waited for the origin's fast ballot
  std::uint64_t retransmissions = 0;          // phases resent at the same ballot after a timeout
  std::uint64_t takeovers = 0;
  std::uint64_t decided = 0;                  // instances this core learned chosen
  std::uint64_t learned_fast = 0;             // of those, learned from the fast ballot's Accepted, not an announcement
  std::uint64_t announcements = 0;
  std::uint64_t instances_forgotten = 0;
};

// A "chosen" event, typed.
struct ChosenEvent {
  InstanceKey key;
  Value value;
};

std::string format_chosen_detail(const InstanceKey& key, const Value& value);
Result<ChosenEvent> parse_chosen_event(const CoreEvent& event);

class ConsensusCore : public Core {
 public:
  // Restores every instance from `durable` (only Column::kAcceptor is read).
  // Fails on bad options or a corrupt record (DataLoss): an acceptor must not
  // run having forgotten a promise.
  static Result<std::unique_ptr<ConsensusCore>> create(const NodeId& self, const ConsensusOptions& options,
                                                       const DurableRecords& durable, std::uint64_t seed);

  // Only create() constructs (it validates and restores).
  class ConstructionTag {
    friend class ConsensusCore;
    explicit ConstructionTag() = default;
  };
  ConsensusCore(ConstructionTag, const NodeId& self, const ConsensusOptions& options, std::uint64_t seed);

  Effects receive(const NodeId& from, std::span<const std::uint8_t> bytes, Instant now) override;
  Effects tick(Instant now) override;

  // Proposes `value` for the instance. The origin's first proposal takes the
  // fast path (ballot 0); anyone else starts phase 1, after letting the
  // origin go first (ConsensusOptions::origin_grace_rtts). Retries until decided.
  // If the instance is decided already, the Effects carry the chosen event
  // again. Errors (nothing changes): invalid spec or value, this node is
  // neither a replica nor the origin, the instance runs with another spec,
  // or instances_max is reached.
  Result<Effects> propose(const InstanceSpec& spec, const Value& value, Instant now);
  // Asks the replicas what is chosen, until one answers (then a chosen event).
  Result<Effects> query(const InstanceSpec& spec, Instant now);
  // The job finished: erase its instances (all attempts), memory and
  // records, after options.retention_us (so late messages still meet a
  // decided instance). Volatile: after a restart the node calls it again.
  Effects forget(const JobId& job, Instant now);

  // The chosen value, if this node has learned it.
  std::optional<Value> chosen(const InstanceKey& key) const;
  // Read-only look inside (checkers, tests); null when unknown.
  const Instance* instance(const InstanceKey& key) const;
  const std::map<InstanceKey, Instance>& instances() const { return instances_; }
  const ConsensusCounters& counters() const { return counters_; }
  const NodeId& self() const { return self_; }
  const ConsensusOptions& options() const { return options_; }
  // The timeout unit in use now (options().rtt_us unless rtt_adaptive).
  std::int64_t rtt_unit_us() const { return rtt_.unit_us(); }

 private:
  Status restore(const DurableRecords& durable);
  void arm_restored();

  // Call framing: begin() at entry, finish() builds the Effects.
  void begin(Instant now);
  Effects finish();
  void handle_local();  // messages to self, until none is left (bounded)

  // Message handlers, one per Paxos message.
  void handle(const NodeId& from, const Message& message);
  void on_prepare(const NodeId& from, const Prepare& m);
  // Guard shared by the phase-1/phase-2 replies: see the .cc.
  Instance* undecided_from_member(const InstanceKey& key, const NodeId& from);
  void on_promise(const NodeId& from, const Promise& m);
  void on_accept(const NodeId& from, const Accept& m);
  void on_accepted(const NodeId& from, const Accepted& m);
  void on_reject(const NodeId& from, const Reject& m);
  void on_chosen(const NodeId& from, const Chosen& m);
  void on_chosen_ack(const NodeId& from, const ChosenAck& m);
  void on_query(const NodeId& from, const Query& m);

  // Roles in action.
  void start_prepare(Instance& inst);
  void start_accept(Instance& inst);
  void decide(Instance& inst, const Value& value, bool first_hand);
  void learn_fast(Instance& inst);
  void announce(Instance& inst);
  void fire_timers(Instance& inst);
  void back_off(Instance& inst);
  void retransmit(Instance& inst);
  void sample_phase(Instance& inst);
  void yield_to(Instance& inst, const Ballot& seen);  // another proposer's higher ballot is in play  // a phase reached its majority: an RTT sample

  // Instances, timers, records.
  Instance* find(const InstanceKey& key);
  // Finds or creates the instance for `spec`; null (counted) when the spec
  // contradicts a known one or the core is full.
  Instance* instance_for(const InstanceSpec& spec);
  Instance* instance_to_vote_in(const NodeId& from, const InstanceSpec& spec);
  // Whether instance_for(spec) would succeed; the error (counted) if not.
  Status admits(const InstanceSpec& spec);
  void rearm(Instance& inst);
  void mark_acceptor_dirty(Instance& inst);
  void mark_proposer_dirty(Instance& inst);
  void queue_compaction(Instance& inst);
  void compact_due(bool all);  // all: piggyback on a write that happens anyway
  void forget_due();
  void erase_instance(std::map<InstanceKey, Instance>::iterator it);

  // Output.
  void send(const NodeId& to, Message message);
  void send_to_replicas(const Instance& inst, const Message& message);
  std::int64_t rtts_us(double rtts) const;
  std::int64_t jittered_us(double rtts_min, double rtts_spread);

  NodeId self_;
  ConsensusOptions options_;
  Rng rng_;
  RttEstimator rtt_;
  std::map<InstanceKey, Instance> instances_;
  std::set<std::pair<std::int64_t, InstanceKey>> timers_;
  std::vector<InstanceKey> dirty_;
  std::deque<std::pair<std::int64_t, InstanceKey>> compaction_queue_;  // FIFO: (due, instance)
  std::deque<std::pair<std::int64_t, JobId>> forget_queue_;  // FIFO: one retention for all
  std::deque<Message> local_;  // messages to self, handled before finish() returns
  // Held back for the next call, so this call's sends need no write first
  // (start_prepare, start_accept): messages to self, and instances whose
  // newly spent round the next call records.
  std::vector<Message> deferred_self_;
  std::vector<InstanceKey> deferred_spent_;
  bool restored_armed_ = false;
  std::int64_t now_us_ = 0;
  Effects effects_;
  ConsensusCounters counters_;
};

}  // namespace polder::consensus
