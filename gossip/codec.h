// Encoding and decoding of gossip messages (gossip.capnp) with limits.
//
// decode() never throws and never crashes on any input: truncated, garbage,
// oversized, too deep or over-limit messages come back as an error Status and
// the caller counts and drops them. Every field is read once, here, into
// plain values (wire.h).
//
// Encoding reuses one scratch segment per thread (not per codec: 10,000
// simulated cores would hold 640 MB of idle scratch), so a message costs one
// allocation (its output bytes). A codec is used by one thread at a time.
#pragma once

#include <capnp/common.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "gossip/wire.h"
#include "protocol/status.h"

namespace polder::gossip {

struct CodecLimits {
  std::size_t message_bytes_max = 64 * 1024;
  std::size_t record_bytes_max = 2048;
  std::size_t updates_max = 1024;
  std::size_t digest_entries_max = 4096;  // pairs
  int nesting_limit = 8;
};

// Upper bound of the bytes `update` adds to an encoded message: what the
// piggyback byte budget is charged.
std::size_t update_wire_size_bytes(const Update& update);
// Fixed cost of a message's header and body, without updates.
inline constexpr std::size_t kMessageOverheadBytes = 96;

class Codec {
 public:
  explicit Codec(CodecLimits limits = {});
  ~Codec();
  Codec(const Codec&) = delete;
  Codec& operator=(const Codec&) = delete;

  // Fails only when the encoding would exceed message_bytes_max.
  Result<Bytes> encode(const Message& message);
  Result<Message> decode(std::span<const std::uint8_t> bytes);

  const CodecLimits& limits() const { return limits_; }

 private:
  CodecLimits limits_;
};

}  // namespace polder::gossip
