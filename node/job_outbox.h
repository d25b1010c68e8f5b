// How a turn's job messages leave (node/daemon.cc): each peer's messages,
// in the order they were sent, in bundles of at most `bundle_max` (the
// decoder's kJobBatchMessagesMax); peers in NodeId order. Pure.
#pragma once

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

#include "protocol/codec.h"
#include "protocol/ids.h"
#include "protocol/messages.h"
#include "protocol/status.h"

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
// does not encode is refused (Codec::encode fails only when too large).
// `wrap` makes the envelope of a payload and numbers it: a half is wrapped
// after the whole it came from.
EncodedJobBundle encode_bundle(std::vector<JobMessage> messages, const Codec& codec,
                               const std::function<Envelope(Payload)>& wrap);

}  // namespace polder::node
