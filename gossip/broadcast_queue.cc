#include "gossip/broadcast_queue.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "gossip/codec.h"

namespace polder::gossip {

std::size_t BroadcastQueue::NodeIndex::home(const NodeId& id) const {
  std::size_t h;
  std::memcpy(&h, id.bytes().data() + 8, sizeof h);  // node ids are uniform; bytes 8.. differ in the simulator too
  std::size_t p;
  std::memcpy(&p, id.bytes().data(), sizeof p);
  return (h ^ (p * 0x9e3779b97f4a7c15ULL)) & (slots_.size() - 1);
}

BroadcastQueue::Key* BroadcastQueue::NodeIndex::find(const NodeId& id) {
  if (size_ == 0) return nullptr;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = home(id);; i = (i + 1) & mask) {  // bounded: load <= 1/2
    Entry& e = slots_[i];
    if (!e.used) return nullptr;
    if (e.id == id) return &e.key;
  }
}

void BroadcastQueue::NodeIndex::put(const NodeId& id, Key key) {
  if (Key* k = find(id)) {
    *k = key;
    return;
  }
  if (2 * (size_ + 1) > slots_.size()) {
    std::vector<Entry> old = std::move(slots_);
    slots_.assign(old.empty() ? 32 : 2 * old.size(), Entry{});
    size_ = 0;
    for (const Entry& e : old) {
      if (e.used) put(e.id, e.key);
    }
  }
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = home(id);
  while (slots_[i].used) i = (i + 1) & mask;
  slots_[i] = Entry{id, key, true};
  ++size_;
}

void BroadcastQueue::NodeIndex::erase(const NodeId& id) {
  if (size_ == 0) return;
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = home(id);
  for (;; i = (i + 1) & mask) {  // bounded: load <= 1/2
    if (!slots_[i].used) return;
    if (slots_[i].id == id) break;
  }
  // Backward-shift deletion keeps every probe sequence unbroken.
  for (std::size_t j = (i + 1) & mask; slots_[j].used; j = (j + 1) & mask) {
    const std::size_t h = home(slots_[j].id);
    const bool movable = (j > i) ? (h <= i || h > j) : (h <= i && h > j);
    if (movable) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Entry{};
  --size_;
}

void BroadcastQueue::NodeIndex::clear() {
  slots_.clear();
  size_ = 0;
}

bool BroadcastQueue::push(Update update, std::uint32_t transmits_already) {
  if (Key* held = by_node_.find(update.node)) {
    auto queued = queue_.find(*held);
    assert(queued != queue_.end());
    Update& old = queued->second.update;
    if (old.kind == update.kind && old.incarnation == update.incarnation) {
      transmits_already = std::min(transmits_already, held->transmits);
    }
    // A bare alive (a refutation) must not stop a record still spreading:
    // it takes the queued record along (records only ever get newer).
    if (old.kind == UpdateKind::kAlive && update.kind == UpdateKind::kAlive && update.record.empty()) {
      update.record = std::move(old.record);
    }
    queue_.erase(queued);
    by_node_.erase(update.node);
  }
  bool dropped = false;
  if (queue_.size() >= capacity_) {
    auto last = std::prev(queue_.end());
    by_node_.erase(last->second.update.node);
    queue_.erase(last);
    ++dropped_;
    dropped = true;
  }
  const Key key{transmits_already, ~inserted_++};
  const NodeId node = update.node;
  const std::size_t size = update_wire_size_bytes(update);
  queue_.emplace(key, Item{std::move(update), size});
  by_node_.put(node, key);
  assert(queue_.size() == by_node_.size() && "one queued update per member");
  return !dropped;
}

std::size_t BroadcastQueue::select(std::size_t budget_bytes, std::uint32_t limit, const NodeId* skip,
                                   std::vector<Update>& out) {
  return select_impl(budget_bytes, limit, skip, 1, out, nullptr);
}

std::size_t BroadcastQueue::select_copies(std::size_t budget_bytes, std::uint32_t limit, std::uint32_t copies,
                                          std::vector<Update>& out, std::vector<std::uint32_t>& sends) {
  return select_impl(budget_bytes, limit, nullptr, copies, out, &sends);
}

std::size_t BroadcastQueue::select_impl(std::size_t budget_bytes, std::uint32_t limit, const NodeId* skip,
                                        std::uint32_t copies, std::vector<Update>& out,
                                        std::vector<std::uint32_t>* sends) {
  assert(copies >= 1);
  constexpr std::size_t kSmallestUpdateBytes = 72;
  std::vector<std::map<Key, Item>::iterator> taken;
  std::size_t used = 0;
  // Bounded scan: after a few updates that do not fit, the packet is full
  // enough; scanning a long queue for a small one costs more than it saves.
  constexpr std::size_t kMisfitsMax = 8;
  std::size_t misfits = 0;
  for (auto it = queue_.begin(); it != queue_.end() && budget_bytes - used >= kSmallestUpdateBytes; ++it) {
    if (it->second.size_bytes > budget_bytes - used) {
      if (++misfits >= kMisfitsMax) break;
      continue;
    }
    if (skip != nullptr && it->second.update.node == *skip && it->second.update.kind != UpdateKind::kSuspect) continue;
    used += it->second.size_bytes;
    out.push_back(it->second.update);
    taken.push_back(it);
  }
  for (auto it : taken) {  // count the transmission: re-key, or retire at the limit
    // extract() re-keys the node in place: no free and malloc per update sent.
    auto node = queue_.extract(it);
    const std::uint32_t left = limit > node.key().transmits ? limit - node.key().transmits : 1;
    const std::uint32_t sent = std::min(copies, left);
    if (sends != nullptr) sends->push_back(sent);
    node.key().transmits += sent;
    if (node.key().transmits >= limit) {
      by_node_.erase(node.mapped().update.node);
      continue;
    }
    by_node_.put(node.mapped().update.node, node.key());
    queue_.insert(std::move(node));
  }
  return taken.size();
}

}  // namespace polder::gossip
