// BroadcastQueue: updates waiting to be piggybacked, each sent a limited
// number of times (memberlist's TransmitLimitedQueue; SWIM section 4.1).
//
// One update per member: a newer update about a member replaces the queued
// one. select() fills a packet's byte budget with the least-transmitted
// updates first, newest first among equals, counts one transmission for each
// and drops those that reached the limit. Bounded by `capacity`: when full,
// the most-transmitted update is dropped (it has spread the most). Not
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "gossip/wire.h"

namespace polder::gossip {

class BroadcastQueue {
 public:
  explicit BroadcastQueue(std::size_t capacity) : capacity_(capacity) {}

  // Queues `update`, replacing any queued update about the same member.
  // `transmits_already` > 0 gives it a smaller budget (a Lifeguard
  // confirmation, worth less than news); replacing a queued update of the
  // same kind and incarnation keeps whichever budget is larger, so a
  // confirmation never cuts short the suspicion it confirms. An alive
  // without a record that replaces one with a record takes the record over,
  // so a refutation never stops a record from spreading. Returns false
  // when something was dropped to make room.
  bool push(Update update, std::uint32_t transmits_already = 0);
  // Appends to `out` updates whose wire size fits `budget_bytes`, skipping
  // any about `skip` (the packet's receiver already knows about itself
  // best); each selected update counts one transmission out of `limit`.
  std::size_t select(std::size_t budget_bytes, std::uint32_t limit, const NodeId* skip, std::vector<Update>& out);
  // As select() for one packet sent to `copies` members (a gossip round):
  // each update selected counts min(copies, transmissions left) and
  // `sends` (parallel to the appended updates) says to how many of the
  // members it goes, the first ones. Skips no member's own update.
  std::size_t select_copies(std::size_t budget_bytes, std::uint32_t limit, std::uint32_t copies,
                            std::vector<Update>& out, std::vector<std::uint32_t>& sends);

  bool empty() const { return queue_.empty(); }
  std::size_t size() const { return queue_.size(); }
  std::uint64_t dropped() const { return dropped_; }
  void clear() {
    queue_.clear();
    by_node_.clear();
  }
  struct Key {
    std::uint32_t transmits;
    std::uint64_t age;  // ~insertion counter: smaller is newer
    auto operator<=>(const Key&) const = default;
  };

  // Member -> key of its queued update: open addressing with the id inline,
  // so a lookup is one or two cache lines (a node-based map cost a bucket
  // and a node miss on every push, a twentieth of a large simulation).
  // Looked up, never iterated (STYLE.md habit 16). Public for its test.
  class NodeIndex {
   public:
    Key* find(const NodeId& id);
    void put(const NodeId& id, Key key);  // inserts or overwrites
    void erase(const NodeId& id);
    void clear();
    std::size_t size() const { return size_; }

   private:
    struct Entry {
      NodeId id;
      Key key{};
      bool used = false;
    };
    std::size_t home(const NodeId& id) const;
    std::vector<Entry> slots_;  // size a power of two, load <= 1/2
    std::size_t size_ = 0;
  };

 private:
  struct Item {
    Update update;
    std::size_t size_bytes;
  };

  std::size_t select_impl(std::size_t budget_bytes, std::uint32_t limit, const NodeId* skip, std::uint32_t copies,
                          std::vector<Update>& out, std::vector<std::uint32_t>* sends);

  std::size_t capacity_;
  std::uint64_t inserted_ = 0;
  std::uint64_t dropped_ = 0;
  std::map<Key, Item> queue_;
  NodeIndex by_node_;
};

}  // namespace polder::gossip
