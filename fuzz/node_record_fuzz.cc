// decode_node_record (protocol/codec.h): the body of every gossiped capacity
// record. Round trip: decode(encode(r)) == r for every decoded r.
#include "fuzz/fuzz_util.h"
#include "protocol/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto record = polder::decode_node_record({data, size});
  if (!record) return 0;
  auto bytes = polder::encode_node_record(*record);
  if (!bytes) return 0;
  auto again = polder::decode_node_record(*bytes);
  FUZZ_CHECK(again.is_ok(), "re-encoded NodeRecord does not decode: " + again.status().to_string());
  FUZZ_CHECK(*again == *record, "NodeRecord changed in a round trip");
  return 0;
}
