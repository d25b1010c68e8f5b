// Dissemination (SWIM section 4.1): updates ride on every message within a
// byte budget, and are pushed to gossip_fanout random members when new and
// every gossip_interval while any remain to be sent.
#include <algorithm>
#include <cassert>

#include "gossip/gossip_core.h"

namespace polder::gossip {

void GossipCore::piggyback(Message& message, const NodeId& to) {
  if (broadcasts_.empty()) return;
  std::size_t used = kMessageOverheadBytes;
  for (const Update& u : message.updates) used += update_wire_size_bytes(u);
  const std::size_t budget = options_.config.packet_budget_bytes;
  if (used >= budget) return;
  broadcasts_.select(budget - used, retransmit_limit(options_.config, n()), &to, message.updates);
}

void GossipCore::gossip_round(std::int64_t now_us) {
  (void)now_us;
  if (broadcasts_.empty()) return;
  for (std::uint32_t slot : random_members(options_.config.gossip_fanout, nullptr)) {
    const NodeId to = table_.at(slot).id;
    Message message{GossipOnly{}, {}};
    piggyback(message, to);
    if (message.updates.empty()) break;  // everything sent its quota
    send(to, std::move(message));
  }
}

// Up to `count` distinct live members other than self and `exclude`, chosen
// uniformly by rejection sampling over the slots (bounded attempts).
std::vector<std::uint32_t> GossipCore::random_members(std::size_t count, const NodeId* exclude) {
  std::vector<std::uint32_t> out;
  const std::uint32_t slots = table_.slot_count();
  if (slots <= 1 || count == 0) return out;
  const std::size_t attempts = 4 * count + 16;
  for (std::size_t i = 0; i < attempts && out.size() < count; ++i) {
    const auto s = static_cast<std::uint32_t>(rng_.uniform(slots));
    if (s == self_slot_ || !table_.in_use(s)) continue;
    const Member& m = table_.at(s);
    if (m.state != MemberState::kAlive && m.state != MemberState::kSuspect) continue;
    if (exclude != nullptr && m.id == *exclude) continue;
    if (std::find(out.begin(), out.end(), s) != out.end()) continue;
    out.push_back(s);
  }
  return out;
}

}  // namespace polder::gossip
