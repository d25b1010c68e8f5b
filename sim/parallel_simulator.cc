#include "sim/parallel_simulator.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "sim/hash.h"

namespace polder::sim {

namespace {

std::uint64_t hash_string(const std::string& s) {
  return hash_bytes({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

// Spins this many times on a hand-off before sleeping on the futex: a
// window is milliseconds of work, so the other side is usually close, but
// on a loaded machine spinning longer only steals its core.
constexpr int kSpinsBeforeWait = 1000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

Status validate_parallel_sim_options(const ParallelSimOptions& options) {
  if (options.partitions == 0 || options.partitions > ParallelSimOptions::kPartitionsMax) {
    return invalid_argument("partitions (threads) must be in [1, " +
                            std::to_string(ParallelSimOptions::kPartitionsMax) + "]");
  }
  if (options.partitions > 1 && options.lookahead_us <= 0) {
    return invalid_argument("more than one partition needs a positive lookahead (minimum cross-partition latency)");
  }
  if (options.in_flight_messages_max == 0 || options.in_flight_messages_max == 0xffffffffU) {
    return invalid_argument("in_flight_messages_max must be in [1, 2^32-2]");
  }
  if (options.events_per_instant_max == 0) return invalid_argument("events_per_instant_max must be at least 1");
  return Status::ok();
}

Result<std::unique_ptr<ParallelSimulator>> ParallelSimulator::create(const ParallelSimOptions& options,
                                                                     CoreFactory factory, LinkModel links) {
  POLDER_RETURN_IF_ERROR(validate_parallel_sim_options(options));
  if (!factory) return invalid_argument("a core factory is required");
  if (!links) return invalid_argument("a link model is required");
  return std::make_unique<ParallelSimulator>(options, std::move(factory), std::move(links));
}

ParallelSimulator::ParallelSimulator(const ParallelSimOptions& options, CoreFactory factory, LinkModel links)
    : options_(options), factory_(std::move(factory)), network_(NetworkOptions{}), rng_(options.seed) {
  assert(validate_parallel_sim_options(options).is_ok());
  network_.set_link_model(std::move(links));
  for (std::uint32_t p = 0; p < options_.partitions; ++p) {
    parts_.push_back(std::make_unique<Partition>(options_.in_flight_messages_max));
  }
}

ParallelSimulator::~ParallelSimulator() { stop_workers(); }

// ---- Setup (host thread) ----------------------------------------------------

Status ParallelSimulator::add_node(const NodeId& id, std::uint32_t partition) {
  if (partition >= options_.partitions) {
    return invalid_argument("partition " + std::to_string(partition) + " is not below " +
                            std::to_string(options_.partitions));
  }
  if (nodes_.size() >= (std::size_t{1} << 23)) return resource_exhausted("too many nodes for the event keys");
  if (find_index(id) != kNoIndex) return Status(StatusCode::kAlreadyExists, "node " + id.short_hex() + " already added");
  const auto index = static_cast<std::uint32_t>(nodes_.size());
  NodeState& node = nodes_.emplace_back();
  node.id = id;
  node.partition = partition;
  node.seed_base = rng_.next();
  node.rng = Rng(mix64(node.seed_base ^ 0x6e6574776f726b00ULL));  // "network"
  node_ids_.push_back(id);
  insert_index(id, index);
  parts_[partition]->to_start.emplace_back(index, now_us_);
  return Status::ok();
}

std::uint32_t ParallelSimulator::find_index(const NodeId& id) const {
  // sim_node_id(i) carries i in bytes 8..11: for such ids one dense line
  // (node_ids_) answers, instead of a probe of the 1.3 MB index at 10,000
  // nodes on every message sent. Any other id takes the index.
  std::uint32_t hint = 0;
  std::memcpy(&hint, id.bytes().data() + 8, sizeof hint);
  if (hint < node_ids_.size() && node_ids_[hint] == id) return hint;
  return index_.find(id);
}

void ParallelSimulator::insert_index(const NodeId& id, std::uint32_t index) { index_.insert(id, index); }

Result<std::uint32_t> ParallelSimulator::index_of(const NodeId& id) const {
  const std::uint32_t index = find_index(id);
  if (index == kNoIndex) return not_found("unknown node " + id.short_hex());
  return index;
}

bool ParallelSimulator::is_up(const NodeId& id) const {
  const std::uint32_t index = find_index(id);
  return index != kNoIndex && nodes_[index].up;
}

// A crash or restart of `id` at `at`, in its partition's queue.
Status ParallelSimulator::push_host_event(EventKind kind, const NodeId& id, Instant at, const char* what) {
  auto index = index_of(id);
  if (!index) return index.status();
  if (to_us(at) < now_us_) return invalid_argument(std::string(what) + " time is in the past");
  Event event;
  event.time_us = to_us(at);
  event.seq = host_key(host_keys_++);
  event.kind = kind;
  event.node = *index;
  event.from = *index;
  parts_[nodes_[*index].partition]->queue.push_keyed(event);
  return Status::ok();
}

Status ParallelSimulator::crash_at(const NodeId& id, Instant at) {
  return push_host_event(EventKind::kCrash, id, at, "crash");
}

Status ParallelSimulator::restart(const NodeId& id, Instant at) {
  return push_host_event(EventKind::kRestart, id, at, "restart");
}

Status ParallelSimulator::act(const NodeId& id, const std::function<Effects(Core&, Instant)>& action) {
  auto index = index_of(id);
  if (!index) return index.status();
  NodeState& node = nodes_[*index];
  if (!node.up) return unavailable("node " + id.short_hex() + " is down");
  apply(node.partition, *index, action(*node.core, now()), now_us_);
  return Status::ok();
}

std::uint64_t ParallelSimulator::trace_hash() const {
  std::uint64_t h = mix64(options_.seed ^ 0x706f6c6465722d70ULL);  // "polder-p"
  for (const NodeState& node : nodes_) h = hash_combine(h, node.trace);
  return h;
}

SimCounters ParallelSimulator::counters() const {
  SimCounters sum;
  for (const auto& part : parts_) {
    const SimCounters& c = part->counters;
    sum.events_processed += c.events_processed;
    sum.ticks += c.ticks;
    sum.messages_sent += c.messages_sent;
    sum.messages_delivered += c.messages_delivered;
    sum.messages_duplicated += c.messages_duplicated;
    sum.messages_dropped += c.messages_dropped;
    sum.dropped_loss += c.dropped_loss;
    sum.dropped_partition += c.dropped_partition;
    sum.dropped_node_down += c.dropped_node_down;
    sum.dropped_unknown_destination += c.dropped_unknown_destination;
    sum.dropped_overflow += c.dropped_overflow;
    sum.persist_ops += c.persist_ops;
    sum.core_events += c.core_events;
    sum.crashes += c.crashes;
    sum.restarts += c.restarts;
  }
  return sum;
}

// ---- Windows ----------------------------------------------------------------

Status ParallelSimulator::run_until(Instant deadline) {
  const std::int64_t deadline_us = to_us(deadline);
  if (deadline_us < now_us_) {
    return invalid_argument("run_until(" + std::to_string(deadline_us) + " us) is before now (" +
                            std::to_string(now_us_) + " us)");
  }
  const std::int64_t end_us = deadline_us + 1;  // events at the deadline run too
  const std::uint32_t count = options_.partitions;
  if (count > 1 && workers_.empty()) start_workers();
  while (frontier_us_ < end_us) {  // bounded: the frontier moves >= 1 us per window
    const std::int64_t window_end = count == 1 ? end_us : std::min(frontier_us_ + options_.lookahead_us, end_us);
    window_ = windows_++;
    window_end_us_ = window_end;
    in_window_ = true;
    if (count > 1) {
      done_.store(0, std::memory_order_relaxed);
      go_.store(window_ + 1, std::memory_order_release);
      go_.notify_all();
    }
    run_window(0, window_end, window_);
    if (count > 1) {
      for (int spins = 0; done_.load(std::memory_order_acquire) < count - 1; ++spins) {  // bounded by the workers' window
        if (spins < kSpinsBeforeWait) {
          cpu_relax();
        } else {
          const std::uint32_t seen = done_.load(std::memory_order_acquire);
          if (seen < count - 1) done_.wait(seen, std::memory_order_acquire);
        }
      }
    }
    in_window_ = false;
    frontier_us_ = window_end;
    for (const auto& part : parts_) {
      if (!part->status.is_ok()) return part->status;
    }
  }
  // What the last window sent across waits in its outboxes: deliver it now,
  // so the host's calls (act, crash_at) see every queue complete.
  if (count > 1) {
    for (std::uint32_t p = 0; p < count; ++p) drain_inbox(p, window_ & 1);
    for (const auto& part : parts_) {
      for (auto& box : part->outbox[window_ & 1]) box.clear();
    }
  }
  for (const auto& part : parts_) part->queue.advance_to(deadline_us);
  now_us_ = deadline_us;
  return Status::ok();
}

void ParallelSimulator::start_workers() {
  for (std::uint32_t p = 1; p < options_.partitions; ++p) workers_.emplace_back([this, p] { worker(p); });
}

void ParallelSimulator::stop_workers() {
  if (workers_.empty()) return;
  stop_.store(true, std::memory_order_release);
  go_.fetch_add(1, std::memory_order_release);
  go_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void ParallelSimulator::worker(std::uint32_t p) {
  std::uint64_t seen = 0;
  for (;;) {  // one iteration per window, until stop_
    std::uint64_t go = go_.load(std::memory_order_acquire);
    for (int spins = 0; go == seen; ++spins) {
      if (spins < kSpinsBeforeWait) {
        cpu_relax();
      } else {
        go_.wait(seen, std::memory_order_acquire);
      }
      go = go_.load(std::memory_order_acquire);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = go;
    run_window(p, window_end_us_, go - 1);
    done_.fetch_add(1, std::memory_order_acq_rel);
    done_.notify_one();
  }
}

void ParallelSimulator::run_window(std::uint32_t p, std::int64_t end_us, std::uint64_t window) {
  Partition& part = *parts_[p];
  for (auto& box : part.outbox[window & 1]) box.clear();  // copied out in the previous window (or by the host)
  if (window > 0) drain_inbox(p, (window - 1) & 1);
  for (const auto& [index, at_us] : part.to_start) start_core(p, index, at_us);  // in index order
  part.to_start.clear();
  // Bounded: the queue is finite below end_us, and events_per_instant_max
  // catches a core that keeps scheduling work at the same instant.
  while (!part.queue.empty() && part.queue.next_time_us() < end_us) {
    const Event event = part.queue.pop();
    if (event.time_us != part.instant_us) {
      part.instant_us = event.time_us;
      part.events_at_instant = 0;
    }
    if (++part.events_at_instant > options_.events_per_instant_max) {
      part.status = resource_exhausted("livelock: more than " + std::to_string(options_.events_per_instant_max) +
                                       " events at virtual time " + std::to_string(event.time_us) + " us (seed " +
                                       std::to_string(options_.seed) + ")");
      return;
    }
    prefetch_next(part);
    process(p, event);
  }
}

// Copies (does not take) what other partitions sent to `p`: their senders
// clear the boxes later. Bytes in p's own box were never put there.
void ParallelSimulator::drain_inbox(std::uint32_t p, std::uint32_t parity) {
  for (std::uint32_t src = 0; src < options_.partitions; ++src) {  // bounded by partitions
    for (const Crossing& c : parts_[src]->outbox[parity][p]) accept_copy(p, c);
  }
}

void ParallelSimulator::accept_copy(std::uint32_t p, const Crossing& crossing) {
  Partition& part = *parts_[p];
  const std::uint32_t payload = part.slab.store_copy(crossing.bytes, crossing.hash, crossing.duplicate ? 2 : 1);
  if (payload == PayloadSlab::kNoSlot) {
    ++part.counters.dropped_overflow;
    ++part.counters.messages_dropped;
    return;
  }
  Event first = crossing.deliver;
  first.payload = payload;
  part.queue.push_keyed(first);
  if (crossing.duplicate) {
    Event second = first;
    second.time_us = crossing.duplicate_time_us;
    second.seq = crossing.duplicate_key;
    part.queue.push_keyed(second);
  }
}

void ParallelSimulator::accept(std::uint32_t p, Crossing&& crossing) {
  Partition& part = *parts_[p];
  const std::uint32_t payload = part.slab.store(std::move(crossing.bytes), crossing.duplicate ? 2 : 1);
  if (payload == PayloadSlab::kNoSlot) {
    ++part.counters.dropped_overflow;
    ++part.counters.messages_dropped;
    return;
  }
  crossing.deliver.payload = payload;
  part.queue.push_keyed(crossing.deliver);
  if (crossing.duplicate) {
    Event second = crossing.deliver;
    second.time_us = crossing.duplicate_time_us;
    second.seq = crossing.duplicate_key;
    part.queue.push_keyed(second);
  }
}

// ---- Events (partition threads) ---------------------------------------------

void ParallelSimulator::prefetch_next(const Partition& part) const {
  if (part.queue.empty()) return;
  const Event& next = part.queue.peek();
  if (next.node < nodes_.size()) {
    __builtin_prefetch(&nodes_[next.node]);
    if (next.kind == EventKind::kDeliver) {
      part.slab.prefetch(next.payload);
      if (next.from < node_ids_.size()) __builtin_prefetch(&node_ids_[next.from]);
    }
  }
  for (std::size_t i = 0; i < 2; ++i) {
    const Event* soon = part.queue.soon(i);
    if (soon != nullptr && soon->node < nodes_.size()) __builtin_prefetch(&nodes_[soon->node]);
  }
}

void ParallelSimulator::record(Partition& part, NodeState& node, std::int64_t time_us, EventKind kind,
                               std::uint32_t from, std::uint64_t payload_hash, bool dropped) {
  ++part.counters.events_processed;
  std::uint64_t h = hash_combine(node.trace, static_cast<std::uint64_t>(time_us));
  h = hash_combine(h, (static_cast<std::uint64_t>(kind) << 32) | from);
  node.trace = hash_combine(h, payload_hash ^ (dropped ? 1 : 0));
}

void ParallelSimulator::process(std::uint32_t p, const Event& event) {
  Partition& part = *parts_[p];
  NodeState& node = nodes_[event.node];
  assert(node.partition == p && "an event runs in its node's partition");
  switch (event.kind) {
    case EventKind::kTick:
      if (!node.up || event.incarnation != node.incarnation || event.payload != node.tick_token) return;  // stale
      process_tick(p, event);
      break;
    case EventKind::kDeliver:
      process_deliver(p, event);
      break;
    case EventKind::kCrash:
      record(part, node, event.time_us, event.kind, event.node, 0, false);
      if (node.up) crash_now(p, event.node);
      break;
    case EventKind::kRestart:
      record(part, node, event.time_us, event.kind, event.node, 0, false);
      if (!node.up) {
        ++part.counters.restarts;
        start_core(p, event.node, event.time_us);
      }
      break;
    case EventKind::kDiskDone:
      assert(false && "ParallelSimulator has no slow disks");
      return;
  }
  if (observer_) observer_(p, event.node, instant_from_us(event.time_us));
}

void ParallelSimulator::process_tick(std::uint32_t p, const Event& event) {
  Partition& part = *parts_[p];
  NodeState& node = nodes_[event.node];
  record(part, node, event.time_us, event.kind, event.node, 0, false);
  node.wake_us = kNoWake;
  ++part.counters.ticks;
  apply(p, event.node, node.core->tick(instant_from_us(event.time_us)), event.time_us);
}

void ParallelSimulator::process_deliver(std::uint32_t p, const Event& event) {
  Partition& part = *parts_[p];
  NodeState& node = nodes_[event.node];
  record(part, node, event.time_us, event.kind, event.from, part.slab.content_hash(event.payload), !node.up);
  if (!node.up) {
    ++part.counters.dropped_node_down;
    ++part.counters.messages_dropped;
    part.slab.release(event.payload);
    return;
  }
  ++part.counters.messages_delivered;
  Effects effects =
      node.core->receive(node_ids_[event.from], part.slab.view(event.payload), instant_from_us(event.time_us));
  part.slab.release(event.payload);
  apply(p, event.node, std::move(effects), event.time_us);
}

void ParallelSimulator::start_core(std::uint32_t p, std::uint32_t index, std::int64_t now_us) {
  NodeState& node = nodes_[index];
  assert(!node.up && !node.core);
  const std::uint64_t seed = mix64(node.seed_base ^ mix64(std::uint64_t{node.incarnation} + 1));
  node.core = factory_(node.id, node.durable, seed);
  assert(node.core && "CoreFactory returned null");
  node.up = true;
  schedule_wake(p, index, now_us, now_us);
}

void ParallelSimulator::crash_now(std::uint32_t p, std::uint32_t index) {
  NodeState& node = nodes_[index];
  assert(node.up);
  node.core.reset();
  node.up = false;
  ++node.incarnation;
  node.wake_us = kNoWake;
  ++parts_[p]->counters.crashes;
}

void ParallelSimulator::apply(std::uint32_t p, std::uint32_t index, Effects&& effects, std::int64_t now_us) {
  NodeState& node = nodes_[index];
  Partition& part = *parts_[p];
  for (const PersistOp& op : effects.persist) {  // every write is durable at once
    auto key = std::make_pair(op.column, op.key);
    if (op.erase) {
      node.durable.erase(key);
    } else {
      node.durable[std::move(key)] = op.value;
    }
  }
  part.counters.persist_ops += effects.persist.size();
  send_all(p, index, effects.send, now_us);
  for (const CoreEvent& event : effects.events) {  // bounded by events.size()
    ++part.counters.core_events;
    node.trace = hash_combine(node.trace, (std::uint64_t{index} << 8) | 0xe7);
    node.trace = hash_combine(node.trace, hash_string(event.kind) ^ (hash_string(event.detail) << 1));
    if (sink_) sink_(p, index, instant_from_us(now_us), event);
  }
  if (effects.wake_at) schedule_wake(p, index, to_us(*effects.wake_at), now_us);
}

void ParallelSimulator::send_all(std::uint32_t p, std::uint32_t from, std::vector<OutMessage>& messages,
                                 std::int64_t now_us) {
  Partition& part = *parts_[p];
  NodeState& sender = nodes_[from];
  for (OutMessage& message : messages) {  // bounded by messages.size()
    ++part.counters.messages_sent;
    const std::uint32_t to = find_index(message.to);
    if (to == kNoIndex) {
      ++part.counters.dropped_unknown_destination;
      ++part.counters.messages_dropped;
      continue;
    }
    const Route route = network_.route(from, to, sender.rng);
    if (route.outcome != Route::Outcome::kDeliver) {
      ++(route.outcome == Route::Outcome::kLost ? part.counters.dropped_loss : part.counters.dropped_partition);
      ++part.counters.messages_dropped;
      continue;
    }
    // At least 1 us: what a node handles at an instant was sent before it
    // (or by itself), which is what makes the order partition-independent.
    Crossing c;
    c.deliver.time_us = now_us + std::max<std::int64_t>(route.delay_us, 1);
    c.deliver.seq = next_key(sender);
    c.deliver.kind = EventKind::kDeliver;
    c.deliver.node = to;
    c.deliver.from = from;
    if (route.duplicate) {
      ++part.counters.messages_duplicated;
      c.duplicate = true;
      c.duplicate_time_us = now_us + std::max<std::int64_t>(route.duplicate_delay_us, 1);
      c.duplicate_key = next_key(sender);
    }
    c.bytes = std::move(message.bytes);
    const std::uint32_t dest = nodes_[to].partition;
    if (dest == p || !in_window_) {
      accept(dest, std::move(c));  // on the host between windows every partition is idle
      continue;
    }
    // The lookahead promise: nothing sent across arrives inside this window.
    if (c.deliver.time_us < window_end_us_ || (c.duplicate && c.duplicate_time_us < window_end_us_)) {
      std::fprintf(stderr, "ParallelSimulator: a cross-partition link is shorter than the lookahead (%lld us)\n",
                   static_cast<long long>(options_.lookahead_us));
      std::abort();
    }
    c.hash = hash_bytes(c.bytes);
    part.outbox[window_ & 1][dest].push_back(std::move(c));
  }
}

void ParallelSimulator::schedule_wake(std::uint32_t p, std::uint32_t index, std::int64_t at_us,
                                      std::int64_t now_us) {
  NodeState& node = nodes_[index];
  if (at_us < now_us) at_us = now_us;
  if (node.wake_us <= at_us) return;  // keep only the earliest request
  node.wake_us = at_us;
  ++node.tick_token;
  Event tick;
  tick.time_us = at_us;
  tick.seq = next_key(node);
  tick.kind = EventKind::kTick;
  tick.node = index;
  tick.from = index;
  tick.payload = node.tick_token;
  tick.incarnation = node.incarnation;
  parts_[p]->queue.push_keyed(tick);
}

}  // namespace polder::sim
