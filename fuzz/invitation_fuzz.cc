// decode_invitation and the invitation file text (protocol/invitation.h),
// and InvitationList::accept (node/invitations.h) over records carrying the
// input: a fuzzer cannot forge Ed25519, so nothing it sends is ever
// honoured, even by a list that counts every key as a member.
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "node/invitations.h"
#include "protocol/codec.h"
#include "protocol/invitation.h"
#include "protocol/signed_record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  polder::node::InvitationList list({}, [](const polder::NodeId&) { return true; },
                                    [](const polder::NodeId&) { return false; });
  for (auto kind : {polder::kInvitationKind, polder::kAdmissionKind}) {
    polder::SignedRecord unsigned_record;
    unsigned_record.kind = kind;
    unsigned_record.body.assign(data, data + size);
    FUZZ_CHECK(!list.accept(unsigned_record, 0).is_ok(), "an unsigned invitation or admission was honoured");
  }
  if (auto record = polder::decode_signed_record({data, size})) {
    FUZZ_CHECK(!list.accept(*record, 0).is_ok() || polder::verify_record(*record).is_ok(),
               "a record that does not verify was honoured");
  }
  if (auto from_text = polder::parse_invitation_file_text(
          std::string_view(reinterpret_cast<const char*>(data), size))) {
    auto again = polder::parse_invitation_file_text(polder::invitation_file_text(*from_text));
    FUZZ_CHECK(again.is_ok() && again->body == from_text->body && again->signature == from_text->signature,
               "invitation file text changed in a round trip");
  }
  auto invitation = polder::decode_invitation({data, size});
  if (!invitation) return 0;
  FUZZ_CHECK(invitation->expires_at_us > invitation->issued_at_us, "an invitation expiring before its issue accepted");
  FUZZ_CHECK(!invitation->operator_name.empty() &&
                 invitation->operator_name.size() <= polder::Invitation::kOperatorMaxBytes,
             "bad operator accepted");
  auto bytes = polder::encode_invitation(*invitation);
  FUZZ_CHECK(bytes.is_ok(), "a decoded invitation does not encode: " + bytes.status().to_string());
  auto again = polder::decode_invitation(*bytes);
  FUZZ_CHECK(again.is_ok() && *again == *invitation, "invitation changed in a round trip");
  return 0;
}
