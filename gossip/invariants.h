// Invariants of one gossip core, checked by the tests after every step and
// by the simulator (STYLE.md habit 14). Costs O(members).
#pragma once

#include "gossip/gossip_core.h"
#include "protocol/status.h"

namespace polder::gossip {

// Ok, or internal_error naming the first invariant that does not hold.
Status check_invariants(const GossipCore& core);

}  // namespace polder::gossip
