// Encoding and decoding of consensus messages (consensus.capnp) with limits.
//
// decode_message() never throws and never crashes: truncated, oversized,
// garbage, too deep, wrong-version or semantically invalid bytes (an id that
// is not 32 bytes, an unsorted replica set, a Promise with a value but no
// ballot) all come back as an error Status. Every field is read once, here,
// into the plain structs of messages.h, so a malformed pointer cannot throw
// later inside the core. Thread-safe (no state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "consensus/messages.h"
#include "protocol/core.h"
#include "protocol/status.h"

namespace polder::consensus {

struct WireLimits {
  std::size_t max_message_bytes = 16 * 1024;  // a Chosen with two 7-node sets is < 1 KiB
  int nesting_limit = 8;
  // Traversal limit in 8-byte words; 0 = 2 × message words + 64.
  std::uint64_t traversal_limit_words = 0;
};

Bytes encode_message(const Message& message);
Result<Message> decode_message(std::span<const std::uint8_t> bytes, const WireLimits& limits = {});

// A batch: several encoded messages for one peer in one payload, so a host
// sends one envelope per peer per turn instead of one per message (the
// per-envelope cost — encoding, encryption, syscalls — was most of a busy
// node's CPU). Each inner message obeys WireLimits as if it came alone;
// batches do not nest; a batch is at most kBatchBytesMax and
// kBatchMessagesMax messages. A node that receives one handles its
// messages in order, as if they had arrived one by one.
inline constexpr std::size_t kBatchBytesMax = 256 * 1024;
inline constexpr std::size_t kBatchMessagesMax = 1024;
// `messages` are encode_message() outputs, within the bounds above.
Bytes encode_batch(std::span<const Bytes> messages);
// Decodes a message or a batch of them: on success, the messages in order
// (one for a plain message). An inner message that does not decode fails
// only itself: it is returned as its error, in its place.
Result<std::vector<Result<Message>>> decode_messages(std::span<const std::uint8_t> bytes,
                                                     const WireLimits& limits = {});

}  // namespace polder::consensus
