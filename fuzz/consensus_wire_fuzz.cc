// decode_message (consensus/wire.h): Paxos messages as peers send them.
// Every decoded message is valid by the decoder's contract (32-byte ids,
// sorted replica sets, ...), so it re-encodes and decodes to the same bytes.
#include "consensus/wire.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace polder::consensus;
  auto message = decode_message({data, size});
  if (!message) return 0;
  const polder::Bytes first = encode_message(*message);
  auto again = decode_message(first);
  FUZZ_CHECK(again.is_ok(), "re-encoded consensus message does not decode: " + again.status().to_string());
  FUZZ_CHECK(again->index() == message->index(), "message kind changed");
  FUZZ_CHECK(message_key(*again) == message_key(*message), "instance key changed");
  FUZZ_CHECK(encode_message(*again) == first, "encoding is not stable across a round trip");
  return 0;
}
