#include "gossip/invariants.h"

#include <string>

namespace polder::gossip {

Status check_invariants(const GossipCore& core) {
  const MemberTable& table = core.table();
  const GossipConfig& config = core.config();
  if (!table.in_use(core.self_slot()) || table.at(core.self_slot()).id != core.self()) {
    return internal_error("self is not in its own member table");
  }
  const MemberState self_state = table.at(core.self_slot()).state;
  if (self_state != MemberState::kAlive) {
    return internal_error(std::string("self is ") + member_state_name(self_state) + " in its own table");
  }
  if (table.size() > config.members_max) return internal_error("member table exceeds members_max");
  std::size_t live = 0;
  std::size_t suspects = 0;
  for (std::uint32_t slot = 0; slot < table.slot_count(); ++slot) {
    if (!table.in_use(slot)) continue;
    const Member& m = table.at(slot);
    if (table.find(m.id) != slot) return internal_error("index does not find member " + m.id.short_hex());
    if (m.state == MemberState::kAlive || m.state == MemberState::kSuspect) ++live;
    if (m.state == MemberState::kSuspect) {
      ++suspects;
      if (core.suspicions().count(slot) == 0) return internal_error("suspect " + m.id.short_hex() + " has no timer");
    }
    if (m.record && m.record->header.subject != m.id) {
      return internal_error("member " + m.id.short_hex() + " holds a record about another key");
    }
    if (m.record && m.record->bytes.size() > config.record_bytes_max) {
      return internal_error("member " + m.id.short_hex() + " holds an oversized record");
    }
  }
  if (live != core.alive_count()) {
    return internal_error("alive count " + std::to_string(core.alive_count()) + " but " + std::to_string(live) +
                          " members are alive or suspect");
  }
  if (suspects != core.suspicions().size()) return internal_error("a suspicion timer outlived its suspect");
  if (core.probes_in_flight() > config.probes_in_flight_max) return internal_error("too many probes in flight");
  if (core.relays_in_flight() > 64) return internal_error("too many relayed probes");
  if (core.broadcasts_queued() > config.broadcasts_max) return internal_error("broadcast queue over its bound");
  if (!vivaldi_is_valid(core.coordinate())) return internal_error("own Vivaldi coordinate is not finite");
  return Status::ok();
}

}  // namespace polder::gossip
