#include "protocol/signed_record.h"

#include <cstring>
#include <string_view>

#include "protocol/codec.h"

namespace polder {
namespace {

constexpr std::string_view kDomain = "polder-record-v1";

Bytes signing_input(const NodeId& author, RecordKind kind, const Bytes& body) {
  // Laid out with memcpy into a pre-sized buffer: GCC 12 reports a false
  // stringop-overflow for chained vector::insert calls here.
  Bytes input(kDomain.size() + NodeId::kSizeBytes + 2 + body.size());
  std::uint8_t* out = input.data();
  std::memcpy(out, kDomain.data(), kDomain.size());
  out += kDomain.size();
  std::memcpy(out, author.bytes().data(), NodeId::kSizeBytes);
  out += NodeId::kSizeBytes;
  auto k = static_cast<std::uint16_t>(kind);
  *out++ = static_cast<std::uint8_t>(k & 0xff);
  *out++ = static_cast<std::uint8_t>(k >> 8);
  if (!body.empty()) std::memcpy(out, body.data(), body.size());
  return input;
}

}  // namespace

SignedRecord sign_record(const Identity& author, RecordKind kind, Bytes body) {
  SignedRecord r;
  r.author = author.id();
  r.kind = kind;
  r.signature = author.sign(signing_input(r.author, kind, body));
  r.body = std::move(body);
  return r;
}

Status verify_record(const SignedRecord& record) {
  if (!verify_signature(record.author, signing_input(record.author, record.kind, record.body), record.signature)) {
    return permission_denied("bad signature on record from " + record.author.short_hex());
  }
  return Status::ok();
}

Result<SignedRecord> sign_node_record(const Identity& author, const NodeRecord& record) {
  if (record.node_id != author.id()) {
    return invalid_argument("a node may only sign its own record");
  }
  auto body = encode_node_record(record);
  if (!body) return body.status();
  return sign_record(author, RecordKind::kNodeRecord, std::move(*body));
}

Result<NodeRecord> open_node_record(const SignedRecord& record) {
  if (record.kind != RecordKind::kNodeRecord) return invalid_argument("record is not a node record");
  POLDER_RETURN_IF_ERROR(verify_record(record));
  auto decoded = decode_node_record(record.body);
  if (!decoded) return decoded.status();
  if (decoded->node_id != record.author) {
    return permission_denied("node record about " + decoded->node_id.short_hex() + " signed by " +
                             record.author.short_hex() + ": nobody may speak for another node");
  }
  return decoded;
}

}  // namespace polder
