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
// Pipelined mode (CoreHostOptions::pipelined): flush() does not wait for
// the disk. It seals the turn's persist ops, sends and events into a group
// and hands the ops to a committer thread, which writes, in one synced
// write, every group that accumulated while its previous write ran. A
// group's sends and events leave only in complete(), once its write (and so
// every earlier one: groups are written in order) is durable; a group that
// wrote nothing still waits behind the groups before it. So the rule above
// holds unchanged — no reply before the state it promises is on disk, and
// effects apply in call order — while the event loop keeps receiving and
// deciding during each fsync, and the next write carries all of it. The
// core's memory runs ahead of the disk, as in synchronous mode between
// deliver() and flush(); nothing of it is visible outside before it is
// durable. A failed write fails every later group too (fail-stop). A
// small flush with nothing in flight is written on the loop thread itself
// (CoreHostOptions::inline_ops_max), since there is nothing to overlap.
//
// Messages a core addresses to its own node are delivered back to it in the
// next turn, without the network.
//
// Thread-safety: none; owned by the daemon's event-loop thread. In
// pipelined mode the host owns one committer thread that touches only the
// queued ops (under mutex_) and Storage::write (thread-safe).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
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

struct CoreHostOptions {
  // Sync on a committer thread; see the header comment.
  bool pipelined = false;
  // Pipelined: groups sealed but not yet completed. flush() waits for the
  // oldest when the bound is reached (backpressure instead of memory).
  std::size_t groups_in_flight_max = 4096;
  // Pipelined: a flush with nothing in flight and at most this many persist
  // ops writes on the calling thread, as in synchronous mode: at low load
  // there is nothing to overlap, and the hand-off costs two wake-ups.
  std::size_t inline_ops_max = 16;
  // Bundles several of a flush's messages for one peer into one payload
  // (consensus::encode_batch), within bundle_messages_max messages and
  // bundle_bytes_max bytes (the receiving core's limits); a lone message
  // goes as it is. Unset: one envelope per message.
  std::function<Bytes(std::span<const Bytes>)> bundle;
  std::size_t bundle_messages_max = 0;
  std::size_t bundle_bytes_max = 0;
};

class CoreHost {
 public:
  // Wraps a core's message bytes into the envelope payload for this core.
  using Wrap = std::function<Payload(Bytes)>;
  using EventSink = std::function<void(const CoreEvent&)>;

  CoreHost(std::string name, std::unique_ptr<Core> core, NodeId self, Storage& storage, Transport& transport,
           Codec& codec, Wrap wrap, EventSink sink, CoreHostOptions options = {});
  ~CoreHost();
  CoreHost(const CoreHost&) = delete;
  CoreHost& operator=(const CoreHost&) = delete;

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
  // Pipelined: seals the turn's effects into a group for the committer and
  // completes what is durable already; it does not wait for the disk.
  Status flush(std::int64_t wall_us);
  // Step 1 of flush() alone (the synced write); the next flush() sends and
  // emits. Lets the daemon put other (kAsync) writes of the turn under the
  // same fsync. Pipelined: writes now, on the calling thread, only when
  // flush() would write inline (nothing in flight, at most inline_ops_max
  // ops); otherwise nothing, and the committer writes at flush() — the
  // caller must then make its own writes durable (Storage::sync()).
  Status persist();
  // Numbers outgoing envelopes from `counter` (shared by every sender of
  // this node, so peers' replay windows see one increasing sequence).
  void use_message_ids(std::uint64_t* counter) { shared_message_ids_ = counter; }
  // Pipelined: sends and raises the events of every group whose write is
  // durable, in order (synchronous mode: nothing to do). Call it when
  // completion_fd() is readable. Error: a write failed; the node must stop.
  Status complete(std::int64_t wall_us);
  // Pipelined: waits until every sealed group is durable and completes it.
  Status drain(std::int64_t wall_us);
  // Pipelined: readable after a write finished (an eventfd; complete()
  // drains it). Pass it to Transport::poll. -1 in synchronous mode.
  int completion_fd() const { return completion_fd_; }
  // Pipelined: groups sealed and not yet completed.
  std::size_t groups_in_flight() const { return groups_.size(); }
  // Synced writes done (pipelined; for profiles).
  std::uint64_t writes() const { return writes_; }
  // Messages that left inside a bundle (CoreHostOptions::bundle).
  std::uint64_t messages_bundled() const { return messages_bundled_; }

  // When the core next wants tick(): the daemon's poll timeout honours it.
  std::optional<Instant> next_wake() const { return wake_at_; }
  Core& core() { return *core_; }
  const std::string& name() const { return name_; }
  std::uint64_t messages_sent() const { return messages_sent_; }

 private:
  // A turn's effects waiting for their write: sent once durable_seq_
  // reaches write_seq (the last write sealed when the group was).
  struct Group {
    std::uint64_t write_seq = 0;
    bool wrote = false;
    std::vector<OutMessage> out;
    std::vector<CoreEvent> events;
  };
  struct WriteJob {
    std::uint64_t seq = 0;
    std::vector<PersistOp> ops;
  };

  void queue(Effects effects);
  void seal();
  void send_outbox(bool after_write, std::int64_t wall_us);
  void send_and_raise(std::vector<OutMessage>& out, std::vector<CoreEvent>& events, bool after_write,
                      std::int64_t wall_us);
  void send_one(const NodeId& to, Bytes bytes, std::int64_t wall_us);
  Status sync_flush(std::int64_t wall_us);
  Status inline_flush(std::int64_t wall_us);
  Status inline_persist();
  Status write_failed(const Status& s);
  void committer_main();

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
  bool persisted_unsent_ = false;                // persist() wrote; the next flush or seal sends after a write
  std::uint64_t messages_sent_ = 0;
  std::uint64_t messages_bundled_ = 0;
  bool kill_after_persist_ = false;

  // Pipelined mode. The loop thread owns groups_, pending_ops_ and
  // last_write_seq_; the committer thread and the loop share what mutex_ guards.
  CoreHostOptions options_;
  std::vector<PersistOp> pending_ops_;
  std::size_t pending_size_bytes_ = 0;
  std::deque<Group> groups_;
  std::uint64_t last_write_seq_ = 0;
  std::uint64_t writes_ = 0;
  std::uint64_t inline_writes_ = 0;
  int completion_fd_ = -1;
  std::mutex mutex_;
  std::condition_variable wake_committer_;
  std::condition_variable write_done_;
  std::deque<WriteJob> to_write_;      // guarded by mutex_
  std::uint64_t durable_seq_ = 0;      // guarded by mutex_
  std::uint64_t writes_done_ = 0;      // guarded by mutex_
  Status write_status_;                // guarded by mutex_: the first failure, sticky
  bool stopping_ = false;              // guarded by mutex_
  std::thread committer_thread_;
};

}  // namespace polder::node
