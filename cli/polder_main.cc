// polder: the Polder command-line client. Talks to one node over its client
// channel (CurveZMQ, with the CLI's own key that the node's operator
// authorised).
//
// Exit codes (documented in --help and docs/cli.md):
//   0 success; 1 the node answered with an error; 2 bad arguments or
//   client config; 3 node unreachable or no reply within the timeout;
//   4 the node refused this client's key.
#include "cli/args.h"
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cerrno>
#include <optional>
#include <iostream>
#include <thread>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "node/config.h"
#include "node/job_file.h"
#include "gossip/vivaldi.h"
#include "node/rpc_client.h"
#include "protocol/revocation.h"
#include "protocol/invitation.h"

namespace {

using namespace polder::cli;
using polder::StatusCode;
using json = nlohmann::json;

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

// Estimated links between every pair of live members: RTT from their
// Vivaldi coordinates (as the answering node knows them); bandwidth as one
// of the two measured it on real transfers (the EWMA gossiped in its signed
// record), else the default the placement cost model assumes.
int cmd_links(const Options& o) {
  constexpr double kDefaultBandwidthBps = 1e9;  // scheduler::CostModelConfig::bandwidth_bps_default
  int rc = 0;
  auto list = request<polder::MemberList>(o, polder::NodesRequest{}, "links", rc);
  if (!list) return rc;
  struct Site {
    std::string name;
    polder::NodeId id;
    std::vector<polder::LinkMetric> links;
    polder::gossip::Coordinate c;
  };
  std::vector<Site> sites;
  for (const auto& m : list->members) {
    if (m.state != "alive" || !m.record) continue;
    if (m.coordinate.size() != polder::gossip::kCoordinateDimensions) continue;
    Site s{m.record->name, m.node_id, m.record->links, {}};
    std::copy(m.coordinate.begin(), m.coordinate.end(), s.c.vec.begin());
    s.c.height_ms = m.height_ms;
    sites.push_back(s);
  }
  std::sort(sites.begin(), sites.end(), [](const Site& a, const Site& b) { return a.name < b.name; });
  // What `by` measured to `peer`, or 0.
  auto measured = [](const Site& by, const Site& peer) -> double {
    for (const auto& l : by.links) {
      if (l.peer == peer.id && l.bandwidth_bps > 0) return static_cast<double>(l.bandwidth_bps);
    }
    return 0;
  };
  json links = json::array();
  if (!o.json) std::printf("%-16s %-16s %10s  %s\n", "FROM", "TO", "RTT", "BANDWIDTH");
  for (std::size_t i = 0; i < sites.size(); ++i) {
    for (std::size_t j = i + 1; j < sites.size(); ++j) {
      double rtt = polder::gossip::vivaldi_distance_ms(sites[i].c, sites[j].c);
      const Site* by = &sites[i];
      double bps = measured(sites[i], sites[j]);
      if (bps == 0) {
        by = &sites[j];
        bps = measured(sites[j], sites[i]);
      }
      const bool is_measured = bps > 0;
      if (!is_measured) bps = kDefaultBandwidthBps;
      if (o.json) {
        json link{{"from", sites[i].name}, {"to", sites[j].name}, {"rtt_ms", rtt}, {"bandwidth_bps", bps},
                  {"bandwidth_measured", is_measured}};
        if (is_measured) link["measured_by"] = by->name;
        links.push_back(std::move(link));
      } else if (is_measured) {
        std::printf("%-16s %-16s %7.1f ms  %.3f Gb/s (measured by %s)\n", sites[i].name.c_str(),
                    sites[j].name.c_str(), rtt, bps / 1e9, by->name.c_str());
      } else {
        std::printf("%-16s %-16s %7.1f ms  %.1f Gb/s (default, not measured)\n", sites[i].name.c_str(),
                    sites[j].name.c_str(), rtt, bps / 1e9);
      }
    }
  }
  if (o.json) std::cout << json{{"ok", true}, {"links", links}}.dump() << "\n";
  return kExitOk;
}

// ---- jobs ---------------------------------------------------------------------

std::string time_text(std::int64_t us) {
  if (us <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(us / 1'000'000);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", std::localtime(&t));
  return buf;
}

json view_json(const polder::JobView& v) {
  return json{{"job_id", v.job_id.hex()},
              {"name", v.name},
              {"state", v.state},
              {"attempt", v.attempt},
              {"executor", v.executor ? json(v.executor->hex()) : json(nullptr)},
              {"executor_name", v.executor_name},
              {"origin", v.origin ? json(v.origin->hex()) : json(nullptr)},
              {"exit_code", v.exit_code},
              {"gpu_slots", v.gpu_slots},
              {"failures", v.failures},
              {"submitted_at_us", v.submitted_at_us},
              {"started_at_us", v.started_at_us},
              {"finished_at_us", v.finished_at_us},
              {"command", v.command},
              {"message", v.message}};
}

bool final_state(const std::string& s) { return s == "finished" || s == "failed" || s == "cancelled"; }

// The job's exit status as this process's: 0 finished, the attempt's exit
// code when it failed (1 when that was 0, e.g. a time-out), 1 cancelled.
int job_exit(const polder::JobView& v) {
  if (v.state == "finished") return 0;
  if (v.state == "failed") return v.exit_code > 0 && v.exit_code < 256 ? v.exit_code : 1;
  return 1;
}

// One job request over an open client; the node's JobMessage reply or a
// printed failure (rc set).
std::optional<polder::JobMessage> job_call(const Options& o, polder::node::RpcClient& client, polder::JobMessage m,
                                           int& rc) {
  auto reply = client.call(std::move(m));
  if (!reply) {
    rc = fail(o, reply.status(), exit_code_for(reply.status()));
    return std::nullopt;
  }
  if (auto* err = std::get_if<polder::ErrorReply>(&reply->payload)) {
    rc = fail(o, polder::Status(static_cast<StatusCode>(err->code), err->message), kExitNodeError);
    return std::nullopt;
  }
  auto* job = std::get_if<polder::JobMessage>(&reply->payload);
  if (!job) {
    rc = fail(o, polder::internal_error("node sent an unexpected reply"), kExitNodeError);
    return std::nullopt;
  }
  return std::move(*job);
}

std::optional<polder::JobId> job_id_arg(const Options& o, const std::string& text, int& rc) {
  auto id = polder::JobId::from_hex(text);
  if (!id) {
    rc = fail(o, polder::invalid_argument("\"" + text + "\" is not a job id (64 hex digits, as `polder submit` printed)"),
              kExitUsage);
    return std::nullopt;
  }
  return *id;
}


// Follows a job to its end: state changes on stderr, output on stdout.
int follow(const Options& o, polder::node::RpcClient& client, const polder::JobId& id, bool print_states) {
  int rc = 0;
  std::string last_line;
  std::uint64_t offset = 0;
  std::uint32_t log_attempt = 0;
  bool tty = ::isatty(2);
  for (;;) {
    polder::JobMessage q;
    q.kind = polder::JobMessageKind::kStatus;
    q.job_id = id;
    auto st = job_call(o, client, q, rc);
    if (!st) return rc;
    if (st->jobs.empty()) return fail(o, polder::not_found("job vanished"), kExitNodeError);
    const polder::JobView& v = st->jobs[0];
    if (print_states) {
      std::string line = v.state + (v.executor_name.empty() ? "" : " on " + v.executor_name) + " (attempt " +
                         std::to_string(v.attempt) + ")" + (v.message.empty() ? "" : ": " + v.message);
      if (line != last_line) {
        std::fprintf(stderr, "%s[%s] %s\n", tty ? "\r\033[K" : "", time_text(v.updated_at_us).c_str(), line.c_str());
        last_line = line;
      }
    }
    bool final = final_state(v.state);
    if (v.state == "running" || final) {
      for (;;) {  // drain what is there now
        polder::JobMessage l;
        l.kind = polder::JobMessageKind::kLogs;
        l.job_id = id;
        l.offset = offset;
        auto reply = client.call(l);
        if (!reply) break;
        auto* lm = std::get_if<polder::JobMessage>(&reply->payload);
        if (!lm) break;  // no output yet
        if (lm->attempt != log_attempt) {  // a new attempt starts its output from 0
          if (log_attempt != 0) {
            offset = 0;
            log_attempt = lm->attempt;
            continue;
          }
          log_attempt = lm->attempt;
        }
        if (!lm->data.empty()) {
          std::fwrite(lm->data.data(), 1, lm->data.size(), stdout);
          std::fflush(stdout);
          offset += lm->data.size();
        }
        if (lm->data.empty() || lm->done) break;
      }
    }
    if (final) {
      if (o.json) std::cout << json{{"ok", true}, {"job", view_json(v)}}.dump() << "\n";
      return job_exit(v);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

int cmd_submit(const Options& o, const SubmitOptions& s) {
  auto spec = spec_from(s);
  if (!spec) return fail(o, spec.status(), kExitUsage);
  int rc = 0;
  auto client = connect(o, rc);
  if (!client) return rc;
  polder::JobMessage m;
  m.kind = polder::JobMessageKind::kSubmit;
  m.spec = std::move(*spec);
  auto reply = job_call(o, *client, std::move(m), rc);
  if (!reply) return rc;
  if (!reply->job_id) return fail(o, polder::internal_error("node did not name the job"), kExitNodeError);
  if (!s.wait) {
    if (o.json) {
      std::cout << json{{"ok", true}, {"job_id", reply->job_id->hex()}}.dump() << "\n";
    } else {
      std::printf("%s\n", reply->job_id->hex().c_str());
    }
    return kExitOk;
  }
  if (!o.json) std::fprintf(stderr, "job %s submitted\n", reply->job_id->hex().c_str());
  return follow(o, *client, *reply->job_id, !o.json);
}

// Parses the job id argument, connects, and sends one request of `kind`
// about that job; the reply, or nullopt with `rc` set (the failure printed).
std::optional<polder::JobMessage> job_request(const Options& o, polder::JobMessageKind kind, const std::string& id_text,
                                              int& rc) {
  auto id = job_id_arg(o, id_text, rc);
  if (!id) return std::nullopt;
  auto client = connect(o, rc);
  if (!client) return std::nullopt;
  polder::JobMessage m;
  m.kind = kind;
  m.job_id = *id;
  return job_call(o, *client, std::move(m), rc);
}

int cmd_status(const Options& o, const std::string& id_text) {
  int rc = 0;
  auto reply = job_request(o, polder::JobMessageKind::kStatus, id_text, rc);
  if (!reply) return rc;
  if (reply->jobs.empty()) return fail(o, polder::not_found("job unknown"), kExitNodeError);
  const auto& v = reply->jobs[0];
  if (o.json) {
    std::cout << json{{"ok", true}, {"job", view_json(v)}}.dump() << "\n";
    return kExitOk;
  }
  std::printf("job:       %s\nname:      %s\nstate:     %s\nattempt:   %u (failures %u)\nexecutor:  %s\n"
              "gpus:      %s\nexit code: %s\nsubmitted: %s\nstarted:   %s\nfinished:  %s\ncommand:   %s\n"
              "last:      %s\n",
              v.job_id.hex().c_str(), v.name.c_str(), v.state.c_str(), v.attempt, v.failures,
              v.executor_name.empty() ? "-" : v.executor_name.c_str(), v.gpu_slots.empty() ? "-" : v.gpu_slots.c_str(),
              final_state(v.state) ? std::to_string(v.exit_code).c_str() : "-", time_text(v.submitted_at_us).c_str(),
              time_text(v.started_at_us).c_str(), time_text(v.finished_at_us).c_str(), v.command.c_str(),
              v.message.c_str());
  return kExitOk;
}

int cmd_logs(const Options& o, const std::string& id_text, bool follow_flag) {
  int rc = 0;
  auto id = job_id_arg(o, id_text, rc);
  if (!id) return rc;
  auto client = connect(o, rc);
  if (!client) return rc;
  if (follow_flag) {
    Options quiet = o;
    quiet.json = false;
    int code = follow(quiet, *client, *id, false);
    return code <= kExitRefused && code != 0 && code != 1 ? code : kExitOk;
  }
  std::uint64_t offset = 0;
  for (;;) {
    polder::JobMessage m;
    m.kind = polder::JobMessageKind::kLogs;
    m.job_id = *id;
    m.offset = offset;
    auto reply = job_call(o, *client, std::move(m), rc);
    if (!reply) return rc;
    std::fwrite(reply->data.data(), 1, reply->data.size(), stdout);
    offset += reply->data.size();
    if (reply->data.empty() || reply->done) break;
  }
  return kExitOk;
}

int cmd_cancel(const Options& o, const std::string& id_text) {
  int rc = 0;
  auto reply = job_request(o, polder::JobMessageKind::kCancel, id_text, rc);
  if (!reply) return rc;
  if (o.json) {
    std::cout << json{{"ok", true}, {"job", reply->jobs.empty() ? json(nullptr) : view_json(reply->jobs[0])}}.dump()
              << "\n";
  } else {
    std::printf("cancel requested for %s (state now: %s)\n", (reply->job_id ? reply->job_id->hex() : id_text).c_str(),
                reply->jobs.empty() ? "unknown" : reply->jobs[0].state.c_str());
  }
  return kExitOk;
}

int cmd_list(const Options& o, const std::string& state, const std::string& node_filter) {
  int rc = 0;
  auto client = connect(o, rc);
  if (!client) return rc;
  polder::JobMessage m;
  m.kind = polder::JobMessageKind::kList;
  m.state_filter = state;
  m.node_filter = node_filter;
  auto reply = job_call(o, *client, std::move(m), rc);
  if (!reply) return rc;
  if (o.json) {
    json jobs = json::array();
    for (const auto& v : reply->jobs) jobs.push_back(view_json(v));
    std::cout << json{{"ok", true}, {"jobs", jobs}, {"truncated", reply->truncated}}.dump() << "\n";
    return kExitOk;
  }
  std::printf("%-14s %-16s %-10s %-4s %-14s %-5s %s\n", "JOB", "NAME", "STATE", "TRY", "NODE", "EXIT", "SUBMITTED");
  for (const auto& v : reply->jobs) {
    std::printf("%-14s %-16.16s %-10s %-4u %-14s %-5s %s\n", v.job_id.short_hex().c_str(), v.name.c_str(),
                v.state.c_str(), v.attempt, v.executor_name.empty() ? "-" : v.executor_name.c_str(),
                final_state(v.state) ? std::to_string(v.exit_code).c_str() : "-", time_text(v.submitted_at_us).c_str());
  }
  if (reply->truncated) {
    std::printf("(the newest %zu jobs shown; more match: filter with --state/--node)\n", reply->jobs.size());
  }
  return kExitOk;
}

// The client config and this CLI's key, for commands that sign what they
// send (revoke, invite, rotate-key); nullopt with `rc` set (and printed).
struct ClientSigner {
  polder::node::ClientConfig config;
  polder::Identity key;
};
std::optional<ClientSigner> client_signer(const Options& o, int& rc) {
  if (o.config_path.empty()) {
    rc = fail(o, polder::invalid_argument("no client config: pass --config DIR/client.toml or set POLDER_CONFIG"),
              kExitUsage);
    return std::nullopt;
  }
  auto cfg = polder::node::load_client_config(o.config_path);
  if (!cfg) {
    rc = fail(o, cfg.status(), kExitUsage);
    return std::nullopt;
  }
  auto key = polder::Identity::load(cfg->key_file);
  if (!key) {
    rc = fail(o, polder::Status(key.status().code(), "client key: " + key.status().message()), kExitUsage);
    return std::nullopt;
  }
  return ClientSigner{std::move(*cfg), std::move(*key)};
}

std::int64_t wall_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Signs "KEY is no longer a member" with this CLI's key and hands it to the
// node, which checks that we are its admin and a founder, stores it and
// spreads it to every member.
int cmd_revoke(const Options& o, const std::string& key_text, const std::string& reason) {
  auto revoked = polder::NodeId::from_hex(key_text);
  if (!revoked) return fail(o, polder::invalid_argument("revoke: \"" + key_text + "\" is not a key: " +
                                                        revoked.status().message()), kExitUsage);
  if (reason.size() > polder::Revocation::kReasonMaxBytes) {
    return fail(o, polder::invalid_argument("revoke: --reason is over " +
                                            std::to_string(polder::Revocation::kReasonMaxBytes) + " bytes"),
                kExitUsage);
  }
  int rc = 0;
  auto signer = client_signer(o, rc);
  if (!signer) return rc;
  const auto* key = &signer->key;
  const std::int64_t now_us = wall_now_us();
  auto record = polder::sign_revocation(*key, polder::Revocation{*revoked, now_us, reason});
  if (!record) return fail(o, record.status(), kExitUsage);
  auto reply = request<polder::SignedRecord>(o, *record, "revoke", rc);
  if (!reply) return rc;
  if (o.json) {
    std::cout << json{{"ok", true}, {"revoked", revoked->hex()}, {"signed_by", key->id().hex()}}.dump() << "\n";
  } else {
    std::printf("revoked %s (signed by %s); the node spreads it to every member\n", revoked->hex().c_str(),
                key->id().short_hex().c_str());
  }
  return kExitOk;
}

// Asks the node for an invitation of KEY (operator OPERATOR, valid for
// EXPIRES): the request is signed with this CLI's key, which must be an
// admin of the node; the node, a member, signs the invitation itself,
// spreads it to every member, and returns it; we write it to `out_path`
// (or stdout) for the new node's `polderd run --invitation FILE`.
int cmd_invite(const Options& o, const std::string& key_text, const std::string& operator_name,
               const std::string& expires_text, const std::string& out_path) {
  auto invitee = polder::NodeId::from_hex(key_text);
  if (!invitee) {
    return fail(o, polder::invalid_argument("invite: --key \"" + key_text + "\" is not a key: " +
                                            invitee.status().message()), kExitUsage);
  }
  auto seconds = polder::node::parse_duration_s(expires_text);
  if (!seconds) return fail(o, polder::invalid_argument("invite: --expires: " + seconds.status().message()), kExitUsage);
  if (operator_name.empty() || operator_name.size() > polder::Invitation::kOperatorMaxBytes) {
    return fail(o, polder::invalid_argument("invite: --operator must be 1.." +
                                            std::to_string(polder::Invitation::kOperatorMaxBytes) + " bytes"),
                kExitUsage);
  }
  int rc = 0;
  auto signer = client_signer(o, rc);
  if (!signer) return rc;
  const auto* key = &signer->key;
  const std::int64_t now_us = wall_now_us();
  polder::Invitation asked;
  asked.invitee = *invitee;
  asked.operator_name = operator_name;
  asked.issued_at_us = now_us;
  asked.expires_at_us = now_us + static_cast<std::int64_t>(*seconds) * 1'000'000;
  auto record = polder::sign_invitation(*key, asked);
  if (!record) return fail(o, record.status(), kExitUsage);
  auto reply = request<polder::SignedRecord>(o, *record, "invite", rc);
  if (!reply) return rc;
  auto issued = polder::open_invitation(*reply);
  if (!issued || issued->invitee != *invitee) {
    return fail(o, polder::internal_error("the node returned an invitation that does not verify"), kExitNodeError);
  }
  std::string text = polder::invitation_file_text(*reply);
  if (!out_path.empty()) {
    std::FILE* f = std::fopen(out_path.c_str(), "wx");
    if (!f) {
      return fail(o, polder::invalid_argument("invite: cannot create " + out_path + ": " + std::strerror(errno) +
                                              " (it must not exist yet)"), kExitUsage);
    }
    bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    ok = std::fclose(f) == 0 && ok;
    if (!ok) return fail(o, polder::internal_error("invite: writing " + out_path + " failed"), kExitUsage);
  }
  if (o.json) {
    json j{{"ok", true}, {"invitee", invitee->hex()}, {"operator", operator_name},
           {"inviter", reply->author.hex()}, {"inviter_address", issued->inviter_address},
           {"expires_at_us", issued->expires_at_us}};
    if (out_path.empty()) j["invitation"] = text.substr(0, text.size() - 1);
    else j["file"] = out_path;
    std::cout << j.dump() << "\n";
  } else if (out_path.empty()) {
    std::cout << text;
  } else {
    std::printf("invitation of %s (operator %s) by %s written to %s; valid until %s. Start the new node with:\n"
                "  polderd run --config DIR/polderd.toml --invitation %s\n",
                invitee->short_hex().c_str(), operator_name.c_str(), reply->author.short_hex().c_str(),
                out_path.c_str(), time_text(issued->expires_at_us).c_str(), out_path.c_str());
  }
  return kExitOk;
}

// Asks the node for a new key pair: the node signs its successor with its
// current key, spreads that to every member, and switches at its next start.
int cmd_rotate_key(const Options& o) {
  int rc = 0;
  auto signer = client_signer(o, rc);
  if (!signer) return rc;
  const auto& cfg = signer->config;
  const auto* key = &signer->key;
  const std::int64_t now_us = wall_now_us();
  polder::Invitation asked;  // an invitation of the node itself means "rotate your key"
  asked.invitee = cfg.node_key;
  asked.operator_name = "rotate";
  asked.issued_at_us = now_us;
  asked.expires_at_us = now_us + 1;
  auto record = polder::sign_invitation(*key, asked);
  if (!record) return fail(o, record.status(), kExitUsage);
  auto reply = request<polder::SignedRecord>(o, *record, "rotate-key", rc);
  if (!reply) return rc;
  auto rotation = polder::open_invitation(*reply);
  if (!rotation || !rotation->replaces || *rotation->replaces != cfg.node_key) {
    return fail(o, polder::internal_error("the node returned a rotation that does not verify"), kExitNodeError);
  }
  if (o.json) {
    std::cout << json{{"ok", true}, {"old_key", cfg.node_key.hex()}, {"new_key", rotation->invitee.hex()},
                      {"switch_before_us", rotation->expires_at_us}}.dump() << "\n";
  } else {
    std::printf("node %s signed in its new key %s and told every member.\n"
                "Restart polderd to switch to it (before %s), then set node_key = \"%s\" in %s.\n",
                cfg.node_key.short_hex().c_str(), rotation->invitee.hex().c_str(),
                time_text(rotation->expires_at_us).c_str(), rotation->invitee.hex().c_str(), o.config_path.c_str());
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  polder::cli::Args a;
  auto app = polder::cli::make_app(a);
  try {
    app->parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app->exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  polder::cli::finish(*app, a);
  const Options& o = a.o;
  const std::string& c = a.command;
  if (c == "ping") return cmd_ping(o);
  if (c == "info") return cmd_info(o);
  if (c == "nodes") return cmd_nodes(o);
  if (c == "links") return cmd_links(o);
  if (c == "submit") return cmd_submit(o, a.submit);
  if (c == "status") return cmd_status(o, a.job_id);
  if (c == "logs") return cmd_logs(o, a.job_id, a.follow);
  if (c == "cancel") return cmd_cancel(o, a.job_id);
  if (c == "list") return cmd_list(o, a.state_filter, a.node_filter);
  if (c == "revoke") return cmd_revoke(o, a.revoke_key, a.revoke_reason);
  if (c == "rotate-key") return cmd_rotate_key(o);
  if (c == "invite") return cmd_invite(o, a.invite_key, a.invite_operator, a.invite_expires, a.invite_out);
  return kExitUsage;
}
