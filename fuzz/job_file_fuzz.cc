// parse_job_file, parse_duration_s and parse_input (node/job_file.h): what
// `polder submit -f job.toml --max-time T --input NAME@SITE:SIZE` reads.
// A spec that parses is one the wire can carry: it encodes and decodes to
// itself. A duration that parses is > 0 (the header's contract).
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "node/job_file.h"
#include "protocol/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace polder::node;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto spec = parse_job_file(text, "job.toml")) {
    auto bytes = polder::encode_job_spec(*spec);
    if (bytes) {
      auto again = polder::decode_job_spec(*bytes);
      FUZZ_CHECK(again.is_ok(), "a parsed job file does not survive the wire: " + again.status().to_string());
      FUZZ_CHECK(*again == *spec, "a parsed job file changed on the wire");
    }
  }
  if (auto seconds = parse_duration_s(text)) FUZZ_CHECK(*seconds > 0, "parse_duration_s returned 0");
  if (auto input = parse_input(text)) {
    FUZZ_CHECK(!input->dataset.empty() && !input->site.empty(), "parse_input accepted an empty name or site");
  }
  return 0;
}
