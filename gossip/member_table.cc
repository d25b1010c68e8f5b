#include "gossip/member_table.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

namespace polder::gossip {

const char* member_state_name(MemberState state) {
  switch (state) {
    case MemberState::kAlive: return "alive";
    case MemberState::kSuspect: return "suspect";
    case MemberState::kDead: return "dead";
    case MemberState::kLeft: return "left";
  }
  return "unknown";
}

namespace {

std::int16_t quantise(double v, double unit) {
  return static_cast<std::int16_t>(std::clamp(std::lround(v / unit), -32767L, 32767L));
}

constexpr double kVecUnitMs = 0.05;
constexpr double kErrorUnit = 1e-4;

}  // namespace

CompactCoordinate CompactCoordinate::from(const Coordinate& c) {
  CompactCoordinate out;
  for (std::size_t i = 0; i < kCoordinateDimensions; ++i) out.vec[i] = quantise(c.vec[i], kVecUnitMs);
  out.height = static_cast<std::uint16_t>(std::clamp(std::lround(c.height_ms / kVecUnitMs), 0L, 65535L));
  out.error = static_cast<std::uint16_t>(std::clamp(std::lround(c.error / kErrorUnit), 0L, 65534L));
  return out;
}

Coordinate CompactCoordinate::expand() const {
  assert(known());
  Coordinate c;
  for (std::size_t i = 0; i < kCoordinateDimensions; ++i) c.vec[i] = static_cast<float>(vec[i] * kVecUnitMs);
  c.height_ms = static_cast<float>(height * kVecUnitMs);
  c.error = static_cast<float>(error * kErrorUnit);
  return c;
}

std::uint64_t MemberTable::hash(const NodeId& id) {
  std::uint64_t h;
  std::memcpy(&h, id.bytes().data() + 8, sizeof h);  // bytes 0-7 are the prefix; mix in the next ones
  std::uint64_t p;
  std::memcpy(&p, id.bytes().data(), sizeof p);
  h ^= p * 0x9e3779b97f4a7c15ULL;
  h ^= h >> 29;
  return h * 0xbf58476d1ce4e5b9ULL;  // the tag (upper half) must be mixed too
}

namespace {

bool same_id(const NodeId& a, const NodeId& b) {
  // Four word compares, inlined: this runs on every update a core receives.
  std::uint64_t x[4], y[4];
  std::memcpy(x, a.bytes().data(), sizeof x);
  std::memcpy(y, b.bytes().data(), sizeof y);
  return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
}

constexpr std::uint64_t kEmptyEntry = ~std::uint64_t{0};

}  // namespace

MemberDirectory::MemberDirectory(std::vector<NodeId> ids) : ids_(std::move(ids)) {
  std::size_t size = 16;
  while (size < 2 * ids_.size()) size *= 2;
  index_.assign(size, kEmptyEntry);
  const std::size_t mask = size - 1;
  for (std::uint32_t position = 0; position < ids_.size(); ++position) {
    assert(find(ids_[position]) == kNone && "directory ids are distinct");
    const std::uint64_t h = MemberTable::hash(ids_[position]);
    std::size_t i = h & mask;
    while (index_[i] != kEmptyEntry) i = (i + 1) & mask;  // bounded: load <= 1/2
    index_[i] = (std::uint64_t{MemberTable::tag_of(h)} << 32) | position;
  }
}

std::uint32_t MemberDirectory::find(const NodeId& id) const {
  const std::size_t mask = index_.size() - 1;
  const std::uint64_t h = MemberTable::hash(id);
  const std::uint32_t tag = MemberTable::tag_of(h);
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {  // bounded: load <= 1/2
    const std::uint64_t entry = index_[i];
    if (entry == kEmptyEntry) return kNone;
    const auto position = static_cast<std::uint32_t>(entry);
    if (static_cast<std::uint32_t>(entry >> 32) == tag && same_id(ids_[position], id)) return position;
  }
}

void MemberTable::use_directory(std::shared_ptr<const MemberDirectory> directory) {
  assert(size_ == 0 && members_.empty() && !directory_ && directory);
  directory_ = std::move(directory);
  directory_slots_ = directory_->size();
  // Room for a few members beyond the directory, so the reserve() that
  // follows (the expected count, usually the directory plus one) does not
  // copy 10,000 members at once and touch twice the pages.
  constexpr std::size_t kSlack = 64;
  members_.reserve(directory_slots_ + kSlack);
  cold_.reserve(directory_slots_ + kSlack);
  members_.resize(directory_slots_);  // not in use until inserted
  cold_.resize(directory_slots_);
}

void MemberTable::reserve(std::size_t members) {
  members_.reserve(std::max<std::size_t>(members, directory_slots_));
  cold_.reserve(std::max<std::size_t>(members, directory_slots_));
  const std::size_t indexed = members > directory_slots_ ? members - directory_slots_ : 0;
  while (3 * indexed > 2 * index_.size()) grow_index();
}

std::uint32_t MemberTable::find(const NodeId& id) const {
  const std::uint64_t h = hash(id);
  const std::uint32_t tag = tag_of(h);
  if (directory_) {
    // Directory member i, when in use, sits in slot i with its id in the
    // same line as in_use: compare there, so an update about a member costs
    // that line alone, not also the directory's 320 KB id list. The list
    // is read only for a slot not in use (is the id that member's?).
    const std::vector<std::uint64_t>& dir = directory_->index_;
    const std::size_t dir_mask = dir.size() - 1;
    for (std::size_t i = h & dir_mask;; i = (i + 1) & dir_mask) {  // bounded: load <= 1/2
      const std::uint64_t entry = dir[i];
      if (entry == kEmptyEntry) break;  // not a directory id
      if (static_cast<std::uint32_t>(entry >> 32) != tag) continue;
      const std::uint32_t position = slot_of(entry);
      const Member& m = members_[position];
      if (m.in_use) {
        if (same_id(m.id, id)) return position;
      } else if (same_id(directory_->ids_[position], id)) {
        return kNone;
      }
    }
  }
  if (index_.empty()) return kNone;
  const std::size_t mask = index_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {  // bounded: load factor <= 3/4
    const std::uint64_t entry = index_[i];
    if (entry == kEmpty) return kNone;
    if (static_cast<std::uint32_t>(entry >> 32) == tag && same_id(members_[slot_of(entry)].id, id)) {
      return slot_of(entry);
    }
  }
}

void MemberTable::index_insert(std::uint32_t slot) {
  const std::size_t mask = index_.size() - 1;
  const std::uint64_t h = hash(members_[slot].id);
  std::size_t i = h & mask;
  while (index_[i] != kEmpty) i = (i + 1) & mask;
  index_[i] = (std::uint64_t{tag_of(h)} << 32) | slot;
}

void MemberTable::grow_index() {
  std::vector<std::uint64_t> old = std::move(index_);
  index_.assign(old.empty() ? 16 : 2 * old.size(), kEmpty);
  for (std::uint64_t entry : old) {
    if (entry != kEmpty) index_insert(slot_of(entry));
  }
}

std::uint32_t MemberTable::find_or_insert(const NodeId& id, std::uint32_t position, bool& inserted) {
  inserted = false;
  if (directory_ && position < directory_slots_ && same_id(directory_->ids_[position], id)) {
    if (members_[position].in_use) return position;  // directory member i is only ever in slot i
    take_directory_slot(position, id);
    inserted = true;
    return position;
  }
  const std::uint32_t slot = find(id);
  if (slot != kNone) return slot;
  inserted = true;
  return insert(id);
}

void MemberTable::take_directory_slot(std::uint32_t position, const NodeId& id) {
  Member& m = members_[position];
  m = Member{};
  cold_[position] = Cold{};
  m.id = id;
  m.in_use = true;
  ++size_;
  sorted_valid_ = false;
}

std::uint32_t MemberTable::insert(const NodeId& id) {
  assert(find(id) == kNone && "member inserted twice");
  const std::uint32_t position = directory_ ? directory_->find(id) : MemberDirectory::kNone;
  if (position != MemberDirectory::kNone) {
    take_directory_slot(position, id);
    return position;
  }
  if (4 * (index_size_ + 1) > 3 * index_.size()) grow_index();
  std::uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(members_.size());
    members_.emplace_back();
    cold_.emplace_back();
  }
  Member& m = members_[slot];
  m = Member{};
  cold_[slot] = Cold{};
  m.id = id;
  m.in_use = true;
  index_insert(slot);
  ++index_size_;
  ++size_;
  sorted_valid_ = false;
  return slot;
}

void MemberTable::erase(std::uint32_t slot) {
  assert(in_use(slot));
  if (slot < directory_slots_) {  // a directory member's slot stays reserved for it
    members_[slot] = Member{};
    cold_[slot] = Cold{};
    --size_;
    sorted_valid_ = false;
    return;
  }
  const std::size_t mask = index_.size() - 1;
  std::size_t i = hash(members_[slot].id) & mask;
  while (slot_of(index_[i]) != slot || index_[i] == kEmpty) i = (i + 1) & mask;
  // Backward-shift deletion keeps every probe sequence unbroken.
  for (std::size_t j = (i + 1) & mask; index_[j] != kEmpty; j = (j + 1) & mask) {
    const std::size_t home = hash(members_[slot_of(index_[j])].id) & mask;
    const bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      index_[i] = index_[j];
      i = j;
    }
  }
  index_[i] = kEmpty;
  members_[slot] = Member{};
  cold_[slot] = Cold{};
  free_.push_back(slot);
  --index_size_;
  --size_;
  sorted_valid_ = false;
}

const std::vector<std::pair<std::uint64_t, std::uint32_t>>& MemberTable::sorted() const {
  if (!sorted_valid_) {
    sorted_.clear();
    sorted_.reserve(size_);
    for (std::uint32_t slot = 0; slot < members_.size(); ++slot) {
      if (members_[slot].in_use) sorted_.emplace_back(id_prefix(members_[slot].id), slot);
    }
    std::sort(sorted_.begin(), sorted_.end());
    sorted_valid_ = true;
  }
  return sorted_;
}

std::size_t MemberTable::memory_bytes() const {
  std::size_t bytes = members_.capacity() * sizeof(Member) + cold_.capacity() * sizeof(Cold) +
                      index_.capacity() * sizeof(std::uint64_t) +
                      free_.capacity() * sizeof(std::uint32_t) + sorted_.capacity() * sizeof(sorted_[0]);
  for (const Member& m : members_) {
    if (m.record) bytes += sizeof(VerifiedRecord) + m.record->bytes.capacity() + 16;  // + control block
  }
  return bytes;
}

}  // namespace polder::gossip
