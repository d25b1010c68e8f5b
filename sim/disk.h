// SimDisk: one node's simulated disk.
//
// Purpose: model what survives a crash. A core's `persist` ops are durable
// writes: once the disk has completed them they live in `durable()` and are
// handed back to the core when the node restarts. Everything else a core
// holds in memory is lost by a crash.
//
// A disk may be slow (`write_delay_us` > 0). Then the host must not act on a
// batch of Effects before its persist completes (persist, then send — a
// reply never leaves before the state it promises is on disk). The disk
// keeps such batches in a FIFO queue: each completes no earlier than
// `write_delay_us` after it was submitted and never before the batch ahead of
// it, and the batches behind a pending write wait too, so a node's effects
// keep their order. crash() drops every batch not yet completed: its writes
// never happened and its messages and events never left.
//
// Guarantees: at most `pending_batches_max` batches wait (asserted: a bigger
// backlog means the caller's bound is wrong). Thread-safety: none.
#pragma once

#include <cassert>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "protocol/core.h"
#include "protocol/status.h"

namespace polder::sim {

struct DiskOptions {
  static constexpr std::int64_t kWriteDelayUsMax = 60'000'000;

  std::int64_t write_delay_us = 0;  // 0: writes complete at once
  std::uint32_t pending_batches_max = 1U << 16;
};

Status validate_disk_options(const DiskOptions& options);

// A batch of Effects waiting for its persist to complete.
struct PendingBatch {
  std::int64_t done_at_us = 0;
  std::vector<PersistOp> persist;
  std::vector<OutMessage> send;
  std::vector<CoreEvent> events;
};

class SimDisk {
 public:
  // Precondition: validate_disk_options(options) is ok.
  explicit SimDisk(const DiskOptions& options = DiskOptions());

  const DiskOptions& options() const { return options_; }
  // Takes effect for batches submitted from now on.
  void set_options(const DiskOptions& options);

  // Performs `ops` durably, at once.
  void write(std::span<const PersistOp> ops);
  const DurableRecords& durable() const { return durable_; }

  // True when the next batch must be queued rather than applied at once:
  // it carries writes and the disk is slow, or earlier batches still wait.
  bool must_queue(bool has_persist) const {
    return !pending_.empty() || (has_persist && options_.write_delay_us > 0);
  }
  // Queues `batch`; returns the time it completes.
  std::int64_t submit(PendingBatch&& batch, bool has_persist, std::int64_t now_us);
  bool has_pending() const { return !pending_.empty(); }
  std::size_t pending_count() const { return pending_.size(); }
  // Removes the oldest batch, performs its writes and returns it so the
  // caller can send its messages. Precondition: has_pending().
  PendingBatch complete_oldest();

  // The node crashed: pending batches are lost, durable records stay.
  void crash() { pending_.clear(); }

  std::uint64_t writes_durable() const { return writes_durable_; }

 private:
  DiskOptions options_;
  DurableRecords durable_;
  std::deque<PendingBatch> pending_;
  std::uint64_t writes_durable_ = 0;
};

}  // namespace polder::sim
