#include "protocol/invitation.h"

#include <cctype>

#include "protocol/signed_record.h"

namespace polder {
namespace {
constexpr std::string_view kFileTag = "polder-invitation-v1";

Status check_invitation(const Invitation& i) {
  if (i.operator_name.empty() || i.operator_name.size() > Invitation::kOperatorMaxBytes) {
    return invalid_argument("invitation operator must be 1.." + std::to_string(Invitation::kOperatorMaxBytes) +
                            " bytes");
  }
  if (i.inviter_address.size() > Invitation::kAddressMaxBytes) return invalid_argument("invitation address too long");
  if (i.members.size() > Invitation::kListMax || i.founders.size() > Invitation::kListMax) {
    return invalid_argument("invitation lists at most " + std::to_string(Invitation::kListMax) + " keys each");
  }
  if (i.expires_at_us <= i.issued_at_us) return invalid_argument("invitation expires before it was issued");
  return Status::ok();
}
}  // namespace

Result<SignedRecord> sign_invitation(const Identity& inviter, const Invitation& invitation) {
  POLDER_RETURN_IF_ERROR(check_invitation(invitation));
  if (invitation.replaces && *invitation.replaces != inviter.id()) {
    return invalid_argument("a key rotation is signed by the key it replaces");
  }
  auto body = encode_invitation(invitation);
  if (!body) return body.status();
  return sign_record(inviter, kInvitationKind, std::move(*body));
}

Result<Invitation> open_invitation(const SignedRecord& record) {
  if (record.kind != kInvitationKind) return invalid_argument("record is not an invitation");
  POLDER_RETURN_IF_ERROR(verify_record(record));
  auto invitation = decode_invitation(record.body);
  if (!invitation) return invitation.status();
  if (invitation->replaces && *invitation->replaces != record.author) {
    return invalid_argument("key rotation signed by " + record.author.short_hex() + ", not by the key it replaces");
  }
  if (invitation->invitee == record.author) return invalid_argument("an invitation of its own signer");
  return invitation;
}

Result<SignedRecord> sign_admission(const Identity& attester, const SignedRecord& invitation_record) {
  auto inner = encode_signed_record(invitation_record);
  if (!inner) return inner.status();
  return sign_record(attester, kAdmissionKind, std::move(*inner));
}

Result<SignedRecord> open_admission(const SignedRecord& record) {
  if (record.kind != kAdmissionKind) return invalid_argument("record is not an admission");
  POLDER_RETURN_IF_ERROR(verify_record(record));
  return decode_signed_record(record.body);
}

std::string invitation_file_text(const SignedRecord& record) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto bytes = encode_signed_record(record);
  std::string out(kFileTag);
  out += ' ';
  if (bytes) {
    for (std::uint8_t b : *bytes) {
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  out += '\n';
  return out;
}

Result<SignedRecord> parse_invitation_file_text(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  if (text.substr(0, kFileTag.size()) != kFileTag || text.size() < kFileTag.size() + 2 ||
      text[kFileTag.size()] != ' ') {
    return invalid_argument("not an invitation: expected a line \"" + std::string(kFileTag) + " <hex>\"");
  }
  std::string_view hex = text.substr(kFileTag.size() + 1);
  if (hex.size() % 2 != 0 || hex.size() > 2 * 65536) return invalid_argument("invitation: bad hex length");
  Bytes bytes;
  bytes.reserve(hex.size() / 2);
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return invalid_argument("invitation: not hex");
    bytes.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  auto record = decode_signed_record(bytes);
  if (!record) return Status(record.status().code(), "invitation: " + record.status().message());
  return record;
}

}  // namespace polder
