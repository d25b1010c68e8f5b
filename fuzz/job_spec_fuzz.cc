// decode_job_spec (protocol/codec.h): a job's spec as submitted and
// replicated. Round trip: decode(encode(s)) == s.
#include "fuzz/fuzz_util.h"
#include "protocol/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto spec = polder::decode_job_spec({data, size});
  if (!spec) return 0;
  auto bytes = polder::encode_job_spec(*spec);
  if (!bytes) return 0;
  auto again = polder::decode_job_spec(*bytes);
  FUZZ_CHECK(again.is_ok(), "re-encoded JobSpec does not decode: " + again.status().to_string());
  FUZZ_CHECK(*again == *spec, "JobSpec changed in a round trip");
  return 0;
}
