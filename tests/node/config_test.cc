#include "node/config.h"

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace polder::node {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kKeyA(64, 'a');
const std::string kKeyB(64, 'b');
const std::string kKeyC(64, 'c');
const std::string kKeyD(64, 'd');

NodeId id(const std::string& hex) { return *NodeId::from_hex(hex); }

// Line numbers below are relied on by the tests: line 1 is "[node]".
const std::string kFullConfig = R"([node]
name = "n1.eu-west_2"
data_dir = "/var/lib/polder"
key_file = "/etc/polder/node.key"
region = "eu-west"
operator = "acme"

[network]
listen = "tcp://*:7400"
client_listen = "tcp://127.0.0.1:7401"
advertise = "tcp://n1.example.org:7400"
max_message_bytes = "2M"
send_hwm = 500
reconnect_ivl_ms = 250

[[network.seeds]]
key = ")" + kKeyB + R"("
address = "tcp://10.0.0.2:7400"

[federation]
members = [")" + kKeyC + R"("]

[client]
authorized_keys = [")" + kKeyD + R"("]

[resources]
cpus = 32
memory = "64G"

[[resources.gpus]]
type = "H100"
count = 4

[[resources.gpus]]
type = "A10"
count = 1

[log]
level = "debug"
json = true
)";

// Only the required keys.
const std::string kMinimalConfig = R"([node]
name = "n1"
data_dir = "/var/lib/polder"

[network]
listen = "tcp://127.0.0.1:7400"
client_listen = "tcp://127.0.0.1:7401"
)";

Status parse_error(const std::string& text) {
  auto r = parse_node_config(text, "polderd.toml");
  EXPECT_FALSE(r.is_ok()) << "expected an error for:\n" << text;
  return r.status();
}

// kMinimalConfig with `line` appended to the [network] table (line 7).
std::string minimal_plus_network(const std::string& line) { return kMinimalConfig + line + "\n"; }

TEST(ConfigNode, FullValidConfigParsesAllValues) {
  auto r = parse_node_config(kFullConfig, "/etc/polder/polderd.toml");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const NodeConfig& c = *r;
  EXPECT_EQ(c.config_path, "/etc/polder/polderd.toml");
  EXPECT_EQ(c.name, "n1.eu-west_2");
  EXPECT_EQ(c.data_dir, "/var/lib/polder");
  EXPECT_EQ(c.key_file, "/etc/polder/node.key");
  EXPECT_EQ(c.region, "eu-west");
  EXPECT_EQ(c.operator_name, "acme");
  EXPECT_EQ(c.listen, "tcp://*:7400");
  EXPECT_EQ(c.client_listen, "tcp://127.0.0.1:7401");
  EXPECT_EQ(c.advertise, "tcp://n1.example.org:7400");
  ASSERT_EQ(c.seeds.size(), 1u);
  EXPECT_EQ(c.seeds[0], (PeerDecl{id(kKeyB), "tcp://10.0.0.2:7400"}));
  EXPECT_EQ(c.max_message_bytes, 2u << 20);
  EXPECT_EQ(c.send_hwm, 500);
  EXPECT_EQ(c.reconnect_ivl_ms, 250);
  EXPECT_EQ(c.members, (std::vector<NodeId>{id(kKeyC), id(kKeyB)}));  // the seed is a member too
  EXPECT_EQ(c.authorized_keys, std::vector<NodeId>{id(kKeyD)});
  EXPECT_EQ(c.cpus, 32u);
  EXPECT_EQ(c.memory_bytes, 64ULL << 30);
  EXPECT_EQ(c.gpus, (std::vector<GpuDecl>{{"H100", 4}, {"A10", 1}}));
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_TRUE(c.log_json);
}

TEST(ConfigNode, DefaultsAppliedWhenOptionalKeysAbsent) {
  auto r = parse_node_config(kMinimalConfig, "/etc/polder/polderd.toml");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  const NodeConfig& c = *r;
  EXPECT_EQ(c.key_file, "/etc/polder/node.key");
  EXPECT_EQ(c.region, "default");
  EXPECT_EQ(c.operator_name, "default");
  EXPECT_EQ(c.advertise, "tcp://127.0.0.1:7400");  // defaults to listen
  EXPECT_TRUE(c.seeds.empty());
  EXPECT_EQ(c.max_message_bytes, 1u << 20);
  EXPECT_EQ(c.send_hwm, 1000);
  EXPECT_EQ(c.reconnect_ivl_ms, 100);
  EXPECT_TRUE(c.members.empty());
  EXPECT_TRUE(c.authorized_keys.empty());
  EXPECT_EQ(c.cpus, 1u);
  EXPECT_EQ(c.memory_bytes, 1ULL << 30);
  EXPECT_TRUE(c.gpus.empty());
  EXPECT_EQ(c.log_level, "info");
  EXPECT_FALSE(c.log_json);
}

TEST(ConfigNode, UnknownKeyNamesKeyLineAndKnownKeys) {
  Status s = parse_error(minimal_plus_network("lisen = \"tcp://127.0.0.1:7402\""));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), AllOf(HasSubstr("polderd.toml:8: unknown key network.lisen"),
                                 HasSubstr("did you mean network.listen?"),
                                 HasSubstr("known keys in [network]: listen, client_listen, http_listen, advertise")));
}

TEST(ConfigNode, UnknownTableNamesItAndKnownTables) {
  Status s = parse_error(kMinimalConfig + "\n[lgo]\nlevel = \"info\"\n");
  EXPECT_THAT(s.message(), AllOf(HasSubstr("polderd.toml:9: unknown key lgo"), HasSubstr("did you mean log?"),
                                 HasSubstr("node, network, federation, client, resources, gossip, jobs, limits, log")));
}

TEST(ConfigNode, UnknownKeyInsideSeedNamesIndexedKey) {
  Status s = parse_error(kMinimalConfig + "[[network.seeds]]\nkey = \"" + kKeyB +
                         "\"\naddress = \"tcp://10.0.0.2:7400\"\nport = 7400\n");
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:11: unknown key network.seeds[0].port"));
}

TEST(ConfigNode, BadTypeNamesKeyAndLine) {
  Status s = parse_error(kMinimalConfig + "[resources]\ncpus = \"eight\"\n");
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:9: resources.cpus: expected an integer, got a string (\"eight\")"));
}

TEST(ConfigNode, NonTableSectionIsBadType) {
  Status s = parse_error("log = 3\n" + kMinimalConfig);
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:1: log: expected a table [log], got an integer (3)"));
}

TEST(ConfigNode, BadAddressNamesKeyAndLine) {
  std::string text = kMinimalConfig;
  text.replace(text.find("tcp://127.0.0.1:7400"), 20, "tcp//x");
  Status s = parse_error(text);
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:6: network.listen: \"tcp//x\" is not a ZeroMQ TCP address "
                                     "(expected tcp://HOST:PORT)"));
}

TEST(ConfigNode, OutOfRangeNumberNamesKeyAndRange) {
  Status s = parse_error(minimal_plus_network("send_hwm = 0"));
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:8: network.send_hwm: 0 is out of range 1..1000000"));
}

TEST(ConfigNode, MissingRequiredKeyNamed) {
  std::string text = kMinimalConfig;
  text.erase(text.find("data_dir"), text.find('\n', text.find("data_dir")) - text.find("data_dir") + 1);
  Status s = parse_error(text);
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:1: node.data_dir: required key is missing"));
}

TEST(ConfigNode, MissingSectionNamesEachRequiredKey) {
  Status s = parse_error("[node]\nname = \"n1\"\ndata_dir = \"d\"\n");
  EXPECT_THAT(s.message(), AllOf(HasSubstr("polderd.toml: network.listen: required key is missing (add it under "
                                           "[network])"),
                                 HasSubstr("polderd.toml: network.client_listen: required key is missing")));
}

TEST(ConfigNode, BadHexKeyInMembersNamesIndexAndLine) {
  Status s = parse_error(kMinimalConfig + "[federation]\nmembers = [\n  \"" + kKeyA + "\",\n  \"xyz\",\n]\n");
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:11: federation.members[1]: \"xyz\" is not a node key: expected "
                                     "64 hex digits"));
}

TEST(ConfigNode, BadNodeNameNamed) {
  std::string text = kMinimalConfig;
  text.replace(text.find("\"n1\""), 4, "\"my node\"");
  EXPECT_THAT(parse_error(text).message(), HasSubstr("polderd.toml:2: node.name: \"my node\" is not a node name"));
}

TEST(ConfigNode, BadLogLevelListsChoices) {
  Status s = parse_error(kMinimalConfig + "[log]\nlevel = \"verbose\"\n");
  EXPECT_THAT(s.message(), HasSubstr("log.level: \"verbose\" is not one of trace, debug, info, warn, error, off"));
}

TEST(ConfigNode, WildcardAdvertiseRejected) {
  Status s = parse_error(minimal_plus_network("advertise = \"tcp://*:7400\""));
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:8: network.advertise: \"tcp://*:7400\" names all interfaces"));
}

TEST(ConfigNode, ListenAndClientListenOnSamePortRejected) {
  std::string text = kMinimalConfig;
  text.replace(text.find("tcp://127.0.0.1:7400"), 20, "tcp://*:7401");
  EXPECT_THAT(parse_error(text).message(),
              HasSubstr("polderd.toml:7: network.client_listen: \"tcp://127.0.0.1:7401\" uses the same port"));
}

TEST(ConfigNode, DuplicateGpuTypeRejected) {
  Status s = parse_error(kMinimalConfig + "[[resources.gpus]]\ntype = \"H100\"\ncount = 4\n"
                                          "[[resources.gpus]]\ntype = \"H100\"\ncount = 2\n");
  EXPECT_THAT(s.message(), HasSubstr("resources.gpus[1]: same type as resources.gpus[0]"));
}

TEST(ConfigNode, GpuCountOutOfRangeNamed) {
  Status s = parse_error(kMinimalConfig + "[[resources.gpus]]\ntype = \"H100\"\ncount = 0\n");
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:10: resources.gpus[0].count: 0 is out of range 1..1024"));
}

TEST(ConfigNode, BadMemorySizeNamed) {
  Status s = parse_error(kMinimalConfig + "[resources]\nmemory = \"16X\"\n");
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:9: resources.memory: \"16X\" is not a size"));
}

TEST(ConfigNode, MemoryAcceptsIntegerBytes) {
  auto r = parse_node_config(kMinimalConfig + "[resources]\nmemory = 4096\n", "polderd.toml");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->memory_bytes, 4096u);
}

TEST(ConfigNode, GossipProfileAndOverridesParse) {
  auto r = parse_node_config(kMinimalConfig + "[gossip]\nprofile = \"wan\"\nprobe_interval_ms = 250\nfanout = 4\n",
                             "polderd.toml");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->gossip_profile, "wan");
  EXPECT_EQ(r->gossip_probe_interval_ms, 250);
  EXPECT_EQ(r->gossip_fanout, 4);
  EXPECT_FALSE(r->gossip_suspicion_mult.has_value());
}

TEST(ConfigNode, JobLeaseParsesAndOutOfRangeIsNamed) {
  auto r = parse_node_config(kMinimalConfig + "[jobs]\nlease_ms = 2500\n", "polderd.toml");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->jobs_lease_ms, 2500);
  EXPECT_EQ(parse_node_config(render_node_config(*r), "polderd.toml")->jobs_lease_ms, 2500);
  Status s = parse_error(kMinimalConfig + "[jobs]\nlease_ms = 999\n");
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:9: jobs.lease_ms: 999 is out of range 1000..600000"));
}

TEST(ConfigNode, BadGossipValuesNamed) {
  Status s = parse_error(kMinimalConfig + "[gossip]\nprofile = \"moon\"\nfanout = 0\n");
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:9: gossip.profile"));
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:10: gossip.fanout: 0 is out of range 1..32"));
}

TEST(ConfigNode, GossipOverridesRoundTrip) {
  auto r = parse_node_config(kMinimalConfig + "[gossip]\nsuspicion_mult = 3\ndead_reap_after_s = 60\n", "polderd.toml");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  auto again = parse_node_config(render_node_config(*r), "polderd.toml");
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  EXPECT_EQ(again->gossip_suspicion_mult, 3);
  EXPECT_EQ(again->gossip_dead_reap_after_s, 60);
}

TEST(ConfigNode, AllProblemsReportedInLineOrder) {
  Status s = parse_error(kMinimalConfig + "send_hwm = -1\n[resources]\ncpus = 0\n");
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:8: network.send_hwm: -1 is out of range 1..1000000\n"
                                     "polderd.toml:10: resources.cpus: 0 is out of range"));
}

TEST(ConfigNode, SyntaxErrorReportsLine) {
  Status s = parse_error("[node]\nname = \"n1\"\ndata_dir = \n");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("polderd.toml:3: TOML syntax error"));
}

TEST(ConfigNode, RelativeDataDirResolvedAgainstConfigDir) {
  std::string text = kMinimalConfig;
  text.replace(text.find("/var/lib/polder"), 15, "state/../data");
  auto r = parse_node_config(text, "/srv/n1/polderd.toml");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->data_dir, "/srv/n1/data");
  EXPECT_EQ(r->key_file, "/srv/n1/node.key");
}

TEST(ConfigNode, RenderRoundTripsToEqualConfig) {
  auto first = parse_node_config(kFullConfig, "/etc/polder/polderd.toml");
  ASSERT_TRUE(first.is_ok()) << first.status().message();
  const std::string text = render_node_config(*first);
  auto second = parse_node_config(text, "/etc/polder/polderd.toml");
  ASSERT_TRUE(second.is_ok()) << second.status().message() << "\n" << text;
  EXPECT_EQ(*second, *first) << text;
}

TEST(ConfigNode, RenderRoundTripsAwkwardStrings) {
  auto first = parse_node_config(kMinimalConfig, "/etc/polder/polderd.toml");
  ASSERT_TRUE(first.is_ok());
  NodeConfig c = *first;
  c.data_dir = "/data/with \"quotes\" and \\ backslash/ünïcode";
  c.region = "eu \"west\"";
  c.memory_bytes = 1536ULL << 20;  // 1.5G: rendered as "1536M"
  c.max_message_bytes = 5000;      // not a whole number of K: rendered as an integer
  auto second = parse_node_config(render_node_config(c), "/etc/polder/polderd.toml");
  ASSERT_TRUE(second.is_ok()) << second.status().message();
  EXPECT_EQ(*second, c);
}

TEST(ConfigNode, RenderedInitConfigParsesWithRelativePaths) {
  NodeConfig c;  // what `polderd init` fills in
  c.name = "n1";
  c.data_dir = "data";
  c.listen = "tcp://127.0.0.1:7400";
  c.client_listen = "tcp://127.0.0.1:7401";
  c.authorized_keys = {id(kKeyD)};
  const std::string text = render_node_config(c);
  EXPECT_THAT(text, HasSubstr("data_dir = \"data\""));
  auto r = parse_node_config(text, "/srv/n1/polderd.toml");
  ASSERT_TRUE(r.is_ok()) << r.status().message() << "\n" << text;
  EXPECT_EQ(r->data_dir, "/srv/n1/data");
  EXPECT_EQ(r->advertise, c.listen);
  EXPECT_EQ(r->authorized_keys, c.authorized_keys);
}

TEST(ConfigNode, RenderPutsACommentAboveEveryKey) {
  NodeConfig c;
  c.name = "n1";
  c.data_dir = "data";
  c.listen = "tcp://127.0.0.1:7400";
  c.client_listen = "tcp://127.0.0.1:7401";
  c.advertise = "tcp://n1.example.org:7400";
  const std::string text = render_node_config(c);
  std::vector<std::string> lines;
  std::string line;
  for (std::istringstream in(text); std::getline(in, line);) lines.push_back(line);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find(" = ") == std::string::npos || lines[i].starts_with("#")) continue;
    ASSERT_GT(i, 0u);
    EXPECT_TRUE(lines[i - 1].starts_with("#")) << "no comment above: " << lines[i];
  }
}

// ---------------------------------------------------------------------------

// A fresh directory under /tmp, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "polder-config-XXXXXX").string();
    const char* made = mkdtemp(templ.data());
    if (made == nullptr) std::abort();  // the test machine itself is broken
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ConfigLoad, MissingFileIsNotFoundNamingPath) {
  TempDir dir;
  const std::string path = dir.path() + "/nope.toml";
  auto r = load_node_config(path);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr(path));
  EXPECT_EQ(load_client_config(path).status().code(), StatusCode::kNotFound);
}

TEST(ConfigLoad, LoadsFileAndResolvesPathsAgainstItsDirectory) {
  TempDir dir;
  std::string text = kMinimalConfig;
  text.replace(text.find("/var/lib/polder"), 15, "data");
  const std::string path = dir.write("polderd.toml", text);
  auto r = load_node_config(path);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->config_path, path);
  EXPECT_EQ(r->data_dir, dir.path() + "/data");
  EXPECT_EQ(r->key_file, dir.path() + "/node.key");
}

TEST(ConfigLoad, ErrorsNameTheFileAsGiven) {
  TempDir dir;
  const std::string path = dir.write("polderd.toml", "[node]\nname = 5\n");
  auto r = load_node_config(path);
  ASSERT_FALSE(r.is_ok());
  EXPECT_THAT(r.status().message(), HasSubstr(path + ":2: node.name: expected a string, got an integer (5)"));
}

TEST(ConfigLoad, DirectoryIsNotAConfig) {
  TempDir dir;
  auto r = load_node_config(dir.path());
  ASSERT_FALSE(r.is_ok());
  EXPECT_THAT(r.status().message(), HasSubstr("is not a regular file"));
}

// ---------------------------------------------------------------------------

TEST(ConfigSize, ParsesValidSizes) {
  struct Case {
    std::string_view text;
    std::uint64_t bytes;
  };
  const Case cases[] = {
      {"0", 0},
      {"42", 42},
      {"100K", 100ULL << 10},
      {"512M", 512ULL << 20},
      {"8G", 8ULL << 30},
      {"8g", 8ULL << 30},
      {"1.5G", 3ULL << 29},
      {"1.1G", 1181116006},  // rounded down to whole bytes
      {"0.5K", 512},
      {"1T", 1ULL << 40},
      {"16777215T", 16777215ULL << 40},
      {"18446744073709551615", 18446744073709551615ULL},
  };
  for (const auto& c : cases) {
    auto r = parse_size_bytes(c.text);
    ASSERT_TRUE(r.is_ok()) << c.text << ": " << r.status().message();
    EXPECT_EQ(*r, c.bytes) << c.text;
  }
}

TEST(ConfigSize, RejectsInvalidSizes) {
  const std::string_view cases[] = {
      "",   "-1",  "8X",  "G",    "1.5", ".5G", "1.G", "8 G", " 8G", "8GB", "8KiB", "+8",
      "1e9", "0x10", "16777216T", "18446744073709551616", "99999999999999999999999", "1.2.3G",
  };
  for (auto text : cases) {
    auto r = parse_size_bytes(text);
    ASSERT_FALSE(r.is_ok()) << "accepted " << text << " as " << *r;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("is not a size")) << text;
  }
}

TEST(ConfigEndpoint, AcceptsValidEndpoints) {
  for (std::string_view ep : {"tcp://127.0.0.1:7400", "tcp://*:1", "tcp://localhost:65535", "tcp://0.0.0.0:7400",
                              "tcp://node-1.example.org:7400", "tcp://n1:80"}) {
    EXPECT_TRUE(validate_tcp_endpoint(ep).is_ok()) << ep << ": " << validate_tcp_endpoint(ep).message();
  }
}

TEST(ConfigEndpoint, RejectsInvalidEndpoints) {
  for (std::string_view ep : {"", "tcp//x", "udp://1.2.3.4:5", "tcp://1.2.3.4", "tcp://:7400", "tcp://h:0",
                              "tcp://h:65536", "tcp://h:-1", "tcp://h:", "tcp://256.1.1.1:7400", "tcp://1.2.3:7400",
                              "tcp://-bad.example:7400", "tcp://a..b:7400", "tcp://a b:7400", "tcp://[::1]:7400",
                              "tcp://h:74000"}) {
    Status s = validate_tcp_endpoint(ep);
    EXPECT_FALSE(s.is_ok()) << ep;
    EXPECT_THAT(s.message(), HasSubstr("is not a ZeroMQ TCP address")) << ep;
  }
}

// ---------------------------------------------------------------------------

const std::string kClientConfig = "node_address = \"tcp://127.0.0.1:7401\"\nnode_key = \"" + kKeyA +
                                  "\"\nkey_file = \"cli.key\"\ntimeout_ms = 2000\n";

TEST(ConfigClient, ParsesAllValues) {
  auto r = parse_client_config(kClientConfig, "/home/u/.polder/client.toml");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->node_address, "tcp://127.0.0.1:7401");
  EXPECT_EQ(r->node_key, id(kKeyA));
  EXPECT_EQ(r->key_file, "/home/u/.polder/cli.key");
  EXPECT_EQ(r->timeout_ms, 2000);
}

TEST(ConfigClient, RenderRoundTripsToEqualConfig) {
  auto first = parse_client_config(kClientConfig, "/home/u/.polder/client.toml");
  ASSERT_TRUE(first.is_ok());
  auto second = parse_client_config(render_client_config(*first), "/home/u/.polder/client.toml");
  ASSERT_TRUE(second.is_ok()) << second.status().message();
  EXPECT_EQ(*second, *first);
}

TEST(ConfigClient, MissingNodeKeyNamed) {
  auto r = parse_client_config("node_address = \"tcp://127.0.0.1:7401\"\n", "client.toml");
  ASSERT_FALSE(r.is_ok());
  EXPECT_THAT(r.status().message(), HasSubstr("client.toml: node_key: required key is missing"));
}

TEST(ConfigClient, UnknownKeyNamedWithLine) {
  auto r = parse_client_config(kClientConfig + "timeout = 5\n", "client.toml");
  ASSERT_FALSE(r.is_ok());
  EXPECT_THAT(r.status().message(), AllOf(HasSubstr("client.toml:5: unknown key timeout"),
                                          HasSubstr("did you mean timeout_ms?")));
}

TEST(ConfigClient, TimeoutOutOfRangeNamed) {
  std::string text = kClientConfig;
  text.replace(text.find("2000"), 4, "50");
  auto bad = parse_client_config(text, "client.toml");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("client.toml:4: timeout_ms: 50 is out of range 100..600000"));
}

TEST(ConfigClient, WildcardNodeAddressRejected) {
  std::string text = kClientConfig;
  text.replace(text.find("127.0.0.1"), 9, "*");
  auto r = parse_client_config(text, "client.toml");
  ASSERT_FALSE(r.is_ok());
  EXPECT_THAT(r.status().message(), AllOf(HasSubstr("client.toml:1: node_address:"), Not(HasSubstr("\n"))));
}

}  // namespace
}  // namespace polder::node
