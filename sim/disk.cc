#include "sim/disk.h"

#include <algorithm>
#include <string>
#include <utility>

namespace polder::sim {

Status validate_disk_options(const DiskOptions& options) {
  if (options.write_delay_us < 0 || options.write_delay_us > DiskOptions::kWriteDelayUsMax) {
    return invalid_argument("write_delay_us must be in [0, " + std::to_string(DiskOptions::kWriteDelayUsMax) +
                            "], got " + std::to_string(options.write_delay_us));
  }
  if (options.pending_batches_max == 0) return invalid_argument("pending_batches_max must be at least 1");
  return Status::ok();
}

SimDisk::SimDisk(const DiskOptions& options) : options_(options) {
  assert(validate_disk_options(options).is_ok());
}

void SimDisk::set_options(const DiskOptions& options) {
  assert(validate_disk_options(options).is_ok());
  options_ = options;
}

void SimDisk::write(std::span<const PersistOp> ops) {
  for (const PersistOp& op : ops) {  // bounded by ops.size()
    auto key = std::make_pair(op.column, op.key);
    if (op.erase) {
      durable_.erase(key);
    } else {
      durable_[std::move(key)] = op.value;
    }
    ++writes_durable_;
  }
}

std::int64_t SimDisk::submit(PendingBatch&& batch, bool has_persist, std::int64_t now_us) {
  assert(pending_.size() < options_.pending_batches_max && "disk backlog bound exceeded");
  std::int64_t done_at_us = now_us + (has_persist ? options_.write_delay_us : 0);
  // FIFO: a batch never completes before the one ahead of it.
  if (!pending_.empty()) done_at_us = std::max(done_at_us, pending_.back().done_at_us);
  batch.done_at_us = done_at_us;
  pending_.push_back(std::move(batch));
  return done_at_us;
}

PendingBatch SimDisk::complete_oldest() {
  assert(!pending_.empty());
  PendingBatch batch = std::move(pending_.front());
  pending_.pop_front();
  write(batch.persist);
  return batch;
}

}  // namespace polder::sim
