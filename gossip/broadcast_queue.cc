#include "gossip/broadcast_queue.h"

#include <algorithm>
#include <cassert>

#include "gossip/codec.h"

namespace polder::gossip {

bool BroadcastQueue::push(Update update, std::uint32_t transmits_already) {
  auto it = by_node_.find(update.node);
  if (it != by_node_.end()) {
    auto queued = queue_.find(it->second);
    assert(queued != queue_.end());
    Update& old = queued->second.update;
    if (old.kind == update.kind && old.incarnation == update.incarnation) {
      transmits_already = std::min(transmits_already, it->second.transmits);
    }
    // A bare alive (a refutation) must not stop a record still spreading:
    // it takes the queued record along (records only ever get newer).
    if (old.kind == UpdateKind::kAlive && update.kind == UpdateKind::kAlive && update.record.empty()) {
      update.record = std::move(old.record);
    }
    queue_.erase(queued);
    by_node_.erase(it);
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
  by_node_.emplace(node, key);
  assert(queue_.size() == by_node_.size() && "one queued update per member");
  return !dropped;
}

std::size_t BroadcastQueue::select(std::size_t budget_bytes, std::uint32_t limit, const NodeId* skip,
                                   std::vector<Update>& out) {
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
    Key key = it->first;
    Item item = std::move(it->second);
    queue_.erase(it);
    ++key.transmits;
    if (key.transmits >= limit) {
      by_node_.erase(item.update.node);
      continue;
    }
    by_node_[item.update.node] = key;
    queue_.emplace(key, std::move(item));
  }
  return taken.size();
}

}  // namespace polder::gossip
