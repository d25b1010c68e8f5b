#include "sim/gossip_command.h"

#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>

#include "sim/gossip_campaign.h"

namespace polder::sim {
namespace {

void print(const nlohmann::ordered_json& result, bool json) {
  if (json) {
    std::cout << result.dump() << std::endl;
    return;
  }
  for (const auto& [key, value] : result.items()) {
    std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  }
  std::cout.flush();
}

}  // namespace

void add_gossip_command(CLI::App& app, const std::optional<std::uint64_t>& seed, const bool& json) {
  auto options = std::make_shared<GossipCampaignOptions>();
  CLI::App* cmd = app.add_subcommand("gossip", "SWIM + Lifeguard membership at scale over a planet-wide geography");
  cmd->add_option("--nodes", options->nodes, "Number of nodes")->capture_default_str();
  cmd->add_option("--loss", options->loss, "Probability that a message is lost")->capture_default_str();
  cmd->add_option("--slow-frac", options->slow_fraction, "Fraction of CPU-starved nodes")->capture_default_str();
  cmd->add_option("--duration-s", options->duration_s, "Virtual seconds to simulate")->capture_default_str();
  cmd->add_option("--warmup-s", options->warmup_s, "Seconds before crashes and updates start")->capture_default_str();
  cmd->add_option("--crash-frac", options->crash_fraction, "Fraction of nodes crashed (at least 3)")->capture_default_str();
  cmd->add_option("--restart-after-s", options->restart_after_s, "Crashed nodes restart after this (<= 0: never)")
      ->capture_default_str();
  cmd->add_option("--updates-per-s", options->updates_per_s, "Record updates published per second")->capture_default_str();
  cmd->add_option("--profile", options->profile, "Gossip parameters: wan or lan")->capture_default_str();
  cmd->add_option("--threads", options->threads,
                  "Simulator threads, one partition of regions each (0: 1 below " + std::to_string(kParallelNodesMin) +
                      " nodes, else min(cores, 2)); the result does not depend on it")
      ->capture_default_str();
  cmd->add_flag("--check-invariants", options->check_invariants, "Check every core's invariants after every event");
  cmd->callback([options, &seed, &json] {
    options->seed = seed ? *seed : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
    Status valid = validate_gossip_campaign_options(*options);
    if (!valid.is_ok()) {
      std::cerr << "polder-sim gossip: " << valid.to_string() << "\n";
      std::exit(2);
    }
    options->leak_world_at_end = true;  // the process exits just below
    GossipCampaignResult result = run_gossip_campaign(*options);
    print(result.json, json);
    if (!result.ok) {
      std::cerr << "polder-sim gossip: run failed: " << result.error << " (replay with --seed " << options->seed << ")\n";
      std::exit(1);
    }
    std::exit(0);
  });
}

}  // namespace polder::sim
