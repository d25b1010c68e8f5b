// Ed25519RecordVerifier: the gossip core's RecordVerifier backed by real
// signatures (protocol/signed_record.h). Gossiped records are encoded
// SignedRecords (protocol/codec.h encode_signed_record) whose body is a
// NodeRecord; a record is accepted only when signed by the node it is about.
//
// Thread-safety: stateless; safe from any thread.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "gossip/record_verifier.h"
#include "protocol/identity.h"
#include "protocol/messages.h"

namespace polder::node {

class Ed25519RecordVerifier final : public gossip::RecordVerifier {
 public:
  // The operator a key was admitted as (its invitation's), if any: a record
  // of that key claiming another operator is refused (issue 8).
  using BoundOperator = std::function<std::optional<std::string>(const NodeId&)>;
  Ed25519RecordVerifier() = default;
  explicit Ed25519RecordVerifier(BoundOperator bound_operator) : bound_operator_(std::move(bound_operator)) {}

  Result<gossip::RecordHeader> peek(std::span<const std::uint8_t> bytes) const override;
  Result<std::shared_ptr<const gossip::VerifiedRecord>> verify(std::span<const std::uint8_t> bytes,
                                                               const gossip::RecordHeader& header) const override;

 private:
  BoundOperator bound_operator_;
};

// The NodeRecord inside gossiped record bytes, verified.
Result<NodeRecord> open_gossiped_record(std::span<const std::uint8_t> bytes);
// Signs `record` as this node and encodes it for gossip.
Result<Bytes> seal_gossiped_record(const Identity& self, const NodeRecord& record);

}  // namespace polder::node
