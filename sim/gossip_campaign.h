// Gossip campaign: SWIM + Lifeguard at scale in the simulator.
//
// Runs `nodes` GossipCores over a planet-wide Geography (sim/gossip_geo.h)
// with message loss and a fraction of CPU-starved nodes; crashes a sample
// of nodes (and restarts them later), publishes record updates at a steady
// rate, and measures what the issue asks for: time for an update to reach
// 99.99% of live nodes, crash-to-everyone detection time, false deaths,
// bandwidth per node, Vivaldi accuracy against the model's true RTTs, and
// member table memory. Deterministic from its seed. Runs on
// ParallelSimulator, one thread per group of regions (`threads`): the
// output, but for wall_s, is the same for every thread count.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "gossip/config.h"
#include "protocol/status.h"

namespace polder::sim {

struct GossipCampaignOptions {
  std::uint32_t nodes = 1000;
  double loss = 0.05;
  std::uint64_t seed = 1;
  double slow_fraction = 0.0;
  double duration_s = 120.0;
  double warmup_s = 10.0;           // no crashes or updates before
  double crash_fraction = 0.01;     // of the nodes (at least 3), crashed at random times
  double restart_after_s = 60.0;    // crashed nodes come back (rejoin); <= 0: never
  double updates_per_s = 1.0;       // record updates published, federation-wide
  std::size_t envelope_overhead_bytes = 100;  // per message: envelope, ZMTP, CurveZMQ
  std::string profile = "wan";      // "wan" or "lan"
  bool check_invariants = false;    // O(n) per event: small runs only
  // Simulator threads, one partition of regions each (ParallelSimulator);
  // 0: 1 below kParallelNodesMin nodes, else min(cores, 2). The result is
  // the same for any value: it changes only the wall time.
  std::uint32_t threads = 0;
  // The simulated world is not destroyed at the end (its memory and threads
  // stay until the process exits): only for a caller that exits right after.
  bool leak_world_at_end = false;
};

inline constexpr std::uint32_t kParallelNodesMin = 2000;
inline constexpr std::uint32_t kThreadsMax = 8;  // one region per thread at most

// The number of simulator threads a run with `options` uses.
std::uint32_t campaign_threads(const GossipCampaignOptions& options);

Status validate_gossip_campaign_options(const GossipCampaignOptions& options);

// The configuration the campaign gives every core.
gossip::GossipConfig campaign_gossip_config(const GossipCampaignOptions& options);

struct GossipCampaignResult {
  nlohmann::ordered_json json;  // the fields polder-sim gossip prints
  bool ok = true;               // false: an invariant broke or the run failed
  std::string error;
  std::uint64_t false_deaths = 0;
  double converge_p9999_s = -1;
  double detect_p50_s = -1;
  double detect_p99_s = -1;
  std::uint64_t undetected = 0;
  std::uint64_t updates_not_converged = 0;
};

GossipCampaignResult run_gossip_campaign(const GossipCampaignOptions& options);

}  // namespace polder::sim
