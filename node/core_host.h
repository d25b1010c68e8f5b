// CoreHost: runs one sans-IO core (gossip, consensus, ...) inside polderd,
// the real-world twin of sim::Simulator.
//
// It feeds the core messages and ticks with the real clock and applies the
// Effects in the fixed order of protocol/core.h, with group commit across
// everything that happened in one event-loop turn:
//
//   deliver()/tick_if_due() ... (many)   -> effects queued, nothing sent
//   flush()                              -> 1. one synced RocksDB write of
//                                            every queued persist op
//                                         2. only then the sends
//                                         3. then the events
//
// So no reply ever leaves before the state it promises is on disk, and N
// concurrent decisions cost one fsync. If that write fails the host stops
// (fail-stop, like etcd): flush() returns the error and sends nothing, and
// the daemon exits; acceptor state in memory ahead of the disk is never
// exposed.
//
// Messages a core addresses to its own node are delivered back to it in the
// next turn, without the network.
//
// Thread-safety: none; owned by the daemon's event-loop thread.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "node/storage.h"
#include "node/transport.h"
#include "protocol/codec.h"
#include "protocol/core.h"

namespace polder::node {

// Fault injection for tests: a host whose name equals this variable's value
// kills its process (SIGKILL) right after its first durable write that has
// replies waiting, before any of them is sent.
inline constexpr const char* kKillAfterPersistEnv = "POLDER_FAULT_KILL_AFTER_PERSIST";

class CoreHost {
 public:
  // Wraps a core's message bytes into the envelope payload for this core.
  using Wrap = std::function<Payload(Bytes)>;
  using EventSink = std::function<void(const CoreEvent&)>;

  CoreHost(std::string name, std::unique_ptr<Core> core, NodeId self, Storage& storage, Transport& transport,
           Codec& codec, Wrap wrap, EventSink sink);
  // Numbers outgoing envelopes from `counter` (shared by every sender of
  // this node, so peers' replay windows see one increasing sequence).
  void use_message_ids(std::uint64_t* counter) { shared_message_ids_ = counter; }

  // A message for this core from authenticated peer `from`.
  void deliver(const NodeId& from, std::span<const std::uint8_t> bytes, Instant now);
  // Ticks the core if its wake-up time has come (or it never asked).
  void tick_if_due(Instant now);
  // Effects the daemon got by calling the core directly (an API call such
  // as publishing a record): applied at the next flush like any other.
  void apply(Effects effects) { queue(std::move(effects)); }
  // Self-addressed messages queued by the last flush, delivered now.
  void deliver_loopback(Instant now);
  // Persist (one fsync), then send, then events. Error: the node must stop.
  Status flush(std::int64_t wall_us);
  // Only step 1 of flush() (a later flush() sends and emits): lets the
  // daemon send what else waited for the same fsync before this core's
  // messages. Error: the node must stop.
  Status persist();

  // When the core next wants tick(): the daemon's poll timeout honours it.
  std::optional<Instant> next_wake() const { return wake_at_; }
  Core& core() { return *core_; }
  const std::string& name() const { return name_; }
  std::uint64_t messages_sent() const { return messages_sent_; }

 private:
  void queue(Effects effects);

  std::string name_;
  std::unique_ptr<Core> core_;
  NodeId self_;
  Storage& storage_;
  Transport& transport_;
  Codec& codec_;
  GroupCommitter committer_;
  Wrap wrap_;
  EventSink sink_;
  std::vector<OutMessage> outbox_;
  std::vector<CoreEvent> events_;
  std::deque<Bytes> loopback_;
  std::optional<Instant> wake_at_;
  bool ticked_once_ = false;
  std::uint64_t next_message_id_ = 1;
  std::uint64_t* shared_message_ids_ = nullptr;  // the daemon's one peer sequence (node/replay_window.h)
  std::uint64_t messages_sent_ = 0;
  bool kill_after_persist_ = false;
};

}  // namespace polder::node
