// PayloadSlab: the bytes of messages in flight, indexed by a small id.
//
// Purpose: keep events small PODs (EventQueue) by storing each in-flight
// message's bytes once, here, and putting only its 32-bit id in the event.
// A duplicated message is stored once with two references.
//
// Guarantees: ids are reused through a free list, so the slab's size is the
// run's high-water mark of messages in flight, never more than
// `capacity_max`; store() on a full slab returns kNoSlot and the caller drops
// the message (a bounded network, like a real one). The content hash of each
// payload is computed once at store() time. A view() stays valid until the
// slot is released or another payload is stored.
//
// Thread-safety: none; one slab per simulator.
#pragma once

#include <cassert>
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/core.h"

namespace polder::sim {

class PayloadSlab {
 public:
  static constexpr std::uint32_t kNoSlot = 0xffffffffU;

  explicit PayloadSlab(std::uint32_t capacity_max) : capacity_max_(capacity_max) {}

  // Takes `bytes` (moved from) with `refs` references; kNoSlot when full.
  std::uint32_t store(Bytes&& bytes, std::uint32_t refs);
  // Copies `bytes`, whose content hash the caller computed, into a slot's
  // own buffer (reusing its capacity: no allocation once slots have grown).
  // For bytes owned by another thread, which keeps them and frees them
  // itself, in its own malloc arena.
  std::uint32_t store_copy(std::span<const std::uint8_t> bytes, std::uint64_t hash, std::uint32_t refs);

  std::span<const std::uint8_t> view(std::uint32_t id) const {
    assert(id < slots_.size() && slots_[id].refs > 0);
    return slots_[id].bytes;
  }
  std::uint64_t content_hash(std::uint32_t id) const {
    assert(id < slots_.size() && slots_[id].refs > 0);
    return slots_[id].hash;
  }

  // A hint: the slot and the first bytes of `id` will be read soon.
  void prefetch(std::uint32_t id) const {
    if (id >= slots_.size()) return;
    __builtin_prefetch(&slots_[id]);
    if (!slots_[id].bytes.empty()) __builtin_prefetch(slots_[id].bytes.data());
  }

  // Drops one reference; the slot is freed with the last one.
  void release(std::uint32_t id);

  std::uint32_t in_use() const { return in_use_; }

 private:
  std::uint32_t take_slot();
  struct Slot {
    Bytes bytes;
    std::uint64_t hash = 0;
    std::uint32_t refs = 0;
    std::uint32_t next_free = kNoSlot;
  };

  std::vector<Slot> slots_;
  std::uint32_t free_head_ = kNoSlot;
  std::uint32_t in_use_ = 0;
  std::uint32_t capacity_max_;
};

}  // namespace polder::sim
