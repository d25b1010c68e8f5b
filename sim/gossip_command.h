// `polder-sim gossip`: the gossip campaign from the command line.
#pragma once

#include <cstdint>
#include <optional>

#include <CLI/CLI.hpp>

namespace polder::sim {

// Registers the `gossip` subcommand on `app`. Once parsing is done its
// callback runs the campaign, prints the result (JSON when `json`) and
// exits the process: 0 ok, 1 the run failed or missed an invariant, 2 bad
// arguments. `seed` and `json` are the app's global options.
void add_gossip_command(CLI::App& app, const std::optional<std::uint64_t>& seed, const bool& json);

}  // namespace polder::sim
