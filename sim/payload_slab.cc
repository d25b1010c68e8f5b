#include "sim/payload_slab.h"

#include <utility>

#include "sim/hash.h"

namespace polder::sim {

// A free slot (the free list first), or kNoSlot when the slab is full.
std::uint32_t PayloadSlab::take_slot() {
  if (in_use_ >= capacity_max_) return kNoSlot;
  std::uint32_t id;
  if (free_head_ != kNoSlot) {
    id = free_head_;
    free_head_ = slots_[id].next_free;
  } else {
    id = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  assert(slots_[id].refs == 0 && "slot on the free list still referenced");
  return id;
}

std::uint32_t PayloadSlab::store(Bytes&& bytes, std::uint32_t refs) {
  assert(refs > 0);
  const std::uint32_t id = take_slot();
  if (id == kNoSlot) return kNoSlot;
  Slot& slot = slots_[id];
  // Swap rather than assign: the slot's old buffer goes back to the caller's
  // vector and is freed with it, so a slot never pins more than one buffer.
  slot.bytes.swap(bytes);
  slot.hash = hash_bytes(slot.bytes);
  slot.refs = refs;
  slot.next_free = kNoSlot;
  ++in_use_;
  return id;
}

std::uint32_t PayloadSlab::store_copy(std::span<const std::uint8_t> bytes, std::uint64_t hash, std::uint32_t refs) {
  assert(refs > 0);
  const std::uint32_t id = take_slot();
  if (id == kNoSlot) return kNoSlot;
  Slot& slot = slots_[id];
  slot.bytes.assign(bytes.begin(), bytes.end());
  slot.hash = hash;
  slot.refs = refs;
  slot.next_free = kNoSlot;
  ++in_use_;
  return id;
}

void PayloadSlab::release(std::uint32_t id) {
  assert(id < slots_.size());
  Slot& slot = slots_[id];
  assert(slot.refs > 0 && "payload released more often than referenced");
  if (--slot.refs > 0) return;
  slot.bytes.clear();
  slot.next_free = free_head_;
  free_head_ = id;
  assert(in_use_ > 0);
  --in_use_;
}

}  // namespace polder::sim
