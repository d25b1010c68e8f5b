// `polder-sim consensus`: the consensus campaign from the command line.
// Header-only so that only polder-sim (which links CLI11) compiles it.
//
//   polder-sim consensus --nodes N --jobs J --faults LIST --seeds A..B [--json]
//
// The subcommand's callback runs the campaign, prints one result object
// (JSON with --json; on a violation also the failing seed and the events
// before it) and exits the process: 0 ok, 1 a violation, 2 bad arguments.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "sim/consensus_campaign.h"

namespace polder::sim {

struct ConsensusCommandArgs {
  ConsensusCampaignOptions options;
  std::string faults = "none";
  std::string seeds = "1..1";
  double rtt_ms = 50.0;
  double contended = -1.0;  // < 0: the default fraction
};

int run_consensus_command(ConsensusCommandArgs args, std::optional<std::uint64_t> seed, bool json);

// `seed` and `json` are the global options; they must outlive app.parse().
inline void add_consensus_command(CLI::App& app, const std::optional<std::uint64_t>& seed, const bool& json) {
  auto owned = std::make_shared<ConsensusCommandArgs>();
  ConsensusCommandArgs& args = *owned;
  CLI::App* cmd = app.add_subcommand("consensus", "Per-job Paxos under faults: agreement, durability, fencing, liveness");
  cmd->add_option("--nodes", args.options.nodes, "Number of nodes")->check(CLI::Range(3U, 1000U))->capture_default_str();
  cmd->add_option("--jobs", args.options.jobs, "Jobs per seed (each is one or more instances)")
      ->check(CLI::Range(1U, 1'000'000U))
      ->capture_default_str();
  cmd->add_option("--replicas", args.options.replicas, "Replica set size")->check(CLI::Range(1U, 7U))->capture_default_str();
  cmd->add_option("--faults", args.faults, "crash,restart,partition,loss,dup,reorder,slow-disk | all | none")
      ->capture_default_str();
  cmd->add_option("--seeds", args.seeds, "Seed range A..B (inclusive), or one seed")->capture_default_str();
  cmd->add_option("--rtt-ms", args.rtt_ms, "Round-trip time between nodes")->check(CLI::Range(0.1, 10'000.0))->capture_default_str();
  cmd->add_option("--contended", args.contended, "Fraction of jobs with two concurrent proposers (default 0.2)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--threads", args.options.threads, "Worker threads (0: one per core)")->capture_default_str();
  cmd->add_option("--trace-events", args.options.trace_events, "Events printed before a violation")
      ->check(CLI::Range(0U, 100'000U))
      ->capture_default_str();
  cmd->final_callback([owned, &seed, &json] {
    const int code = run_consensus_command(*owned, seed, json);
    std::cout.flush();
    std::exit(code);
  });
}

// `seed`: the global --seed, which overrides --seeds with that one seed.
inline int run_consensus_command(ConsensusCommandArgs args, std::optional<std::uint64_t> seed, bool json) {
  auto faults = parse_consensus_faults(args.faults);
  auto seeds = parse_seed_range(seed ? std::to_string(*seed) : args.seeds);
  if (!faults || !seeds) {
    std::cerr << "polder-sim consensus: " << (!faults ? faults.status() : seeds.status()).to_string() << "\n";
    return 2;
  }
  args.options.faults = *faults;
  args.options.seed_first = seeds->first;
  args.options.seed_last = seeds->second;
  args.options.rtt_us = static_cast<std::int64_t>(args.rtt_ms * 1000.0);
  if (args.contended >= 0) args.options.contended_fraction = args.contended;
  const Status valid = validate_campaign_options(args.options);
  if (!valid.is_ok()) {
    std::cerr << "polder-sim consensus: " << valid.to_string() << "\n";
    return 2;
  }
  const ConsensusCampaignResult result = run_consensus_campaign(args.options);
  const nlohmann::ordered_json out = to_json(args.options, result);
  if (json) {
    std::cout << out.dump() << "\n";
  } else {
    for (const auto& [key, value] : out.items()) {
      if (key == "first_failure") continue;
      std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
    }
  }
  if (result.violations > 0) {
    const ConsensusSeedResult& f = result.first_failure;
    std::cerr << "polder-sim consensus: VIOLATION at seed " << f.seed << ": " << f.violation << "\n";
    for (const std::string& line : f.trace) std::cerr << "  " << line << "\n";
    std::cerr << "replay: polder-sim consensus --nodes " << args.options.nodes << " --jobs " << args.options.jobs
              << " --faults " << args.options.faults.to_string() << " --seeds " << f.seed << "\n";
    return 1;
  }
  return 0;
}

}  // namespace polder::sim
