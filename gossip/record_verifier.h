// RecordVerifier: how the gossip core checks the signed capacity records it
// carries, without doing any cryptography itself.
//
// Injected at construction: the node passes one backed by Ed25519
// (gossip/signed_record_verifier.h over protocol/signed_record.h), the
// simulator one with cheap fake signatures. Verification is split in two so
// a record the core already has (the common case under gossip) costs only a
// parse: peek() reads the header without checking the signature; verify()
// checks it and returns the immutable record the core keeps (an
// implementation may share one copy between many cores).
//
// Implementations must not throw and must be callable from the core's
// thread; the core calls verify() only on records that peek() accepted, are
// about the member they travel with, and are newer than the one it holds.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "protocol/core.h"
#include "protocol/ids.h"
#include "protocol/status.h"

namespace polder::gossip {

struct RecordHeader {
  NodeId subject;  // the node the record is about, and must be signed by
  std::uint64_t incarnation = 0;
  std::uint64_t sequence = 0;
  // Newer wins: by incarnation, then by sequence.
  bool newer_than(const RecordHeader& other) const {
    return incarnation != other.incarnation ? incarnation > other.incarnation : sequence > other.sequence;
  }
};

struct VerifiedRecord {
  RecordHeader header;
  Bytes bytes;  // exactly what was signed and gossiped
};

class RecordVerifier {
 public:
  virtual ~RecordVerifier() = default;
  // Parses who the record is about and its version. No signature check.
  virtual Result<RecordHeader> peek(std::span<const std::uint8_t> bytes) const = 0;
  // Checks the signature of a record whose header is `header` (from peek).
  // permission_denied when the signature is wrong or not the subject's.
  virtual Result<std::shared_ptr<const VerifiedRecord>> verify(std::span<const std::uint8_t> bytes,
                                                               const RecordHeader& header) const = 0;
};

}  // namespace polder::gossip
