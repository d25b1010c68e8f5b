// How a turn's job messages leave (node/daemon.cc): each peer's messages,
// in the order they were sent, in bundles of at most `bundle_max` (the
// decoder's kJobBatchMessagesMax); peers in NodeId order. Pure.
#pragma once

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

#include "protocol/status.h"

#include "protocol/ids.h"
#include "protocol/messages.h"

namespace polder::node {

struct JobBundle {
  NodeId to;
  std::vector<JobMessage> messages;  // 1..bundle_max, in the order sent
};

// Precondition: bundle_max >= 1.
std::vector<JobBundle> bundle_by_peer(std::vector<std::pair<NodeId, JobMessage>> outbox, std::size_t bundle_max);

struct EncodedJobEnvelope {
  Bytes bytes;
  std::size_t messages = 0;  // how many job messages it carries
};

struct EncodedJobBundle {
  std::vector<EncodedJobEnvelope> envelopes;  // to send in this order
  std::vector<Status> refused;                // one per single message too large to encode
};

// How one bundle leaves: one envelope (a JobMessage alone, else a JobBatch)
// if it encodes within the limit, else its two halves, first then second,
// each the same way, down to single messages; a single message that still
// does not encode is refused. `encode` wraps a payload in an envelope (it
// numbers the envelope: a half encodes after the whole it came from) and
// fails only when the encoding is too large.
EncodedJobBundle encode_bundle(std::vector<JobMessage> messages,
                               const std::function<Result<Bytes>(Payload)>& encode);

}  // namespace polder::node
