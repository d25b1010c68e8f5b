// `polder-sim sched`: the scheduler simulator from the command line.
#pragma once

#include <cstdint>
#include <optional>

#include <CLI/CLI.hpp>

namespace polder::sim {

// Registers the `sched` subcommand on `app`. Once parsing is done its
// callback generates (or loads with --trace) the workload, runs one policy
// or, with --compare, every policy on the same workload, prints the result
// (JSON when `json`) and exits the process: 0 ok, 1 a checker failed
// (overcommit, lost job, duplicate run), 2 bad arguments or a bad trace.
// `seed` and `json` are the app's global options.
void add_sched_command(CLI::App& app, const std::optional<std::uint64_t>& seed, const bool& json);

}  // namespace polder::sim
