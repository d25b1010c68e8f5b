// Simulator: a deterministic world of sans-IO cores.
//
// Purpose: run many nodes' cores in one process on a virtual clock, through
// the same Core interface the real node uses, under injected faults — a
// lossy, duplicating, reordering, partitionable network (Network), slow
// disks and crashes that keep only durable writes (SimDisk) — so protocol
// bugs show up in tests and replay exactly from a seed.
//
// How a run goes: every node is created by the CoreFactory and ticked at
// once. Each processed event (a tick, a delivery, a completed disk write, a
// crash, a restart) may give Effects, applied in the fixed order of core.h:
// persist -> send -> events -> schedule the next tick at wake_at. With a slow
// disk the sends and events of a batch wait until its persist completes; a
// crash in between loses all three. Messages to a crashed node are dropped.
// After every processed event the observer (if any) runs, so invariant
// checkers see every intermediate state.
//
// Guarantees: one Rng per run, seeded from SimOptions::seed; every node's
// seed is derived from it, and from the node's incarnation after a restart.
// Events are totally ordered by (time, insertion), and no decision iterates
// an unordered container, so the same seed and the same calls give the same
// trace_hash(). A livelock (too many events at one virtual instant) is
// reported by run_until() as ResourceExhausted instead of spinning forever.
//
// Thread-safety: none. One thread drives a Simulator; observers and sinks
// run on that thread and must not add nodes.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "protocol/core.h"
#include "protocol/ids.h"
#include "protocol/rng.h"
#include "protocol/status.h"
#include "protocol/time.h"
#include "sim/disk.h"
#include "sim/event_queue.h"
#include "sim/network.h"
#include "sim/node_index.h"
#include "sim/payload_slab.h"

namespace polder::sim {

// Creates a node's core: at the start of the run with empty `durable`, and
// after each restart with what survived on its disk. Must not return null.
using CoreFactory =
    std::function<std::unique_ptr<Core>(const NodeId& self, const DurableRecords& durable, std::uint64_t seed)>;

struct SimOptions {
  std::uint64_t seed = 1;
  NetworkOptions network;
  DiskOptions disk;  // every node's disk unless set_disk_options() says otherwise
  std::uint32_t nodes_max = 1U << 20;
  std::uint64_t events_per_instant_max = 10'000'000;  // livelock guard
};

Status validate_sim_options(const SimOptions& options);

// What happened in the run so far. Every delivered duplicate counts as a
// delivery; messages_dropped is the sum of the dropped_* reasons.
struct SimCounters {
  std::uint64_t events_processed = 0;
  std::uint64_t ticks = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_delivered = 0;
  std::uint64_t messages_duplicated = 0;
  std::uint64_t messages_dropped = 0;
  std::uint64_t dropped_loss = 0;
  std::uint64_t dropped_partition = 0;
  std::uint64_t dropped_node_down = 0;
  std::uint64_t dropped_unknown_destination = 0;
  std::uint64_t dropped_overflow = 0;
  std::uint64_t persist_ops = 0;
  std::uint64_t core_events = 0;
  std::uint64_t crashes = 0;
  std::uint64_t restarts = 0;
};

// One processed event, as the observer sees it.
struct ProcessedEvent {
  Instant time;
  EventKind kind = EventKind::kTick;
  std::uint32_t node = 0;  // the node it happened to (receiver for kDeliver)
  std::uint32_t from = 0;  // sender for kDeliver, else == node
  std::uint64_t payload_hash = 0;  // kDeliver only
  bool dropped = false;            // kDeliver whose receiver was down or cut off
};

// A NodeId for simulated node number `index`: distinct for distinct indices,
// and well spread in its first bytes (which Id32Hash uses).
NodeId sim_node_id(std::uint32_t index);

class Simulator {
 public:
  using Observer = std::function<void(const Simulator&, const ProcessedEvent&)>;
  using CoreEventSink = std::function<void(const Simulator&, std::uint32_t node, const CoreEvent&)>;

  static Result<std::unique_ptr<Simulator>> create(const SimOptions& options, CoreFactory factory);
  // Precondition: validate_sim_options(options) is ok and factory is set.
  Simulator(const SimOptions& options, CoreFactory factory);

  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Adds a node, creates its core and ticks it at now().
  Status add_node(const NodeId& id);

  // Faults. crash() acts at once; crash_at()/restart() are scheduled events.
  // Crashing a crashed node or restarting a running one does nothing.
  Status crash(const NodeId& id);
  Status crash_at(const NodeId& id, Instant at);
  Status restart(const NodeId& id, Instant at);
  Status cut(const NodeId& a, const NodeId& b);
  Status heal(const NodeId& a, const NodeId& b);
  void heal_all() { network_.heal_all(); }
  // Cuts every link between a node of `side_a` and a node of `side_b`.
  Status partition(std::span<const NodeId> side_a, std::span<const NodeId> side_b);
  Status set_default_link(const LinkOptions& options) { return network_.set_default_link(options); }
  Status set_link(const NodeId& from, const NodeId& to, const LinkOptions& options);
  Status set_disk_options(const NodeId& id, const DiskOptions& options);
  // Every link without a set_link() override takes its options from `model`.
  void set_link_model(LinkModel model) { network_.set_link_model(std::move(model)); }

  // A host-initiated call on a running core (publish a record, leave): runs
  // `action` at now() and applies the Effects it returns like an event's.
  // NotFound for an unknown node, Unavailable for a node that is down.
  Status act(const NodeId& id, const std::function<Effects(Core&, Instant)>& action);

  // Running. step() processes the next live event (false when none is
  // left); run_until() processes every event up to and including `deadline`
  // and leaves the clock there.
  bool step();
  Status run_until(Instant deadline);
  Status run_for(Duration duration) { return run_until(now() + duration); }

  // Hooks: called after every processed event / for every core event.
  void set_observer(Observer observer) { observer_ = std::move(observer); }
  void set_core_event_sink(CoreEventSink sink) { sink_ = std::move(sink); }

  // Inspection.
  Instant now() const { return instant_from_us(queue_.now_us()); }
  std::uint64_t seed() const { return options_.seed; }
  std::uint64_t trace_hash() const { return trace_hash_; }
  const SimCounters& counters() const { return counters_; }
  std::size_t node_count() const { return nodes_.size(); }
  const NodeId& node_id(std::uint32_t index) const { return nodes_.at(index).id; }
  Result<std::uint32_t> index_of(const NodeId& id) const;
  bool is_up(const NodeId& id) const;
  // The running core, or null when the node is down or unknown.
  Core* core(const NodeId& id);
  const Core* core_at(std::uint32_t index) const { return nodes_.at(index).core.get(); }
  // What is on the node's disk now; null for an unknown node.
  const DurableRecords* durable(const NodeId& id) const;
  std::size_t pending_events() const { return queue_.size(); }
  std::uint32_t messages_in_flight() const { return slab_.in_use(); }

 private:
  static constexpr std::int64_t kNoWake = std::numeric_limits<std::int64_t>::max();

  // What every event reads comes first, in one cache line: at 10,000 nodes
  // each event lands on a cold node.
  struct alignas(64) NodeState {
    NodeId id;
    std::unique_ptr<Core> core;
    std::int64_t wake_us = kNoWake;
    std::uint32_t incarnation = 0;  // bumped by each crash: stale events carry an old one
    std::uint32_t tick_token = 0;   // only the newest scheduled tick is live
    bool up = false;
    std::uint64_t seed_base = 0;
    SimDisk disk;
  };

  bool process(const Event& event);
  void prefetch_next() const;
  bool process_tick(const Event& event);
  bool process_deliver(const Event& event, ProcessedEvent& seen);
  bool process_disk_done(const Event& event);
  void start_core(std::uint32_t index);
  void crash_now(std::uint32_t index);
  void apply(std::uint32_t index, Effects&& effects);
  void send_all(std::uint32_t from, std::vector<OutMessage>& messages);
  void emit_events(std::uint32_t index, const std::vector<CoreEvent>& events);
  void schedule_wake(std::uint32_t index, std::int64_t at_us);
  void record(const ProcessedEvent& seen);
  void count_drop(std::uint64_t& reason) {
    ++reason;
    ++counters_.messages_dropped;
  }

  SimOptions options_;
  CoreFactory factory_;
  Rng rng_;
  EventQueue queue_;
  PayloadSlab slab_;
  Network network_;
  std::vector<NodeState> nodes_;  // index = order of add_node
  std::vector<NodeId> node_ids_;  // nodes_[i].id, dense: a delivery reads its sender's id from here
  static constexpr std::uint32_t kNoIndex = NodeIndex::kNone;
  std::uint32_t find_index(const NodeId& id) const;
  void insert_index(const NodeId& id, std::uint32_t index);
  NodeIndex index_;  // NodeId -> index into nodes_ (sim/node_index.h)
  SimCounters counters_;
  std::uint64_t trace_hash_ = 0;
  Observer observer_;
  CoreEventSink sink_;
};

}  // namespace polder::sim
