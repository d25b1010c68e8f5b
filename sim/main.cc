// polder-sim: runs simulated federations from the command line.
//
// Every run prints its seed; `polder-sim <subcommand> ... --seed S` replays
// it exactly (STYLE.md habit 11). Exit codes: 0 ok, 1 the run failed (an
// invariant or a livelock), 2 bad arguments.
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "protocol/rng.h"
#include "sim/consensus_command.h"
#include "sim/gossip_command.h"
#include "sim/pingpong_core.h"
#include "sim/sched_command.h"
#include "sim/simulator.h"

namespace {

using polder::Status;
using polder::sim::Simulator;

constexpr int kExitOk = 0;
constexpr int kExitRunFailed = 1;
constexpr int kExitBadArguments = 2;
constexpr std::int64_t kCrashesMax = 1'000'000;

struct GlobalArgs {
  std::optional<std::uint64_t> seed;
  bool json = false;
};

struct PingPongArgs {
  std::uint32_t nodes = 10;
  double duration_s = 10.0;
  double loss_probability = 0.0;
  double duplicate_probability = 0.0;
  double crash_every_s = 0.0;  // 0: no crashes
  double downtime_s = -1.0;    // < 0: half of crash_every_s
  std::int64_t latency_us = 1'000;
  std::int64_t jitter_us = 200;
  std::int64_t ping_interval_us = 100'000;
  std::uint32_t persist_every_pongs = 10;
  std::int64_t disk_delay_us = 0;
};

std::int64_t seconds_to_us(double s) { return static_cast<std::int64_t>(std::llround(s * 1e6)); }

std::string hex64(std::uint64_t value) {
  char buffer[19];
  std::snprintf(buffer, sizeof buffer, "0x%016" PRIx64, value);
  return buffer;
}

// The fault plan: every crash_every_s one node, chosen by a generator seeded
// from the run seed, crashes and restarts downtime_s later.
Status schedule_crashes(Simulator& sim, const PingPongArgs& args, std::uint64_t seed) {
  if (args.crash_every_s <= 0.0) return Status::ok();
  const std::int64_t every_us = seconds_to_us(args.crash_every_s);
  const std::int64_t downtime_us = seconds_to_us(args.downtime_s >= 0.0 ? args.downtime_s : args.crash_every_s / 2);
  const std::int64_t duration_us = seconds_to_us(args.duration_s);
  if (every_us <= 0) return polder::invalid_argument("--crash-every-s is below one microsecond");
  if (duration_us / every_us > kCrashesMax) {
    return polder::invalid_argument("--crash-every-s would schedule more than " + std::to_string(kCrashesMax) +
                                    " crashes; raise it or shorten --duration-s");
  }
  polder::Rng faults(seed ^ 0x6661756c74730000ULL);  // "faults": independent of the run's stream
  for (std::int64_t at_us = every_us; at_us < duration_us; at_us += every_us) {  // bounded by duration
    const auto victim = polder::sim::sim_node_id(static_cast<std::uint32_t>(faults.uniform(args.nodes)));
    POLDER_RETURN_IF_ERROR(sim.crash_at(victim, polder::instant_from_us(at_us)));
    POLDER_RETURN_IF_ERROR(sim.restart(victim, polder::instant_from_us(at_us + downtime_us)));
  }
  return Status::ok();
}

void print_result(const nlohmann::ordered_json& result, bool json) {
  if (json) {
    std::cout << result.dump() << "\n";
    return;
  }
  for (const auto& [key, value] : result.items()) {  // ordered_json: insertion order
    std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  }
}

nlohmann::ordered_json pingpong_result(const PingPongArgs& args, const Simulator& sim, std::uint64_t seed,
                                       const Status& status, double wall_s) {
  const auto& c = sim.counters();
  nlohmann::ordered_json result;
  result["command"] = "pingpong";
  result["seed"] = seed;
  result["ok"] = status.is_ok();
  if (!status.is_ok()) result["error"] = status.to_string();
  result["nodes"] = args.nodes;
  result["duration_s"] = args.duration_s;
  result["loss_probability"] = args.loss_probability;
  result["duplicate_probability"] = args.duplicate_probability;
  result["crash_every_s"] = args.crash_every_s;
  result["events"] = c.events_processed;
  result["ticks"] = c.ticks;
  result["messages_sent"] = c.messages_sent;
  result["messages_delivered"] = c.messages_delivered;
  result["messages_dropped"] = c.messages_dropped;
  result["messages_duplicated"] = c.messages_duplicated;
  result["dropped_loss"] = c.dropped_loss;
  result["dropped_node_down"] = c.dropped_node_down;
  result["dropped_partition"] = c.dropped_partition;
  result["crashes"] = c.crashes;
  result["restarts"] = c.restarts;
  result["pong_events"] = c.core_events;
  result["persist_ops"] = c.persist_ops;
  result["trace_hash"] = hex64(sim.trace_hash());
  result["wall_s"] = wall_s;
  result["events_per_s"] = wall_s > 0 ? static_cast<double>(c.events_processed) / wall_s : 0.0;
  return result;
}

int run_pingpong(const GlobalArgs& global, const PingPongArgs& args, std::uint64_t seed) {
  auto peers = std::make_shared<std::vector<polder::NodeId>>();
  for (std::uint32_t i = 0; i < args.nodes; ++i) peers->push_back(polder::sim::sim_node_id(i));

  polder::sim::PingPongOptions core_options;
  core_options.peers = peers;
  core_options.ping_interval_us = args.ping_interval_us;
  core_options.persist_every_pongs = args.persist_every_pongs;

  polder::sim::SimOptions options;
  options.seed = seed;
  options.network.default_link.latency_us_base = args.latency_us;
  options.network.default_link.jitter_us = args.jitter_us;
  options.network.default_link.loss_probability = args.loss_probability;
  options.network.default_link.duplicate_probability = args.duplicate_probability;
  options.disk.write_delay_us = args.disk_delay_us;

  Status status = polder::sim::validate_pingpong_options(core_options);
  if (!status.is_ok()) {
    std::cerr << "polder-sim: " << status.to_string() << "\n";
    return kExitBadArguments;
  }
  auto created = Simulator::create(options, polder::sim::make_pingpong_factory(core_options));
  if (!created) {
    std::cerr << "polder-sim: " << created.status().to_string() << "\n";
    return kExitBadArguments;
  }
  Simulator& sim = **created;
  for (const auto& id : *peers) {
    status = sim.add_node(id);
    if (!status.is_ok()) break;
  }
  if (status.is_ok()) status = schedule_crashes(sim, args, seed);
  if (!status.is_ok()) {
    std::cerr << "polder-sim: " << status.to_string() << "\n";
    return kExitBadArguments;
  }

  const auto wall_start = std::chrono::steady_clock::now();
  status = sim.run_for(polder::Duration(seconds_to_us(args.duration_s)));
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();

  const nlohmann::ordered_json result = pingpong_result(args, sim, seed, status, wall_s);
  print_result(result, global.json);
  if (!status.is_ok()) {
    std::cerr << "polder-sim: run failed: " << status.to_string() << " (replay with --seed " << seed << ")\n";
    return kExitRunFailed;
  }
  return kExitOk;
}

void add_pingpong_command(CLI::App& app, PingPongArgs& args) {
  CLI::App* cmd = app.add_subcommand("pingpong", "Toy ping/pong core under faults: exercises the simulator");
  cmd->add_option("--nodes", args.nodes, "Number of nodes")->check(CLI::Range(2U, 100'000U))->capture_default_str();
  cmd->add_option("--duration-s", args.duration_s, "Virtual seconds to simulate")
      ->check(CLI::Range(1e-6, 1e6))
      ->capture_default_str();
  cmd->add_option("--loss", args.loss_probability, "Probability that a message is lost")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--dup", args.duplicate_probability, "Probability that a message is delivered twice")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--crash-every-s", args.crash_every_s, "Crash a random node every X virtual seconds (0: never)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  cmd->add_option("--downtime-s", args.downtime_s, "How long a crashed node stays down (default: crash-every-s / 2)")
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--latency-us", args.latency_us, "Base one-way link latency")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{3'600'000'000}))
      ->capture_default_str();
  cmd->add_option("--jitter-us", args.jitter_us, "Uniform jitter added to each message (reorders)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{3'600'000'000}))
      ->capture_default_str();
  cmd->add_option("--ping-interval-us", args.ping_interval_us, "Each node pings every this often")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000'000}))
      ->capture_default_str();
  cmd->add_option("--persist-every", args.persist_every_pongs, "Persist the pong counter every N pongs")
      ->check(CLI::Range(1U, 1'000'000U))
      ->capture_default_str();
  cmd->add_option("--disk-delay-us", args.disk_delay_us, "Simulated disk write latency (slow disk)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{60'000'000}))
      ->capture_default_str();
}

}  // namespace

// A large run holds gigabytes of member tables (10,000 cores x 10,000
// members) and every delivered message touches a cold one: with 4 KiB pages
// nearly every access is also a TLB miss. glibc backs malloc with
// transparent huge pages only when told so at startup, so polder-sim
// re-executes itself once with the tunable set (a 4,000-node, 15 s run:
// 12.5 s instead of 16.2 s of user CPU; the same trace). Output is
// unchanged; POLDER_SIM_HUGEPAGES=0 turns it off.
void reexec_with_huge_pages(char** argv) {
  const char* off = std::getenv("POLDER_SIM_HUGEPAGES");
  if (off != nullptr && std::strcmp(off, "0") == 0) return;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.hugetlb") != nullptr) return;  // set: no loop
  std::string value = tunables != nullptr && *tunables != '\0' ? std::string(tunables) + ":" : std::string();
  value += "glibc.malloc.hugetlb=1";
  if (setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);  // returns only on failure: run without
}

int main(int argc, char** argv) {
  reexec_with_huge_pages(argv);
  CLI::App app{"polder-sim: deterministic simulator of a Polder federation. Same seed, same run."};
  app.require_subcommand(1);
  app.fallthrough();  // --seed and --json may come before or after the subcommand
  GlobalArgs global;
  app.add_option("--seed", global.seed, "Seed of the run (default: random, always printed)");
  app.add_flag("--json", global.json, "Print the result as one JSON object");
  PingPongArgs pingpong;
  add_pingpong_command(app, pingpong);
  polder::sim::add_gossip_command(app, global.seed, global.json);
  polder::sim::add_consensus_command(app, global.seed, global.json);
  polder::sim::add_sched_command(app, global.seed, global.json);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, or the error and a hint
    return code == 0 ? kExitOk : kExitBadArguments;
  }

  const std::uint64_t seed = global.seed ? *global.seed : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  if (app.got_subcommand("pingpong")) return run_pingpong(global, pingpong, seed);
  return kExitBadArguments;  // unreachable: require_subcommand(1)
}
