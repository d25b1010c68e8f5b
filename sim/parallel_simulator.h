// ParallelSimulator: the deterministic simulator on several threads.
//
// Purpose: run a large federation (10,000 gossip cores) faster than one
// thread can, with the same guarantee as Simulator: the run is a pure
// function of its seed. Nodes are split into partitions (the caller says
// which node goes where — by region, so most links inside a partition are
// short); each partition has its own event queue, payload slab and
// counters, and runs on its own thread.
//
// Conservative windows. Every link between two partitions takes at least
// `lookahead_us` (the caller's promise, checked on every cross-partition
// send). So within a window [T, T + lookahead) no partition can receive a
// message from another that it has to process inside the window: each
// partition runs the window alone, cross-partition messages go to an
// outbox, and at the next window's start each partition moves what was
// sent to it into its own queue. One barrier per window.
//
// Why the result does not depend on the number of partitions (threads):
//  - an event's place is (time_us, key), key = (origin node, that origin's
//    own count of events it scheduled): fixed by the origin's history, not
//    by when a thread inserted it;
//  - every node draws its network fate (loss, latency) from its own Rng
//    stream, seeded from the run's seed, and its core's seed likewise;
//  - a link's latency is at least 1 us, so everything a node processes at
//    an instant t was scheduled before t, or by the node itself at t;
//  - the trace hash is a per-node chain over the node's own events,
//    folded in node order at the end.
// So each node sees the same events in the same order whatever the
// partitioning; the totals (counters) are sums. Hooks (observer, sink) run
// on partition threads concurrently: they may write only state owned by
// the node they are called for, or per-partition state.
//
// Differences from Simulator: no per-link overrides, cuts or slow disks
// (every write is durable at once); links come from a LinkModel. The
// event order differs from Simulator's (a different tie-break and one Rng
// per node), so the same seed gives another, equally valid, trace.
//
// Thread-safety: one host thread calls every public method; partition
// threads run only inside run_until().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#include "protocol/core.h"
#include "protocol/ids.h"
#include "protocol/rng.h"
#include "protocol/status.h"
#include "protocol/time.h"
#include "sim/event_queue.h"
#include "sim/network.h"
#include "sim/node_index.h"
#include "sim/payload_slab.h"
#include "sim/simulator.h"

namespace polder::sim {

struct ParallelSimOptions {
  static constexpr std::uint32_t kPartitionsMax = 64;

  std::uint64_t seed = 1;
  std::uint32_t partitions = 1;   // = threads
  std::int64_t lookahead_us = 0;  // minimum one-way latency between partitions; > 0 when partitions > 1
  std::uint32_t in_flight_messages_max = 1U << 24;  // per partition
  std::uint64_t events_per_instant_max = 10'000'000;  // livelock guard, per partition
};

Status validate_parallel_sim_options(const ParallelSimOptions& options);

class ParallelSimulator {
 public:
  // Called on the thread of `partition` for every processed event at `node`.
  using Observer = std::function<void(std::uint32_t partition, std::uint32_t node, Instant now)>;
  using CoreEventSink =
      std::function<void(std::uint32_t partition, std::uint32_t node, Instant now, const CoreEvent& event)>;

  static Result<std::unique_ptr<ParallelSimulator>> create(const ParallelSimOptions& options, CoreFactory factory,
                                                           LinkModel links);
  // Precondition: validate_parallel_sim_options(options) is ok, factory and links are set.
  ParallelSimulator(const ParallelSimOptions& options, CoreFactory factory, LinkModel links);
  ~ParallelSimulator();

  ParallelSimulator(const ParallelSimulator&) = delete;
  ParallelSimulator& operator=(const ParallelSimulator&) = delete;

  // Adds a node to `partition`; its core is created and ticked at now()
  // when the next run_until() starts, on the partition's thread (10,000
  // cores' member tables are gigabytes to allocate and clear: that is done
  // by every thread at once). The factory always runs on the partition's
  // thread, concurrently with other partitions' calls.
  Status add_node(const NodeId& id, std::uint32_t partition);

  Status crash_at(const NodeId& id, Instant at);
  Status restart(const NodeId& id, Instant at);
  // Runs `action` on the node's running core at now(), on the host thread.
  Status act(const NodeId& id, const std::function<Effects(Core&, Instant)>& action);

  // Processes every event up to and including `deadline`.
  Status run_until(Instant deadline);

  void set_observer(Observer observer) { observer_ = std::move(observer); }
  void set_core_event_sink(CoreEventSink sink) { sink_ = std::move(sink); }

  Instant now() const { return instant_from_us(now_us_); }
  std::uint64_t seed() const { return options_.seed; }
  std::uint32_t partitions() const { return options_.partitions; }
  std::uint32_t partition_of(std::uint32_t index) const { return nodes_.at(index).partition; }
  std::size_t node_count() const { return nodes_.size(); }
  Result<std::uint32_t> index_of(const NodeId& id) const;
  bool is_up(const NodeId& id) const;
  // The fold of every node's trace chain: equal for equal seeds and calls,
  // whatever the partitioning.
  std::uint64_t trace_hash() const;
  SimCounters counters() const;  // summed over partitions
  std::uint64_t windows() const { return windows_; }

 private:
  static constexpr std::int64_t kNoWake = std::numeric_limits<std::int64_t>::max();
  static constexpr std::uint32_t kNoIndex = NodeIndex::kNone;

  struct alignas(64) NodeState {
    NodeId id;
    std::unique_ptr<Core> core;
    std::int64_t wake_us = kNoWake;
    std::uint32_t incarnation = 0;
    std::uint32_t tick_token = 0;
    std::uint32_t partition = 0;
    bool up = false;
    // Second line: what a send and a record touch.
    Rng rng{0};                   // this node's network draws
    std::uint64_t trace = 0;      // this node's trace chain
    std::uint64_t keys_used = 0;  // events this node scheduled: the tie-break
    std::uint64_t seed_base = 0;
    DurableRecords durable;
  };

  // A message to a node of another partition, waiting for the window's end.
  struct Crossing {
    Event deliver;
    Bytes bytes;  // owned (and freed) by the sending partition; the receiver copies them
    std::uint64_t hash = 0;  // of bytes, computed by the sender while they are in its cache
    bool duplicate = false;
    std::int64_t duplicate_time_us = 0;
    std::uint64_t duplicate_key = 0;
  };

  struct alignas(64) Partition {
    EventQueue queue;
    PayloadSlab slab;
    SimCounters counters;
    Status status = Status::ok();
    std::int64_t instant_us = -1;
    std::uint64_t events_at_instant = 0;
    // outbox[parity][destination partition]: written by this partition in
    // windows of that parity, copied out by the destination at the start
    // of the next one, cleared by this partition at the start of the one
    // after (so every buffer is freed by the thread that allocated it).
    std::vector<Crossing> outbox[2][ParallelSimOptions::kPartitionsMax];
    std::vector<std::pair<std::uint32_t, std::int64_t>> to_start;  // (node, at_us) added since the last run
    explicit Partition(std::uint32_t slab_max) : slab(slab_max) {}
  };

  static std::uint64_t host_key(std::uint64_t n) { return n; }
  std::uint64_t next_key(NodeState& node) {
    return ((static_cast<std::uint64_t>(&node - nodes_.data()) + 1) << 40) | node.keys_used++;
  }
  void run_window(std::uint32_t p, std::int64_t end_us, std::uint64_t window);
  void drain_inbox(std::uint32_t p, std::uint32_t parity);
  void accept(std::uint32_t p, Crossing&& crossing);  // same partition, or the host: takes the bytes
  void accept_copy(std::uint32_t p, const Crossing& crossing);  // from another partition's outbox
  void worker(std::uint32_t p);
  void start_workers();
  void stop_workers();
  void prefetch_next(const Partition& part) const;
  void process(std::uint32_t p, const Event& event);
  void process_tick(std::uint32_t p, const Event& event);
  void process_deliver(std::uint32_t p, const Event& event);
  void start_core(std::uint32_t p, std::uint32_t index, std::int64_t now_us);
  void crash_now(std::uint32_t p, std::uint32_t index);
  void apply(std::uint32_t p, std::uint32_t index, Effects&& effects, std::int64_t now_us);
  void send_all(std::uint32_t p, std::uint32_t from, std::vector<OutMessage>& messages, std::int64_t now_us);
  void schedule_wake(std::uint32_t p, std::uint32_t index, std::int64_t at_us, std::int64_t now_us);
  void record(Partition& part, NodeState& node, std::int64_t time_us, EventKind kind, std::uint32_t from,
              std::uint64_t payload_hash, bool dropped);
  std::uint32_t find_index(const NodeId& id) const;
  void insert_index(const NodeId& id, std::uint32_t index);
  Status push_host_event(EventKind kind, const NodeId& id, Instant at, const char* what);

  ParallelSimOptions options_;
  CoreFactory factory_;
  Network network_;  // a link model and nothing mutable: route() is read-only, shared by the threads
  Rng rng_;
  std::vector<NodeState> nodes_;
  std::vector<NodeId> node_ids_;
  NodeIndex index_;  // NodeId -> index into nodes_ (sim/node_index.h)
  std::vector<std::unique_ptr<Partition>> parts_;
  std::int64_t now_us_ = 0;       // every event before it is processed (host's view)
  std::int64_t frontier_us_ = 0;  // events with time < frontier are processed
  std::uint64_t windows_ = 0;    // windows run so far
  std::uint64_t window_ = 0;     // the current (or last) window's number
  bool in_window_ = false;       // partitions are running: cross-partition sends wait in outboxes
  std::uint64_t host_keys_ = 0;
  Observer observer_;
  CoreEventSink sink_;

  // Window hand-off between the host (partition 0) and the workers.
  std::vector<std::thread> workers_;
  std::atomic<std::uint64_t> go_{0};     // window number released to the workers
  std::atomic<std::uint32_t> done_{0};   // workers finished with the current window
  std::atomic<bool> stop_{false};
  std::int64_t window_end_us_ = 0;       // written before go_ is bumped
};

}  // namespace polder::sim
