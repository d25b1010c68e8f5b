// Revocations (issue 8): a SignedRecord of kind kRevocationKind whose body
// says "this key is no longer a member". Who may sign one is the node's
// policy (node/revocations.h); here are the value, its wire form and the
// signature.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/codec.h"
#include "protocol/identity.h"
#include "protocol/messages.h"

namespace polder {

// RecordKind 3 (protocol/polder.capnp, SignedRecord.kind).
inline constexpr RecordKind kRevocationKind = static_cast<RecordKind>(3);

struct Revocation {
  NodeId revoked;
  std::int64_t issued_at_us = 0;
  std::string reason;  // at most kReasonMaxBytes
  static constexpr std::size_t kReasonMaxBytes = 256;
  bool operator==(const Revocation&) const = default;
};

Result<Bytes> encode_revocation(const Revocation& revocation, const CodecLimits& limits = {});
// Refuses a malformed key or a reason over Revocation::kReasonMaxBytes.
Result<Revocation> decode_revocation(std::span<const std::uint8_t> bytes, const CodecLimits& limits = {});

// Signs a revocation of `revocation.revoked` by `signer`.
Result<SignedRecord> sign_revocation(const Identity& signer, const Revocation& revocation);
// Verifies the signature and decodes a kRevocationKind record.
Result<Revocation> open_revocation(const SignedRecord& record);

}  // namespace polder
