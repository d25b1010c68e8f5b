// decode_job_message (protocol/codec.h): the job protocol's message as a
// node stores it (Column::kJobs) and, inside the envelope, as peers and
// clients send it. Round trip: decode(encode(m)) == m.
#include "fuzz/fuzz_util.h"
#include "protocol/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto message = polder::decode_job_message({data, size});
  if (!message) return 0;
  auto bytes = polder::encode_job_message(*message);
  if (!bytes) return 0;
  auto again = polder::decode_job_message(*bytes);
  FUZZ_CHECK(again.is_ok(), "re-encoded JobMessage does not decode: " + again.status().to_string());
  FUZZ_CHECK(*again == *message, "JobMessage changed in a round trip");
  return 0;
}
