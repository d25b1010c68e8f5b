// decode_signed_record (protocol/codec.h) and what a receiver does next with
// the result: verify_record and open_node_record (protocol/signed_record.h).
// A fuzzer cannot forge Ed25519, so the check that matters is that no input
// crashes the verifier and that a round trip keeps every signed byte.
#include "fuzz/fuzz_util.h"
#include "protocol/codec.h"
#include "protocol/signed_record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto record = polder::decode_signed_record({data, size});
  if (!record) return 0;
  const polder::Status verified = polder::verify_record(*record);
  auto opened = polder::open_node_record(*record);
  FUZZ_CHECK(verified.is_ok() || !opened.is_ok(), "a record that does not verify was opened");
  auto bytes = polder::encode_signed_record(*record);
  if (!bytes) return 0;
  auto again = polder::decode_signed_record(*bytes);
  FUZZ_CHECK(again.is_ok(), "re-encoded SignedRecord does not decode: " + again.status().to_string());
  FUZZ_CHECK(again->author == record->author && again->kind == record->kind && again->body == record->body &&
                 again->signature == record->signature,
             "SignedRecord changed in a round trip");
  FUZZ_CHECK(polder::verify_record(*again).is_ok() == verified.is_ok(), "verification changed in a round trip");
  return 0;
}
