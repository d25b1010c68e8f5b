// Which consensus payloads may reach this node's core while it holds
// executor leases (node/jobs.h, JobManager::may_vote).
//
// A payload is one consensus message or a batch of them (consensus/wire.h).
// It is refused whole when any Prepare or Accept inside it is for an
// instance `may_vote` refuses: dropping is always safe (loss), and a batch
// cannot be split without re-encoding it. Everything else passes, including
// bytes that do not decode: the core decodes them again and counts them.
//
// Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "consensus/messages.h"

namespace polder::node {

bool consensus_votes_allowed(std::span<const std::uint8_t> bytes,
                             const std::function<bool(const consensus::InstanceKey&)>& may_vote);

}  // namespace polder::node
