// How a turn's job messages leave (node/daemon.cc): each peer's messages,
// in the order they were sent, in bundles of at most `bundle_max` (the
// decoder's kJobBatchMessagesMax); peers in NodeId order. Pure.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "protocol/ids.h"
#include "protocol/messages.h"

namespace polder::node {

struct JobBundle {
  NodeId to;
  std::vector<JobMessage> messages;  // 1..bundle_max, in the order sent
};

// Precondition: bundle_max >= 1.
std::vector<JobBundle> bundle_by_peer(std::vector<std::pair<NodeId, JobMessage>> outbox, std::size_t bundle_max);

}  // namespace polder::node
