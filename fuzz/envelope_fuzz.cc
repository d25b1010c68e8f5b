// The envelope every peer and client message arrives in (protocol/codec.h),
// with every payload, the JobMessage and the JobBatch included. Any bytes: decode() returns
// a value or an error and never crashes. A decoded envelope re-encodes, and
// the re-encoding decodes to the same bytes again (decode . encode is the
// identity on what decode produces).
#include <cstdint>
#include <variant>

#include "fuzz/fuzz_util.h"
#include "protocol/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  polder::Codec codec;
  auto decoded = codec.decode({data, size});
  FUZZ_CHECK(codec.counters().decoded + codec.counters().rejected == 1, "every input is counted once");
  if (!decoded) return 0;
  // A payload of a newer protocol is ignored, never re-sent.
  if (std::holds_alternative<polder::UnknownPayload>(decoded->payload)) return 0;
  auto first = codec.encode(*decoded);
  if (!first) return 0;  // canonical form over max_message_bytes: refused, not a bug
  auto again = codec.decode(*first);
  FUZZ_CHECK(again.is_ok(), "re-encoded envelope does not decode: " + again.status().to_string());
  FUZZ_CHECK(again->payload.index() == decoded->payload.index(), "payload kind changed");
  FUZZ_CHECK(again->sender == decoded->sender && again->message_id == decoded->message_id &&
                 again->timestamp_us == decoded->timestamp_us && again->version == decoded->version,
             "header changed in a round trip");
  if (const auto* job = std::get_if<polder::JobMessage>(&decoded->payload)) {
    FUZZ_CHECK(*job == std::get<polder::JobMessage>(again->payload), "JobMessage changed in a round trip");
  }
  if (const auto* batch = std::get_if<polder::JobBatch>(&decoded->payload)) {
    FUZZ_CHECK(*batch == std::get<polder::JobBatch>(again->payload), "JobBatch changed in a round trip");
  }
  auto second = codec.encode(*again);
  FUZZ_CHECK(second.is_ok() && *second == *first, "encoding is not stable across a round trip");
  return 0;
}
