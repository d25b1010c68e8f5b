// polder: the Polder command-line client. Talks to one node over its client
// channel (CurveZMQ, with the CLI's own key that the node's operator
// authorised).
//
// Exit codes (documented in --help and docs/cli.md):
//   0 success; 1 the node answered with an error; 2 bad arguments or
//   client config; 3 node unreachable or no reply within the timeout;
//   4 the node refused this client's key.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "node/config.h"
#include "node/rpc_client.h"

namespace {

using polder::StatusCode;
using json = nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitNodeError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr int kExitRefused = 4;

constexpr const char* kExitCodesHelp =
    "Exit codes: 0 ok, 1 node answered with an error, 2 bad arguments or config, "
    "3 node unreachable/timeout, 4 node refused this client's key.\n"
    "The client config comes from --config or $POLDER_CONFIG (written by `polderd init` as DIR/client.toml).";

struct Options {
  std::string config_path;
  bool json = false;
  int timeout_ms = 0;  // 0: from client.toml
};

int exit_code_for(const polder::Status& s) {
  switch (s.code()) {
    case StatusCode::kUnavailable: return kExitUnreachable;
    case StatusCode::kPermissionDenied: return kExitRefused;
    default: return kExitNodeError;
  }
}

int fail(const Options& o, const polder::Status& s, int code) {
  if (o.json) {
    std::cout << json{{"ok", false}, {"error", polder::status_code_name(s.code())}, {"message", s.message()}}.dump()
              << "\n";
  } else {
    std::cerr << "polder: " << s.message() << "\n";
  }
  return code;
}

// Loads the client config and connects. On failure prints and sets `rc`.
std::unique_ptr<polder::node::RpcClient> connect(const Options& o, int& rc) {
  if (o.config_path.empty()) {
    rc = fail(o, polder::invalid_argument("no client config: pass --config DIR/client.toml or set POLDER_CONFIG"),
              kExitUsage);
    return nullptr;
  }
  auto cfg = polder::node::load_client_config(o.config_path);
  if (!cfg) {
    rc = fail(o, cfg.status(), kExitUsage);
    return nullptr;
  }
  auto key = polder::Identity::load(cfg->key_file);
  if (!key) {
    rc = fail(o, polder::Status(key.status().code(), "client key: " + key.status().message()), kExitUsage);
    return nullptr;
  }
  int timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : cfg->timeout_ms;
  auto client = polder::node::RpcClient::connect(*key, cfg->node_key, cfg->node_address,
                                                 std::chrono::milliseconds(timeout_ms));
  if (!client) {
    rc = fail(o, client.status(), kExitUsage);
    return nullptr;
  }
  return std::move(*client);
}

// Sends `payload` and returns the node's reply of type Reply. On failure
// prints why and sets `rc` to the exit code.
template <typename Reply>
std::optional<Reply> request(const Options& o, polder::Payload payload, const char* what, int& rc) {
  auto client = connect(o, rc);
  if (!client) return std::nullopt;
  auto reply = client->call(std::move(payload));
  if (!reply) {
    rc = fail(o, reply.status(), exit_code_for(reply.status()));
    return std::nullopt;
  }
  auto* value = std::get_if<Reply>(&reply->payload);
  if (!value) {
    rc = fail(o, polder::internal_error(std::string("node sent an unexpected reply to ") + what), kExitNodeError);
    return std::nullopt;
  }
  return std::move(*value);
}

int cmd_ping(const Options& o) {
  int rc = 0;
  auto client = connect(o, rc);
  if (!client) return rc;
  auto start = std::chrono::steady_clock::now();
  auto reply = client->call(polder::Ping{static_cast<std::uint64_t>(start.time_since_epoch().count())});
  if (!reply) return fail(o, reply.status(), exit_code_for(reply.status()));
  double rtt_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (o.json) {
    std::cout << json{{"ok", true}, {"node_id", reply->sender.hex()}, {"rtt_ms", rtt_ms}}.dump() << "\n";
  } else {
    std::printf("pong from %s in %.2f ms\n", reply->sender.short_hex().c_str(), rtt_ms);
  }
  return kExitOk;
}

std::string human_duration(std::uint64_t ms) {
  std::uint64_t s = ms / 1000;
  char buf[64];
  if (s < 60) std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%llum%llus", static_cast<unsigned long long>(s / 60), static_cast<unsigned long long>(s % 60));
  else std::snprintf(buf, sizeof buf, "%lluh%llum", static_cast<unsigned long long>(s / 3600), static_cast<unsigned long long>(s % 3600 / 60));
  return buf;
}

int cmd_info(const Options& o) {
  int rc = 0;
  auto info = request<polder::NodeInfo>(o, polder::InfoRequest{}, "info", rc);
  if (!info) return rc;
  if (o.json) {
    std::cout << json{{"ok", true},
                      {"node_id", info->node_id.hex()},
                      {"name", info->name},
                      {"version", info->version},
                      {"protocol_version", info->protocol_version},
                      {"uptime_ms", info->uptime_ms},
                      {"region", info->region},
                      {"operator", info->operator_name},
                      {"peers_reachable", info->peers_known}}
                     .dump()
              << "\n";
  } else {
    std::printf("node id:   %s\nname:      %s\nversion:   %s (protocol %u)\nuptime:    %s\nregion:    %s\n"
                "operator:  %s\npeers:     %u reachable\n",
                info->node_id.hex().c_str(), info->name.c_str(), info->version.c_str(), info->protocol_version,
                human_duration(info->uptime_ms).c_str(), info->region.c_str(), info->operator_name.c_str(),
                info->peers_known);
  }
  return kExitOk;
}

std::string gpus_text(const polder::NodeRecord& r) {
  std::string out;
  for (const auto& a : r.accelerators) {
    if (!out.empty()) out += ",";
    out += a.type + ":" + std::to_string(a.free) + "/" + std::to_string(a.total);
  }
  return out.empty() ? "-" : out;
}

json member_json(const polder::MemberEntry& m) {
  json j{{"node_id", m.node_id.hex()}, {"state", m.state}, {"incarnation", m.incarnation}, {"self", m.is_self}};
  j["rtt_ms"] = m.rtt_ms >= 0 ? json(m.rtt_ms) : json(nullptr);
  if (m.record) {
    const auto& r = *m.record;
    json gpus = json::array();
    for (const auto& a : r.accelerators) gpus.push_back({{"type", a.type}, {"free", a.free}, {"total", a.total}});
    j["name"] = r.name;
    j["operator"] = r.operator_name;
    j["region"] = r.region;
    j["address"] = r.address;
    j["gpus"] = gpus;
    j["cpus"] = r.cpus;
    j["memory_bytes"] = r.memory_bytes;
    j["queue_length"] = r.queue_length;
    j["expected_wait_ms"] = r.expected_wait_ms;
  }
  return j;
}

int cmd_nodes(const Options& o) {
  int rc = 0;
  auto list = request<polder::MemberList>(o, polder::NodesRequest{}, "nodes", rc);
  if (!list) return rc;
  if (o.json) {
    json members = json::array();
    for (const auto& m : list->members) members.push_back(member_json(m));
    std::cout << json{{"ok", true}, {"members", members}, {"truncated", list->truncated}}.dump() << "\n";
    return kExitOk;
  }
  std::printf("%-14s %-12s %-8s %-10s %-12s %-22s %-6s %s\n", "NAME", "ID", "STATE", "OPERATOR", "REGION",
              "GPUS free/total", "QUEUE", "RTT");
  for (const auto& m : list->members) {
    const polder::NodeRecord* r = m.record ? &*m.record : nullptr;
    char rtt[32] = "-";
    if (m.rtt_ms >= 0) std::snprintf(rtt, sizeof rtt, "%.1f ms", m.rtt_ms);
    std::string name = r ? r->name : "?";
    if (m.is_self) name += " *";
    std::printf("%-14s %-12s %-8s %-10s %-12s %-22s %-6s %s\n", name.c_str(), m.node_id.short_hex().c_str(),
                m.state.c_str(), r ? r->operator_name.c_str() : "-", r ? r->region.c_str() : "-",
                r ? gpus_text(*r).c_str() : "-", r ? std::to_string(r->queue_length).c_str() : "-", rtt);
  }
  if (list->truncated) std::printf("(more members than one reply holds; use --json on a larger limit later)\n");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"polder: submit and follow jobs on a Polder federation, through any node."};
  app.footer(kExitCodesHelp);
  app.set_version_flag("--version", std::string("polder ") + POLDER_VERSION);
  Options o;
  app.add_option("-c,--config", o.config_path, "Client config (DIR/client.toml)")->envname("POLDER_CONFIG");
  app.add_flag("--json", o.json, "Print machine-readable JSON");
  app.add_option("--timeout-ms", o.timeout_ms, "Reply timeout (default: client.toml timeout_ms)")
      ->check(CLI::Range(1, 600000));
  app.require_subcommand(1);
  auto* ping = app.add_subcommand("ping", "Check that the node answers, and how fast");
  auto* info = app.add_subcommand("info", "Show the node's id, name, version, uptime and peers");
  auto* nodes = app.add_subcommand("nodes", "List the federation's members as this node sees them: state, "
                                            "operator, region, GPUs free/total, queue, estimated RTT (* = this node)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (*ping) return cmd_ping(o);
  if (*info) return cmd_info(o);
  if (*nodes) return cmd_nodes(o);
  return kExitUsage;
}
