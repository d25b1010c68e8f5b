#include "node/core_host.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>

#include <cstring>

#include <spdlog/spdlog.h>

namespace polder::node {

namespace {
// Bound on self-addressed messages held between turns; a core that floods
// itself is a bug, and the assertion names it.
constexpr std::size_t kLoopbackMax = 100'000;
}  // namespace

CoreHost::CoreHost(std::string name, std::unique_ptr<Core> core, NodeId self, Storage& storage, Transport& transport,
                   Codec& codec, Wrap wrap, EventSink sink, CoreHostOptions options)
    : name_(std::move(name)),
      core_(std::move(core)),
      self_(self),
      storage_(storage),
      transport_(transport),
      codec_(codec),
      committer_(storage),
      wrap_(std::move(wrap)),
      sink_(std::move(sink)),
      options_(options) {
  const char* fault = std::getenv(kKillAfterPersistEnv);
  kill_after_persist_ = fault != nullptr && name_ == fault;
  if (!options_.pipelined) return;
  completion_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (completion_fd_ < 0) {
    // Still correct, only slower: every flush waits for its own write.
    spdlog::warn("{}: eventfd failed ({}); group commit stays synchronous", name_, std::strerror(errno));
    options_.pipelined = false;
    return;
  }
  committer_thread_ = std::thread([this] { committer_main(); });
}

CoreHost::~CoreHost() {
  if (committer_thread_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;  // writes not started are dropped: nothing of them was sent
    }
    wake_committer_.notify_one();
    committer_thread_.join();
  }
  if (completion_fd_ >= 0) ::close(completion_fd_);
}

void CoreHost::queue(Effects effects) {
  if (options_.pipelined && !effects.persist.empty()) {
    Status s = storage_.validate(effects.persist);
    assert(s.is_ok() && "core persist batch within storage limits");
    if (!s.is_ok()) {
      spdlog::critical("{}: persist batch refused: {}", name_, s.to_string());
    } else {
      std::size_t size_bytes = 0;
      for (const PersistOp& op : effects.persist) size_bytes += op.key.size() + (op.erase ? 0 : op.value.size());
      const StorageOptions& limits = storage_.options();
      // One write must stay within the storage's batch limits: seal what
      // came before (its sends go with it, after its own ops) and go on.
      if (pending_ops_.size() + effects.persist.size() > limits.batch_ops_max ||
          pending_size_bytes_ + size_bytes > limits.batch_size_bytes_max) {
        seal();
      }
      for (auto& op : effects.persist) pending_ops_.push_back(std::move(op));
      pending_size_bytes_ += size_bytes;
    }
  } else if (!effects.persist.empty()) {
    Status s = committer_.enqueue(std::move(effects.persist));
    // The core asked for more than one batch may hold: a core bug, since
    // every core bounds its records (STYLE.md habit 6).
    assert(s.is_ok() && "core persist batch within storage limits");
    if (!s.is_ok()) spdlog::critical("{}: persist batch refused: {}", name_, s.to_string());
  }
  for (auto& m : effects.send) outbox_.push_back(std::move(m));
  for (auto& e : effects.events) events_.push_back(std::move(e));
  if (effects.wake_at && (!wake_at_ || *effects.wake_at < *wake_at_)) wake_at_ = effects.wake_at;
}

void CoreHost::deliver(const NodeId& from, std::span<const std::uint8_t> bytes, Instant now) {
  queue(core_->receive(from, bytes, now));
}

void CoreHost::tick_if_due(Instant now) {
  if (ticked_once_ && wake_at_ && now < *wake_at_) return;
  ticked_once_ = true;
  wake_at_.reset();
  queue(core_->tick(now));
}

void CoreHost::deliver_loopback(Instant now) {
  std::deque<Bytes> batch;
  batch.swap(loopback_);
  for (const auto& bytes : batch) deliver(self_, bytes, now);
}

Status CoreHost::flush(std::int64_t wall_us) {
  if (!options_.pipelined) return sync_flush(wall_us);
  if (groups_.empty() && pending_ops_.size() <= options_.inline_ops_max) {
    // Nothing in flight and a small write: there is nothing to overlap it
    // with, and handing it to the committer would only add two thread
    // wake-ups to this decision's latency (measured: uncontended p50).
    return inline_flush(wall_us);
  }
  seal();
  POLDER_RETURN_IF_ERROR(complete(wall_us));
  // Backpressure: a disk far slower than the offered load stops the loop
  // here instead of growing the queue without bound.
  while (groups_.size() > options_.groups_in_flight_max) {
    {
      std::unique_lock lock(mutex_);
      const std::uint64_t oldest = groups_.front().write_seq;
      write_done_.wait(lock, [&] { return durable_seq_ >= oldest || !write_status_.is_ok(); });
    }
    POLDER_RETURN_IF_ERROR(complete(wall_us));
  }
  return Status::ok();
}

Status CoreHost::inline_flush(std::int64_t wall_us) {
  POLDER_RETURN_IF_ERROR(inline_persist());
  {
    std::lock_guard lock(mutex_);
    if (!write_status_.is_ok()) return write_failed(write_status_);
  }
  const bool wrote = persisted_unsent_;
  persisted_unsent_ = false;
  send_outbox(wrote, wall_us);
  return Status::ok();
}

// Pipelined: the synced write of an inline flush, on the calling thread.
Status CoreHost::inline_persist() {
  if (pending_ops_.empty()) return Status::ok();
  WriteBatch batch;
  batch.append(std::move(pending_ops_));
  pending_ops_.clear();
  pending_size_bytes_ = 0;
  const Status s = storage_.write(batch, Durability::kSync);
  if (!s.is_ok()) {
    outbox_.clear();
    events_.clear();
    {
      std::lock_guard lock(mutex_);
      if (write_status_.is_ok()) write_status_ = s;  // sticky: every later flush fails too
    }
    return write_failed(s);
  }
  ++inline_writes_;
  persisted_unsent_ = true;
  return Status::ok();
}

Status CoreHost::persist() {
  if (options_.pipelined) {
    // Early only when flush() would write inline anyway: then the caller's
    // other kAsync writes of the turn ride this fsync, as in synchronous
    // mode. Otherwise the committer writes it at flush().
    const bool inline_write = groups_.empty() && pending_ops_.size() <= options_.inline_ops_max;
    return inline_write ? inline_persist() : Status::ok();
  }
  if (committer_.pending_batches() == 0) return Status::ok();
  Status s = committer_.flush();
  if (!s.is_ok()) {
    outbox_.clear();
    events_.clear();
    return write_failed(s);
  }
  persisted_unsent_ = true;
  return Status::ok();
}

Status CoreHost::sync_flush(std::int64_t wall_us) {
  POLDER_RETURN_IF_ERROR(persist());  // a no-op when the daemon already called it this turn
  const bool wrote = persisted_unsent_;
  persisted_unsent_ = false;
  send_outbox(wrote, wall_us);
  return Status::ok();
}

Status CoreHost::write_failed(const Status& s) {
  return Status(s.code(), name_ + ": durable write failed, stopping so no unpersisted promise leaves: " + s.message());
}

void CoreHost::seal() {
  // What persist() wrote inline is durable already; its sends go with this
  // group, after the group's own write if it has one.
  const bool persisted = persisted_unsent_;
  persisted_unsent_ = false;
  if (pending_ops_.empty() && outbox_.empty() && events_.empty()) return;
  Group group;
  group.wrote = persisted;
  if (!pending_ops_.empty()) {
    WriteJob job{++last_write_seq_, std::move(pending_ops_)};
    pending_ops_.clear();
    pending_size_bytes_ = 0;
    {
      std::lock_guard lock(mutex_);
      to_write_.push_back(std::move(job));
    }
    wake_committer_.notify_one();
    group.wrote = true;
  }
  group.write_seq = last_write_seq_;  // a group that wrote nothing waits for the writes before it
  group.out.swap(outbox_);
  group.events.swap(events_);
  groups_.push_back(std::move(group));
}

Status CoreHost::complete(std::int64_t wall_us) {
  if (!options_.pipelined) return Status::ok();
  std::uint64_t count = 0;
  while (::read(completion_fd_, &count, sizeof count) == static_cast<ssize_t>(sizeof count)) {
  }
  std::uint64_t durable = 0;
  Status status;
  {
    std::lock_guard lock(mutex_);
    durable = durable_seq_;
    status = write_status_;
    writes_ = writes_done_ + inline_writes_;
  }
  // In order: a group leaves only after every group before it.
  while (!groups_.empty() && groups_.front().write_seq <= durable) {
    Group group = std::move(groups_.front());
    groups_.pop_front();
    send_and_raise(group.out, group.events, group.wrote, wall_us);
  }
  if (!status.is_ok()) {
    groups_.clear();  // none of them is durable: none may leave
    outbox_.clear();
    events_.clear();
    return write_failed(status);
  }
  return Status::ok();
}

Status CoreHost::drain(std::int64_t wall_us) {
  if (!options_.pipelined) return Status::ok();
  seal();
  {
    std::unique_lock lock(mutex_);
    write_done_.wait(lock, [&] { return durable_seq_ >= last_write_seq_ || !write_status_.is_ok(); });
  }
  return complete(wall_us);
}

void CoreHost::send_one(const NodeId& to, Bytes bytes, std::int64_t wall_us) {
  Envelope env;
  env.sender = self_;
  env.message_id = shared_message_ids_ ? ++*shared_message_ids_ : next_message_id_++;
  env.timestamp_us = wall_us;
  env.payload = wrap_(std::move(bytes));
  auto encoded = codec_.encode(env);
  if (!encoded) {
    spdlog::warn("{}: message to {} not sent: {}", name_, to.short_hex(), encoded.status().message());
    return;
  }
  if (transport_.send_to_peer(to, *encoded).is_ok()) ++messages_sent_;
}

// The committer thread: one synced write of every job queued while the
// previous write ran (within the storage's batch limits), in queue order.
void CoreHost::committer_main() {
  const StorageOptions& limits = storage_.options();
  for (;;) {
    std::vector<WriteJob> jobs;
    {
      std::unique_lock lock(mutex_);
      wake_committer_.wait(lock, [&] { return stopping_ || !to_write_.empty(); });
      if (stopping_) return;
      std::size_t ops = 0, size_bytes = 0;
      while (!to_write_.empty()) {
        std::size_t job_bytes = 0;
        for (const PersistOp& op : to_write_.front().ops) job_bytes += op.key.size() + (op.erase ? 0 : op.value.size());
        if (!jobs.empty() && (ops + to_write_.front().ops.size() > limits.batch_ops_max ||
                              size_bytes + job_bytes > limits.batch_size_bytes_max)) {
          break;
        }
        ops += to_write_.front().ops.size();
        size_bytes += job_bytes;
        jobs.push_back(std::move(to_write_.front()));
        to_write_.pop_front();
      }
    }
    WriteBatch batch;
    for (auto& job : jobs) batch.append(std::move(job.ops));
    const Status s = storage_.write(batch, Durability::kSync);
    {
      std::lock_guard lock(mutex_);
      if (s.is_ok()) {
        durable_seq_ = jobs.back().seq;
        ++writes_done_;
      } else if (write_status_.is_ok()) {
        write_status_ = s;
      }
    }
    write_done_.notify_all();
    const std::uint64_t one = 1;
    (void)!::write(completion_fd_, &one, sizeof one);
    if (!s.is_ok()) return;  // fail-stop: nothing after a failed write may become durable-looking
  }
}

// Sends and raises what the cores queued since the last flush, leaving the
// queues empty.
void CoreHost::send_outbox(bool after_write, std::int64_t wall_us) {
  std::vector<OutMessage> out;
  std::vector<CoreEvent> events;
  out.swap(outbox_);
  events.swap(events_);
  send_and_raise(out, events, after_write, wall_us);
}

void CoreHost::send_and_raise(std::vector<OutMessage>& out, std::vector<CoreEvent>& events, bool after_write,
                              std::int64_t wall_us) {
  if (after_write && kill_after_persist_ && !out.empty()) {
    // Fault injection for tests: die between the durable write and the reply.
    spdlog::critical("{}: {} set: killing this process after a durable write, before its replies",
                     name_, kKillAfterPersistEnv);
    std::raise(SIGKILL);
  }
  // Per peer, in order; bundled when the host was given a bundler.
  std::vector<std::pair<NodeId, std::vector<Bytes>>> by_peer;
  for (auto& m : out) {
    if (m.to == self_) {
      assert(loopback_.size() < kLoopbackMax && "core does not flood itself");
      loopback_.push_back(std::move(m.bytes));
      continue;
    }
    if (!options_.bundle) {
      send_one(m.to, std::move(m.bytes), wall_us);
      continue;
    }
    auto it = std::find_if(by_peer.begin(), by_peer.end(), [&](const auto& p) { return p.first == m.to; });
    if (it == by_peer.end()) it = by_peer.insert(by_peer.end(), {m.to, {}});
    it->second.push_back(std::move(m.bytes));
  }
  for (auto& [peer, messages] : by_peer) {
    std::size_t first = 0;
    while (first < messages.size()) {
      // Cap'n Proto list of Data: a pointer and word padding per element.
      std::size_t end = first, size_bytes = 64;
      while (end < messages.size() && end - first < options_.bundle_messages_max &&
             size_bytes + messages[end].size() + 16 <= options_.bundle_bytes_max) {
        size_bytes += messages[end].size() + 16;
        ++end;
      }
      if (end <= first + 1) {
        send_one(peer, std::move(messages[first]), wall_us);
        first += 1;
        continue;
      }
      messages_bundled_ += end - first;
      send_one(peer, options_.bundle(std::span<const Bytes>(messages.data() + first, end - first)), wall_us);
      first = end;
    }
  }
  // The sink may apply new effects: they go to the next group, not this one.
  for (const auto& e : events) sink_(e);
}

}  // namespace polder::node
