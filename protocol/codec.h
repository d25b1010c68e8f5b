// Encoding and decoding of the wire protocol (polder.capnp) with limits.
//
// decode_*() never throws and never crashes on any input: truncated,
// oversized, garbage, too deep or wrong-version bytes all come back as an
// error Status. Every field is read once, here, into plain values
// (messages.h), so a malformed pointer cannot throw later inside a core.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "protocol/messages.h"
#include "protocol/status.h"

namespace polder {

struct CodecLimits {
  std::size_t max_message_bytes = 1 << 20;  // 1 MiB; [transport] max_message_bytes
  int nesting_limit = 16;                   // Cap'n Proto pointer depth
  // Traversal limit in 8-byte words; bounds the work of reading one message
  // (amplification through shared pointers included). 0 = 2 × message words.
  std::uint64_t traversal_limit_words = 0;
};

// Counters of one decoder's history; read by /metrics.
struct CodecCounters {
  std::uint64_t decoded = 0;
  std::uint64_t rejected = 0;
  std::uint64_t unknown_payloads = 0;  // newer peers' messages we ignored
};

// Encodes and decodes envelopes. Not thread-safe (the counters); one per
// event loop.
class Codec {
 public:
  explicit Codec(CodecLimits limits = {}) : limits_(limits) {}

  // Fails only when the encoding would exceed max_message_bytes.
  Result<Bytes> encode(const Envelope& envelope) const;
  // An UnknownPayload comes back ok (and is counted): the caller ignores it.
  Result<Envelope> decode(std::span<const std::uint8_t> bytes);

  const CodecLimits& limits() const { return limits_; }
  const CodecCounters& counters() const { return counters_; }

 private:
  CodecLimits limits_;
  CodecCounters counters_;
};

Result<Bytes> encode_node_record(const NodeRecord& record, const CodecLimits& limits = {});
Result<NodeRecord> decode_node_record(std::span<const std::uint8_t> bytes, const CodecLimits& limits = {});
// A SignedRecord as a message of its own: how gossip carries node records.
Result<Bytes> encode_signed_record(const SignedRecord& record, const CodecLimits& limits = {});
Result<SignedRecord> decode_signed_record(std::span<const std::uint8_t> bytes, const CodecLimits& limits = {});
Result<Bytes> encode_job_spec(const JobSpec& spec, const CodecLimits& limits = {});
Result<JobSpec> decode_job_spec(std::span<const std::uint8_t> bytes, const CodecLimits& limits = {});
// A JobMessage on its own: how a node stores its job records (Column::kJobs).
Result<Bytes> encode_job_message(const JobMessage& message, const CodecLimits& limits = {});
Result<JobMessage> decode_job_message(std::span<const std::uint8_t> bytes, const CodecLimits& limits = {});

}  // namespace polder
