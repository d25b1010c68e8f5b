// The value parsers behind `polder` and `polderd` flags: --mem (and
// resources.memory) through parse_size_bytes, --max-time through
// parse_duration_s, --input through parse_input, job ids and keys through
// JobId/NodeId::from_hex, addresses through validate_tcp_endpoint.
//
// The command lines themselves (CLI11) are fuzzed by cli_args_fuzz.cc.
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "node/config.h"
#include "node/job_file.h"
#include "protocol/ids.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace polder;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)node::parse_size_bytes(text);
  (void)node::parse_duration_s(text);
  (void)node::parse_input(text);
  (void)node::validate_tcp_endpoint(text);
  if (auto id = JobId::from_hex(text)) {
    auto again = JobId::from_hex(id->hex());
    FUZZ_CHECK(again.is_ok() && *again == *id, "job id hex round trip");
  }
  if (auto id = NodeId::from_hex(text)) {
    FUZZ_CHECK(id->hex().size() == 64, "node id hex is not 64 digits");
  }
  return 0;
}
