#include "protocol/revocation.h"

#include "protocol/signed_record.h"

namespace polder {

Result<SignedRecord> sign_revocation(const Identity& signer, const Revocation& revocation) {
  if (revocation.reason.size() > Revocation::kReasonMaxBytes) {
    return invalid_argument("revocation reason over " + std::to_string(Revocation::kReasonMaxBytes) + " bytes");
  }
  auto body = encode_revocation(revocation);
  if (!body) return body.status();
  return sign_record(signer, kRevocationKind, std::move(*body));
}

Result<Revocation> open_revocation(const SignedRecord& record) {
  if (record.kind != kRevocationKind) return invalid_argument("record is not a revocation");
  POLDER_RETURN_IF_ERROR(verify_record(record));
  return decode_revocation(record.body);
}

}  // namespace polder
