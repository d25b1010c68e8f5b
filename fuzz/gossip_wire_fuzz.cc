// gossip::Codec::decode (gossip/codec.h): SWIM messages with piggybacked
// updates, digests and records. Round trip: the re-encoding decodes to the
// same updates and encodes to the same bytes.
#include "fuzz/fuzz_util.h"
#include "gossip/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  polder::gossip::Codec codec;
  auto message = codec.decode({data, size});
  if (!message) return 0;
  auto first = codec.encode(*message);
  if (!first) return 0;  // over message_bytes_max once canonical: refused, not a bug
  auto again = codec.decode(*first);
  FUZZ_CHECK(again.is_ok(), "re-encoded gossip message does not decode: " + again.status().to_string());
  FUZZ_CHECK(again->body.index() == message->body.index(), "body kind changed");
  FUZZ_CHECK(again->updates == message->updates, "updates changed in a round trip");
  auto second = codec.encode(*again);
  FUZZ_CHECK(second.is_ok() && *second == *first, "encoding is not stable across a round trip");
  return 0;
}
