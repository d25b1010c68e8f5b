#include "sim/simulator.h"

#include <cassert>
#include <cstring>
#include <string>
#include <utility>

#include "sim/hash.h"

namespace polder::sim {

namespace {

std::uint64_t hash_string(const std::string& s) {
  return hash_bytes({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

}  // namespace

Status validate_sim_options(const SimOptions& options) {
  POLDER_RETURN_IF_ERROR(validate_network_options(options.network));
  POLDER_RETURN_IF_ERROR(validate_disk_options(options.disk));
  if (options.nodes_max == 0) return invalid_argument("nodes_max must be at least 1");
  if (options.events_per_instant_max == 0) return invalid_argument("events_per_instant_max must be at least 1");
  return Status::ok();
}

NodeId sim_node_id(std::uint32_t index) {
  NodeId::Bytes bytes{};
  const std::uint64_t spread = mix64(std::uint64_t{index} + 1);
  std::memcpy(bytes.data(), &spread, sizeof spread);
  std::memcpy(bytes.data() + 8, &index, sizeof index);  // makes distinctness obvious
  return NodeId(bytes);
}

Result<std::unique_ptr<Simulator>> Simulator::create(const SimOptions& options, CoreFactory factory) {
  POLDER_RETURN_IF_ERROR(validate_sim_options(options));
  if (!factory) return invalid_argument("a core factory is required");
  return std::make_unique<Simulator>(options, std::move(factory));
}

Simulator::Simulator(const SimOptions& options, CoreFactory factory)
    : options_(options),
      factory_(std::move(factory)),
      rng_(options.seed),
      slab_(options.network.in_flight_messages_max),
      network_(options.network) {
  assert(validate_sim_options(options).is_ok());
  assert(factory_);
  trace_hash_ = mix64(options.seed ^ 0x706f6c6465722d73ULL);  // "polder-s"
}

// ---- Setup and faults -------------------------------------------------------

Status Simulator::add_node(const NodeId& id) {
  if (nodes_.size() >= options_.nodes_max) {
    return resource_exhausted("simulator is at nodes_max = " + std::to_string(options_.nodes_max));
  }
  if (find_index(id) != kNoIndex) return Status(StatusCode::kAlreadyExists, "node " + id.short_hex() + " already added");
  const auto index = static_cast<std::uint32_t>(nodes_.size());
  NodeState& node = nodes_.emplace_back();
  node.id = id;
  node_ids_.push_back(id);
  node.disk.set_options(options_.disk);
  node.seed_base = rng_.next();  // per-node seeds come from the run's one Rng
  insert_index(id, index);
  start_core(index);
  return Status::ok();
}

std::uint32_t Simulator::find_index(const NodeId& id) const {
  return index_.find(id);
}

void Simulator::insert_index(const NodeId& id, std::uint32_t index) { index_.insert(id, index); }

Result<std::uint32_t> Simulator::index_of(const NodeId& id) const {
  const std::uint32_t index = find_index(id);
  if (index == kNoIndex) return not_found("unknown node " + id.short_hex());
  return index;
}

Status Simulator::crash(const NodeId& id) {
  auto index = index_of(id);
  if (!index) return index.status();
  Event event;
  event.time_us = queue_.now_us();
  event.kind = EventKind::kCrash;
  event.node = *index;
  process(event);
  return Status::ok();
}

Status Simulator::crash_at(const NodeId& id, Instant at) {
  auto index = index_of(id);
  if (!index) return index.status();
  if (to_us(at) < queue_.now_us()) return invalid_argument("crash time is in the past");
  Event event;
  event.time_us = to_us(at);
  event.kind = EventKind::kCrash;
  event.node = *index;
  queue_.push(event);
  return Status::ok();
}

Status Simulator::restart(const NodeId& id, Instant at) {
  auto index = index_of(id);
  if (!index) return index.status();
  if (to_us(at) < queue_.now_us()) return invalid_argument("restart time is in the past");
  Event event;
  event.time_us = to_us(at);
  event.kind = EventKind::kRestart;
  event.node = *index;
  queue_.push(event);
  return Status::ok();
}

Status Simulator::cut(const NodeId& a, const NodeId& b) {
  auto ia = index_of(a);
  if (!ia) return ia.status();
  auto ib = index_of(b);
  if (!ib) return ib.status();
  network_.cut(*ia, *ib);
  return Status::ok();
}

Status Simulator::heal(const NodeId& a, const NodeId& b) {
  auto ia = index_of(a);
  if (!ia) return ia.status();
  auto ib = index_of(b);
  if (!ib) return ib.status();
  network_.heal(*ia, *ib);
  return Status::ok();
}

Status Simulator::partition(std::span<const NodeId> side_a, std::span<const NodeId> side_b) {
  // Resolve every id first, so a bad id changes nothing.
  std::vector<std::uint32_t> a, b;
  for (const NodeId& id : side_a) {
    auto index = index_of(id);
    if (!index) return index.status();
    a.push_back(*index);
  }
  for (const NodeId& id : side_b) {
    auto index = index_of(id);
    if (!index) return index.status();
    b.push_back(*index);
  }
  for (std::uint32_t x : a) {
    for (std::uint32_t y : b) network_.cut(x, y);
  }
  return Status::ok();
}

Status Simulator::set_link(const NodeId& from, const NodeId& to, const LinkOptions& options) {
  auto ifrom = index_of(from);
  if (!ifrom) return ifrom.status();
  auto ito = index_of(to);
  if (!ito) return ito.status();
  return network_.set_link(*ifrom, *ito, options);
}

Status Simulator::set_disk_options(const NodeId& id, const DiskOptions& options) {
  auto index = index_of(id);
  if (!index) return index.status();
  POLDER_RETURN_IF_ERROR(validate_disk_options(options));
  nodes_[*index].disk.set_options(options);
  return Status::ok();
}

Status Simulator::act(const NodeId& id, const std::function<Effects(Core&, Instant)>& action) {
  auto index = index_of(id);
  if (!index) return index.status();
  NodeState& node = nodes_[*index];
  if (!node.up) return unavailable("node " + id.short_hex() + " is down");
  apply(*index, action(*node.core, now()));
  return Status::ok();
}

bool Simulator::is_up(const NodeId& id) const {
  const std::uint32_t index = find_index(id);
  return index != kNoIndex && nodes_[index].up;
}

Core* Simulator::core(const NodeId& id) {
  const std::uint32_t index = find_index(id);
  return index == kNoIndex ? nullptr : nodes_[index].core.get();
}

const DurableRecords* Simulator::durable(const NodeId& id) const {
  const std::uint32_t index = find_index(id);
  return index == kNoIndex ? nullptr : &nodes_[index].disk.durable();
}

// ---- Running ----------------------------------------------------------------

bool Simulator::step() {
  while (!queue_.empty()) {  // bounded: each iteration pops one event
    if (process(queue_.pop())) return true;
  }
  return false;
}

Status Simulator::run_until(Instant deadline) {
  const std::int64_t deadline_us = to_us(deadline);
  if (deadline_us < queue_.now_us()) {
    return invalid_argument("run_until(" + std::to_string(deadline_us) + " us) is before now (" +
                            std::to_string(queue_.now_us()) + " us)");
  }
  std::int64_t instant_us = -1;
  std::uint64_t events_at_instant = 0;
  // Bounded: the queue is finite at each instant, and events_per_instant_max
  // catches a core that keeps scheduling work at the same instant.
  while (!queue_.empty() && queue_.next_time_us() <= deadline_us) {
    const Event event = queue_.pop();
    if (event.time_us != instant_us) {
      instant_us = event.time_us;
      events_at_instant = 0;
    }
    if (++events_at_instant > options_.events_per_instant_max) {
      return resource_exhausted("livelock: more than " + std::to_string(options_.events_per_instant_max) +
                                " events at virtual time " + std::to_string(instant_us) + " us (seed " +
                                std::to_string(options_.seed) + ")");
    }
    prefetch_next();
    process(event);
  }
  queue_.advance_to(deadline_us);
  return Status::ok();
}

// While one event runs (microseconds at 10,000 nodes, most of it cache
// misses), the lines the next ones start with are fetched: the next
// event's node and payload, and the nodes of the two after it. A hint only:
// nothing read here decides anything.
void Simulator::prefetch_next() const {
  if (queue_.empty()) return;
  const Event& next = queue_.peek();
  if (next.node < nodes_.size()) {
    const NodeState& node = nodes_[next.node];
    __builtin_prefetch(&node);
    if (next.kind == EventKind::kDeliver) {
      slab_.prefetch(next.payload);
      if (next.from < node_ids_.size()) __builtin_prefetch(&node_ids_[next.from]);
    }
  }
  for (std::size_t i = 0; i < 2; ++i) {
    const Event* soon = queue_.soon(i);
    if (soon != nullptr && soon->node < nodes_.size()) __builtin_prefetch(&nodes_[soon->node]);
  }
}

// Returns false for a stale event (a superseded tick, a disk write or tick
// of a node that crashed since): it is skipped, not counted, not hashed.
bool Simulator::process(const Event& event) {
  ProcessedEvent seen;
  seen.time = instant_from_us(event.time_us);
  seen.kind = event.kind;
  seen.node = event.node;
  seen.from = event.node;
  switch (event.kind) {
    case EventKind::kTick:
      if (!process_tick(event)) return false;
      break;
    case EventKind::kDeliver:
      process_deliver(event, seen);
      break;
    case EventKind::kDiskDone:
      if (!process_disk_done(event)) return false;
      break;
    case EventKind::kCrash:
      record(seen);
      if (nodes_[event.node].up) crash_now(event.node);
      break;
    case EventKind::kRestart:
      record(seen);
      if (!nodes_[event.node].up) {
        ++counters_.restarts;
        start_core(event.node);
      }
      break;
  }
  if (observer_) observer_(*this, seen);
  return true;
}

bool Simulator::process_tick(const Event& event) {
  NodeState& node = nodes_[event.node];
  if (!node.up || event.incarnation != node.incarnation || event.payload != node.tick_token) return false;
  ProcessedEvent seen{instant_from_us(event.time_us), event.kind, event.node, event.node, 0, false};
  record(seen);
  node.wake_us = kNoWake;
  ++counters_.ticks;
  apply(event.node, node.core->tick(seen.time));
  return true;
}

bool Simulator::process_deliver(const Event& event, ProcessedEvent& seen) {
  seen.from = event.from;
  seen.payload_hash = slab_.content_hash(event.payload);
  NodeState& node = nodes_[event.node];
  // A link cut while the message was in flight drops it too.
  seen.dropped = !node.up || network_.is_cut(event.from, event.node);
  record(seen);
  if (seen.dropped) {
    count_drop(node.up ? counters_.dropped_partition : counters_.dropped_node_down);
    slab_.release(event.payload);
    return true;
  }
  ++counters_.messages_delivered;
  Effects effects = node.core->receive(node_ids_[event.from], slab_.view(event.payload), seen.time);
  slab_.release(event.payload);
  apply(event.node, std::move(effects));
  return true;
}

bool Simulator::process_disk_done(const Event& event) {
  NodeState& node = nodes_[event.node];
  if (!node.up || event.incarnation != node.incarnation) return false;  // lost in a crash
  assert(node.disk.has_pending() && node.disk.pending_count() > 0);
  record({instant_from_us(event.time_us), event.kind, event.node, event.node, 0, false});
  PendingBatch batch = node.disk.complete_oldest();
  assert(batch.done_at_us == event.time_us && "disk batches complete in order");
  counters_.persist_ops += batch.persist.size();
  send_all(event.node, batch.send);
  emit_events(event.node, batch.events);
  return true;
}

void Simulator::start_core(std::uint32_t index) {
  NodeState& node = nodes_[index];
  assert(!node.up && !node.core);
  // A fresh seed per incarnation: a restarted core must not replay the
  // random choices of its previous life.
  const std::uint64_t seed = mix64(node.seed_base ^ mix64(std::uint64_t{node.incarnation} + 1));
  node.core = factory_(node.id, node.disk.durable(), seed);
  assert(node.core && "CoreFactory returned null");
  node.up = true;
  schedule_wake(index, queue_.now_us());
}

void Simulator::crash_now(std::uint32_t index) {
  NodeState& node = nodes_[index];
  assert(node.up);
  node.core.reset();  // all volatile state is gone
  node.disk.crash();  // and so is every write not yet durable
  node.up = false;
  ++node.incarnation;
  node.wake_us = kNoWake;
  ++counters_.crashes;
}

void Simulator::apply(std::uint32_t index, Effects&& effects) {
  NodeState& node = nodes_[index];
  const bool has_persist = !effects.persist.empty();
  if (node.disk.must_queue(has_persist)) {
    if (has_persist || !effects.send.empty() || !effects.events.empty()) {
      PendingBatch batch;
      batch.persist = std::move(effects.persist);
      batch.send = std::move(effects.send);
      batch.events = std::move(effects.events);
      Event done;
      done.time_us = node.disk.submit(std::move(batch), has_persist, queue_.now_us());
      done.kind = EventKind::kDiskDone;
      done.node = index;
      done.incarnation = node.incarnation;
      queue_.push(done);
    }
  } else {
    if (has_persist) {
      node.disk.write(effects.persist);
      counters_.persist_ops += effects.persist.size();
    }
    send_all(index, effects.send);
    emit_events(index, effects.events);
  }
  if (effects.wake_at) schedule_wake(index, to_us(*effects.wake_at));
}

void Simulator::send_all(std::uint32_t from, std::vector<OutMessage>& messages) {
  const std::int64_t now_us = queue_.now_us();
  for (OutMessage& message : messages) {  // bounded by messages.size()
    ++counters_.messages_sent;
    const std::uint32_t to = find_index(message.to);
    if (to == kNoIndex) {
      count_drop(counters_.dropped_unknown_destination);
      continue;
    }
    const Route route = network_.route(from, to, rng_);
    if (route.outcome == Route::Outcome::kLost) {
      count_drop(counters_.dropped_loss);
      continue;
    }
    if (route.outcome == Route::Outcome::kPartitioned) {
      count_drop(counters_.dropped_partition);
      continue;
    }
    const std::uint32_t payload = slab_.store(std::move(message.bytes), route.duplicate ? 2 : 1);
    if (payload == PayloadSlab::kNoSlot) {
      count_drop(counters_.dropped_overflow);
      continue;
    }
    Event deliver;
    deliver.time_us = now_us + route.delay_us;
    deliver.kind = EventKind::kDeliver;
    deliver.node = to;
    deliver.from = from;
    deliver.payload = payload;
    queue_.push(deliver);
    if (route.duplicate) {
      ++counters_.messages_duplicated;
      deliver.time_us = now_us + route.duplicate_delay_us;
      queue_.push(deliver);
    }
  }
}

void Simulator::emit_events(std::uint32_t index, const std::vector<CoreEvent>& events) {
  for (const CoreEvent& event : events) {  // bounded by events.size()
    ++counters_.core_events;
    trace_hash_ = hash_combine(trace_hash_, (std::uint64_t{index} << 8) | 0xe7);
    trace_hash_ = hash_combine(trace_hash_, hash_string(event.kind) ^ (hash_string(event.detail) << 1));
    if (sink_) sink_(*this, index, event);
  }
}

void Simulator::schedule_wake(std::uint32_t index, std::int64_t at_us) {
  NodeState& node = nodes_[index];
  if (at_us < queue_.now_us()) at_us = queue_.now_us();
  // Ticking earlier than asked is allowed ("no later than wake_at"); keep
  // only the earliest request, superseding any later tick already queued.
  if (node.wake_us <= at_us) return;
  node.wake_us = at_us;
  ++node.tick_token;
  Event tick;
  tick.time_us = at_us;
  tick.kind = EventKind::kTick;
  tick.node = index;
  tick.payload = node.tick_token;
  tick.incarnation = node.incarnation;
  queue_.push(tick);
}

void Simulator::record(const ProcessedEvent& seen) {
  ++counters_.events_processed;
  std::uint64_t h = hash_combine(trace_hash_, static_cast<std::uint64_t>(to_us(seen.time)));
  h = hash_combine(h, (std::uint64_t{seen.node} << 32) | seen.from);
  h = hash_combine(h, seen.payload_hash ^ (static_cast<std::uint64_t>(seen.kind) << 1) ^ (seen.dropped ? 1 : 0));
  trace_hash_ = h;
}

}  // namespace polder::sim
