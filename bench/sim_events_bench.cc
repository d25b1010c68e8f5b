// polder-bench-sim: how many events per wall-clock second the simulator's
// event loop processes. Runs PingPongCores (a tick, a ping delivery and a
// pong delivery per ping; no faults, so the loop itself is what is
// measured, with each core's real Effects allocations) and prints one JSON
// object: events, wall_s, events_per_s, seed, and the run's shape.
// The simulator's target is at least 2,000,000 events/s on a 2-core machine.
// --threads N (N >= 1) runs the same world on ParallelSimulator with N
// partitions (nodes by index mod N; every link is 1-1.2 ms, so windows of
// 1 ms): its trace hash is the same for every N, and differs from the
// sequential Simulator's (another tie-break, one Rng per node).
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "sim/parallel_simulator.h"
#include "sim/pingpong_core.h"
#include "sim/simulator.h"

namespace {

int print_result(std::uint64_t seed, std::uint32_t nodes, double virtual_s, std::uint32_t threads,
                 const polder::sim::SimCounters& c, double wall_s, std::uint64_t trace_hash) {
  char trace[19];
  std::snprintf(trace, sizeof trace, "0x%016" PRIx64, trace_hash);
  nlohmann::ordered_json result;
  result["bench"] = "sim_events";
  result["seed"] = seed;
  result["nodes"] = nodes;
  result["virtual_s"] = virtual_s;
  if (threads > 0) result["threads"] = threads;
  result["events"] = c.events_processed;
  result["messages_delivered"] = c.messages_delivered;
  result["wall_s"] = wall_s;
  result["events_per_s"] = wall_s > 0 ? static_cast<double>(c.events_processed) / wall_s : 0.0;
  result["trace_hash"] = trace;
  std::cout << result.dump() << "\n";
  return 0;
}

int run_parallel(const std::shared_ptr<std::vector<polder::NodeId>>& peers,
                 const polder::sim::PingPongOptions& core_options, std::uint64_t seed, std::uint32_t threads,
                 double virtual_s) {
  polder::sim::ParallelSimOptions options;
  options.seed = seed;
  options.partitions = threads;
  const polder::sim::LinkOptions link;  // the sequential run's default link: 1 ms + up to 0.2 ms
  options.lookahead_us = link.latency_us_base;
  auto created = polder::sim::ParallelSimulator::create(options, polder::sim::make_pingpong_factory(core_options),
                                                        [link](std::uint32_t, std::uint32_t) { return link; });
  if (!created) {
    std::cerr << "polder-bench-sim: " << created.status().to_string() << "\n";
    return 1;
  }
  auto& sim = **created;
  for (std::uint32_t i = 0; i < peers->size(); ++i) {
    if (auto status = sim.add_node((*peers)[i], i % threads); !status.is_ok()) {
      std::cerr << "polder-bench-sim: " << status.to_string() << "\n";
      return 1;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const auto status = sim.run_until(polder::instant_from_us(static_cast<std::int64_t>(virtual_s * 1e6)));
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!status.is_ok()) {
    std::cerr << "polder-bench-sim: " << status.to_string() << "\n";
    return 1;
  }
  return print_result(seed, static_cast<std::uint32_t>(peers->size()), virtual_s, threads, sim.counters(), wall_s,
                      sim.trace_hash());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"polder-bench-sim: event-loop throughput of the deterministic simulator (prints JSON)"};
  std::uint32_t nodes = 1000;
  double virtual_s = 4.0;
  std::uint64_t seed = 1;
  std::int64_t ping_interval_us = 1'000;
  std::uint32_t threads = 0;
  app.add_option("--nodes", nodes, "Simulated nodes")->check(CLI::Range(2U, 100'000U))->capture_default_str();
  app.add_option("--virtual-s", virtual_s, "Virtual seconds to simulate")
      ->check(CLI::Range(1e-3, 1e4))
      ->capture_default_str();
  app.add_option("--seed", seed, "Seed of the run")->capture_default_str();
  app.add_option("--ping-interval-us", ping_interval_us, "Each node pings every this often")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{60'000'000}))
      ->capture_default_str();
  app.add_option("--threads", threads, "0: the sequential Simulator; N >= 1: ParallelSimulator on N threads")
      ->check(CLI::Range(0U, polder::sim::ParallelSimOptions::kPartitionsMax))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  auto peers = std::make_shared<std::vector<polder::NodeId>>();
  for (std::uint32_t i = 0; i < nodes; ++i) peers->push_back(polder::sim::sim_node_id(i));
  polder::sim::PingPongOptions core_options;
  core_options.peers = peers;
  core_options.ping_interval_us = ping_interval_us;
  core_options.persist_every_pongs = 100;

  if (threads > 0) return run_parallel(peers, core_options, seed, threads, virtual_s);

  polder::sim::SimOptions options;
  options.seed = seed;
  auto created = polder::sim::Simulator::create(options, polder::sim::make_pingpong_factory(core_options));
  if (!created) {
    std::cerr << "polder-bench-sim: " << created.status().to_string() << "\n";
    return 1;
  }
  auto& sim = **created;
  for (const auto& id : *peers) {
    if (auto status = sim.add_node(id); !status.is_ok()) {
      std::cerr << "polder-bench-sim: " << status.to_string() << "\n";
      return 1;
    }
  }

  const auto start = std::chrono::steady_clock::now();
  const auto status = sim.run_for(polder::Duration(static_cast<std::int64_t>(virtual_s * 1e6)));
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!status.is_ok()) {
    std::cerr << "polder-bench-sim: " << status.to_string() << "\n";
    return 1;
  }

  return print_result(seed, nodes, virtual_s, 0, sim.counters(), wall_s, sim.trace_hash());
}
