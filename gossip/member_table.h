// MemberTable: every member one core knows, with O(1) lookup by id.
//
// Members live in a vector of slots (freed slots are reused) indexed by an
// open-addressing hash of the id, so an entry costs sizeof(Member) (64) plus
// 24 cold bytes plus ~11 bytes of index: at 10,000 members about 1 MB. Slot numbers are stable while
// a member is in the table. sorted() gives the members ordered by id prefix,
// for anti-entropy pages; it is rebuilt lazily after inserts and erases.
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "gossip/member.h"

namespace polder::gossip {

// MemberDirectory: an immutable index from a fixed list of ids to their
// positions, shared read-only by the member tables of many cores started
// from one snapshot (the simulator's 10,000 cores). A table that uses one
// keeps directory member i in slot i, so looking a member up costs the
// shared index (hot in cache, since every core reads the same one) and the
// member's own line, not a second cold line of a per-core index: at 10,000
// members in each of 10,000 cores that index was 1.3 GB, and every update
// received missed on it. Thread-safety: immutable after construction.
class MemberDirectory {
 public:
  static constexpr std::uint32_t kNone = 0xffffffffU;
  // Precondition: `ids` are distinct.
  explicit MemberDirectory(std::vector<NodeId> ids);
  std::uint32_t find(const NodeId& id) const;  // position in the list, or kNone
  std::uint32_t size() const { return static_cast<std::uint32_t>(ids_.size()); }
  const NodeId& id(std::uint32_t position) const { return ids_[position]; }

 private:
  friend class MemberTable;  // probes index_ itself, comparing ids in its own member lines
  std::vector<NodeId> ids_;
  std::vector<std::uint64_t> index_;  // (tag << 32 | position) or ~0; power of two, load <= 1/2
};

class MemberTable {
 public:
  static constexpr std::uint32_t kNone = 0xffffffffU;

  // Keeps the members of `directory` in slots 0 .. directory->size() - 1
  // (not in use until inserted); other ids take slots after them and the
  // table's own index. Precondition: the table is empty and has no directory.
  void use_directory(std::shared_ptr<const MemberDirectory> directory);

  std::uint32_t find(const NodeId& id) const;
  // Precondition: find(id) == kNone.
  std::uint32_t insert(const NodeId& id);
  // find() and, when absent, insert(), for a caller that walks a list laid
  // out like the directory (the simulator's bootstrap of 10,000 members):
  // when `position` is id's directory position, neither hashes the id.
  // Sets `inserted`. Any position gives the same result as find + insert.
  std::uint32_t find_or_insert(const NodeId& id, std::uint32_t position, bool& inserted);
  void erase(std::uint32_t slot);

  Member& at(std::uint32_t slot) { return members_[slot]; }
  const Member& at(std::uint32_t slot) const { return members_[slot]; }
  // Cold fields of a member, kept beside the hot table.
  std::int64_t& state_change_us(std::uint32_t slot) { return cold_[slot].state_change_us; }
  std::int64_t state_change_us(std::uint32_t slot) const { return cold_[slot].state_change_us; }
  CompactCoordinate& coordinate(std::uint32_t slot) { return cold_[slot].coordinate; }
  const CompactCoordinate& coordinate(std::uint32_t slot) const { return cold_[slot].coordinate; }
  bool in_use(std::uint32_t slot) const { return slot < members_.size() && members_[slot].in_use; }
  std::size_t size() const { return size_; }
  std::uint32_t slot_count() const { return static_cast<std::uint32_t>(members_.size()); }
  void reserve(std::size_t members);

  // (id prefix, slot) of every member, ascending by prefix.
  const std::vector<std::pair<std::uint64_t, std::uint32_t>>& sorted() const;

  // Heap bytes held by the table and its records (records counted in full,
  // though they may be shared with other cores).
  std::size_t memory_bytes() const;

 private:
  // An index entry packs (tag << 32 | slot), the tag being the upper half
  // of the id's hash: a lookup touches a member only when its tag matches,
  // so a miss or a collision costs no cache line of the (large) member array.
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};
  friend class MemberDirectory;
  static std::uint64_t hash(const NodeId& id);
  static std::uint32_t tag_of(std::uint64_t h) { return static_cast<std::uint32_t>(h >> 32); }
  static std::uint32_t slot_of(std::uint64_t entry) { return static_cast<std::uint32_t>(entry); }
  void grow_index();
  void index_insert(std::uint32_t slot);
  void take_directory_slot(std::uint32_t position, const NodeId& id);

  struct Cold {
    std::int64_t state_change_us = 0;
    CompactCoordinate coordinate;
  };
  std::shared_ptr<const MemberDirectory> directory_;  // null: every id in index_
  std::uint32_t directory_slots_ = 0;                  // slots reserved for the directory
  std::vector<Member> members_;
  std::vector<Cold> cold_;  // by slot, like members_
  std::vector<std::uint32_t> free_;
  std::vector<std::uint64_t> index_;  // (tag, slot) or kEmpty of slots >= directory_slots_; power of two, load <= 3/4
  std::size_t size_ = 0;
  std::size_t index_size_ = 0;  // entries in index_
  mutable std::vector<std::pair<std::uint64_t, std::uint32_t>> sorted_;
  mutable bool sorted_valid_ = false;
};

}  // namespace polder::gossip
