// parse_node_config and parse_client_config (node/config.h): polderd.toml
// and client.toml. Any text: a config or an error, never a crash or an
// escaping toml++ exception. A config that loads renders to text that loads
// to the same config (render_*_config's documented round trip).
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "node/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace polder::node;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string node_path = "/fuzz/polderd.toml";
  if (auto cfg = parse_node_config(text, node_path)) {
    auto again = parse_node_config(render_node_config(*cfg), node_path);
    FUZZ_CHECK(again.is_ok(), "rendered node config does not load: " + again.status().to_string());
    FUZZ_CHECK(*again == *cfg, "node config changed in a render/parse round trip");
  }
  const std::string client_path = "/fuzz/client.toml";
  if (auto cfg = parse_client_config(text, client_path)) {
    auto again = parse_client_config(render_client_config(*cfg), client_path);
    FUZZ_CHECK(again.is_ok(), "rendered client config does not load: " + again.status().to_string());
    FUZZ_CHECK(*again == *cfg, "client config changed in a render/parse round trip");
  }
  return 0;
}
