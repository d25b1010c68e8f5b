// Dissemination (SWIM section 4.1): updates ride on every message within a
// byte budget, and are pushed to gossip_fanout random members when new and
// every gossip_interval while any remain to be sent.
#include <algorithm>
#include <cassert>
#include <optional>

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

// One selection, and one encoding while the same updates go to every
// target, per round (not one per target: select, copy and encode were a
// tenth of a 10,000-node run). An update with fewer transmissions left than
// there are targets goes to the first ones only.
void GossipCore::gossip_round(std::int64_t now_us) {
  (void)now_us;
  if (broadcasts_.empty()) return;
  const std::vector<std::uint32_t> targets = random_members(options_.config.gossip_fanout, nullptr);
  if (targets.empty()) return;
  Message message{GossipOnly{}, {}};
  std::vector<std::uint32_t> sends;
  const std::size_t budget = options_.config.packet_budget_bytes - kMessageOverheadBytes;
  broadcasts_.select_copies(budget, retransmit_limit(options_.config, n()),
                            static_cast<std::uint32_t>(targets.size()), message.updates, sends);
  std::optional<Bytes> bytes;
  for (std::uint32_t t = 0; t < targets.size(); ++t) {  // bounded by gossip_fanout
    std::size_t kept = 0;
    for (std::size_t i = 0; i < message.updates.size(); ++i) {
      if (sends[i] <= t) continue;  // its quota ended with the previous targets
      if (kept != i) {
        message.updates[kept] = std::move(message.updates[i]);
        sends[kept] = sends[i];
      }
      ++kept;
    }
    if (kept != message.updates.size()) {
      message.updates.resize(kept);
      sends.resize(kept);
      bytes.reset();
    }
    if (message.updates.empty()) break;  // everything sent its quota
    if (!bytes) {
      auto encoded = codec_.encode(message);
      if (!encoded) {
        ++counters_.broadcasts_dropped;  // over message_bytes_max: the budget prevents it
        return;
      }
      bytes = std::move(*encoded);
    }
    send_encoded(table_.at(targets[t]).id, message, *bytes);
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
