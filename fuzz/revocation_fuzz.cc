// decode_revocation (protocol/codec.h), the body of a kRevocation
// SignedRecord, and open_revocation over a record carrying the input as its
// body (a fuzzer cannot forge Ed25519: an unsigned body must never open).
#include "fuzz/fuzz_util.h"
#include "protocol/codec.h"
#include "protocol/revocation.h"
#include "protocol/signed_record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  polder::SignedRecord unsigned_record;
  unsigned_record.kind = polder::kRevocationKind;
  unsigned_record.body.assign(data, data + size);
  FUZZ_CHECK(!polder::open_revocation(unsigned_record).is_ok(), "an unsigned revocation was opened");
  auto revocation = polder::decode_revocation({data, size});
  if (!revocation) return 0;
  FUZZ_CHECK(revocation->reason.size() <= polder::Revocation::kReasonMaxBytes, "oversized reason accepted");
  auto bytes = polder::encode_revocation(*revocation);
  FUZZ_CHECK(bytes.is_ok(), "a decoded revocation does not encode: " + bytes.status().to_string());
  auto again = polder::decode_revocation(*bytes);
  FUZZ_CHECK(again.is_ok() && *again == *revocation, "revocation changed in a round trip");
  return 0;
}
