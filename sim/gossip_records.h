// FakeRecordVerifier: signed-record stand-ins for the gossip simulator.
//
// Real records are Ed25519-signed (protocol/signed_record.h); verifying one
// costs ~50 us, too much for 10,000 simulated nodes. These records have the
// same size and the same checks (subject, version, a tag over every byte
// that a forger without the tag function gets wrong), and verify() returns
// one shared copy per record version, so 10,000 member tables holding
// 10,000 records each share 10,000 buffers, as separate processes would not
// need to. Layout: "FREC" | subject 32 | incarnation 8 | sequence 8 |
// body_len 2 | body | tag 64.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "gossip/record_verifier.h"

namespace polder::sim {

// A record about `subject` with a body of `body_bytes` filler bytes.
Bytes make_fake_record(const NodeId& subject, std::uint64_t incarnation, std::uint64_t sequence,
                       std::size_t body_bytes = 150);

class FakeRecordVerifier : public gossip::RecordVerifier {
 public:
  Result<gossip::RecordHeader> peek(std::span<const std::uint8_t> bytes) const override;
  Result<std::shared_ptr<const gossip::VerifiedRecord>> verify(std::span<const std::uint8_t> bytes,
                                                               const gossip::RecordHeader& header) const override;

 private:
  // Interned versions; looked up, never iterated. Single-threaded (the sim).
  mutable std::unordered_map<std::uint64_t, std::shared_ptr<const gossip::VerifiedRecord>> interned_;
};

}  // namespace polder::sim
