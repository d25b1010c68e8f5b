#include "node/record_verifier.h"

#include "protocol/codec.h"
#include "protocol/signed_record.h"

namespace polder::node {

Result<gossip::RecordHeader> Ed25519RecordVerifier::peek(std::span<const std::uint8_t> bytes) const {
  auto signed_record = decode_signed_record(bytes);
  if (!signed_record) return signed_record.status();
  if (signed_record->kind != RecordKind::kNodeRecord) return invalid_argument("gossiped record is not a node record");
  auto record = decode_node_record(signed_record->body);
  if (!record) return record.status();
  return gossip::RecordHeader{record->node_id, record->incarnation, record->sequence};
}

Result<std::shared_ptr<const gossip::VerifiedRecord>> Ed25519RecordVerifier::verify(
    std::span<const std::uint8_t> bytes, const gossip::RecordHeader& header) const {
  auto record = open_gossiped_record(bytes);
  if (!record) return record.status();
  if (record->node_id != header.subject || record->incarnation != header.incarnation ||
      record->sequence != header.sequence) {
    return invalid_argument("record header changed between peek and verify");
  }
  if (bound_operator_) {
    if (auto bound = bound_operator_(record->node_id); bound && *bound != record->operator_name) {
      return permission_denied("record of " + record->node_id.short_hex() + " claims operator \"" +
                               record->operator_name + "\"; its invitation names \"" + *bound + "\"");
    }
  }
  auto verified = std::make_shared<gossip::VerifiedRecord>();
  verified->header = header;
  verified->bytes.assign(bytes.begin(), bytes.end());
  return std::shared_ptr<const gossip::VerifiedRecord>(std::move(verified));
}

Result<NodeRecord> open_gossiped_record(std::span<const std::uint8_t> bytes) {
  auto signed_record = decode_signed_record(bytes);
  if (!signed_record) return signed_record.status();
  return open_node_record(*signed_record);  // signature, and author == subject
}

Result<Bytes> seal_gossiped_record(const Identity& self, const NodeRecord& record) {
  auto signed_record = sign_node_record(self, record);
  if (!signed_record) return signed_record.status();
  return encode_signed_record(*signed_record);
}

}  // namespace polder::node
