// NodeIndex: NodeId -> dense node index for the simulators.
//
// Open addressing with the key stored inline, so one lookup reads one cache
// line (a node-based map cost two misses on every message sent, a tenth of
// a 10,000-node run). The table is a power of two and kept at most half
// full, so a probe always ends at an empty slot. Looked up, never iterated
// (habit 16). Not thread-safe for writes; concurrent find() is fine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "protocol/ids.h"

namespace polder::sim {

class NodeIndex {
 public:
  static constexpr std::uint32_t kNone = 0xffffffffU;

  // The index stored for `id`, or kNone.
  std::uint32_t find(const NodeId& id) const {
    if (slots_.empty()) return kNone;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = Id32Hash{}(id) & mask;; i = (i + 1) & mask) {  // bounded: load <= 1/2
      const Entry& e = slots_[i];
      if (e.index == kNone) return kNone;
      if (e.id == id) return e.index;
    }
  }

  // Stores id -> index; `id` must not be in the table yet.
  void insert(const NodeId& id, std::uint32_t index) {
    if (2 * (size_ + 1) > slots_.size()) {
      std::vector<Entry> old = std::move(slots_);
      slots_.assign(old.empty() ? 64 : 2 * old.size(), Entry{});
      for (const Entry& e : old) {
        if (e.index != kNone) place(e.id, e.index);
      }
    }
    place(id, index);
    ++size_;
  }

  bool empty() const { return size_ == 0; }

 private:
  struct Entry {
    NodeId id;
    std::uint32_t index = kNone;
  };

  void place(const NodeId& id, std::uint32_t index) {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = Id32Hash{}(id) & mask;
    while (slots_[i].index != kNone) i = (i + 1) & mask;
    slots_[i] = Entry{id, index};
  }

  std::vector<Entry> slots_;
  std::size_t size_ = 0;
};

}  // namespace polder::sim
