#include "node/core_host.h"

#include <csignal>
#include <cstdlib>

#include <spdlog/spdlog.h>

namespace polder::node {

namespace {
// Bound on self-addressed messages held between turns; a core that floods
// itself is a bug, and the assertion names it.
constexpr std::size_t kLoopbackMax = 100'000;
}  // namespace

CoreHost::CoreHost(std::string name, std::unique_ptr<Core> core, NodeId self, Storage& storage, Transport& transport,
                   Codec& codec, Wrap wrap, EventSink sink)
    : name_(std::move(name)),
      core_(std::move(core)),
      self_(self),
      storage_(storage),
      transport_(transport),
      codec_(codec),
      committer_(storage),
      wrap_(std::move(wrap)),
      sink_(std::move(sink)) {
  const char* fault = std::getenv(kKillAfterPersistEnv);
  kill_after_persist_ = fault != nullptr && name_ == fault;
}

void CoreHost::queue(Effects effects) {
  if (!effects.persist.empty()) {
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

Status CoreHost::persist() {
  if (committer_.pending_batches() == 0) return Status::ok();
  Status s = committer_.flush();
  if (!s.is_ok()) {
    outbox_.clear();
    events_.clear();
    return Status(s.code(), name_ + ": durable write failed, stopping so no unpersisted promise leaves: " +
                                s.message());
  }
  if (kill_after_persist_ && !outbox_.empty()) {
    // Fault injection for tests: die between the durable write and the reply.
    spdlog::critical("{}: {} set: killing this process after a durable write, before its replies",
                     name_, kKillAfterPersistEnv);
    std::raise(SIGKILL);
  }
  return Status::ok();
}

Status CoreHost::flush(std::int64_t wall_us) {
  POLDER_RETURN_IF_ERROR(persist());
  for (auto& m : outbox_) {
    if (m.to == self_) {
      assert(loopback_.size() < kLoopbackMax && "core does not flood itself");
      loopback_.push_back(std::move(m.bytes));
      continue;
    }
    Envelope env;
    env.sender = self_;
    env.message_id = shared_message_ids_ ? ++*shared_message_ids_ : next_message_id_++;
    env.timestamp_us = wall_us;
    env.payload = wrap_(std::move(m.bytes));
    auto bytes = codec_.encode(env);
    if (!bytes) {
      spdlog::warn("{}: message to {} not sent: {}", name_, m.to.short_hex(), bytes.status().message());
      continue;
    }
    if (transport_.send_to_peer(m.to, *bytes).is_ok()) ++messages_sent_;
  }
  outbox_.clear();
  for (const auto& e : events_) sink_(e);
  events_.clear();
  return Status::ok();
}

}  // namespace polder::node
