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

}  // namespace polder::consensus
