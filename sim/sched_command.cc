#include "sim/sched_command.h"

#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/sched_sim.h"
#include "sim/sched_workload.h"

namespace polder::sim {
namespace {

struct SchedArgs {
  SchedWorkloadOptions workload;
  SchedSimOptions sim;
  std::string policy = "polder";
  std::string trace_path;
  std::string write_trace_path;
  double input_gb_median = 10;
  bool compare = false;
};

void print(const nlohmann::ordered_json& result, bool json) {
  if (json) {
    std::cout << result.dump() << std::endl;
    return;
  }
  for (const auto& [key, value] : result.items()) {
    if (key != "results") {
      std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
      continue;
    }
    for (const auto& r : value) {
      std::cout << "--- " << r["policy"].get<std::string>() << "\n";
      for (const auto& [k, v] : r.items()) std::cout << "  " << k << ": " << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
    }
  }
  std::cout.flush();
}

[[noreturn]] void fail_arguments(const Status& status) {
  std::cerr << "polder-sim sched: " << status.to_string() << "\n";
  std::exit(2);
}

SchedWorkload load_workload(SchedArgs& args, std::uint64_t seed) {
  if (!args.trace_path.empty()) {
    auto loaded = read_sched_trace_file(args.trace_path);
    if (!loaded) fail_arguments(loaded.status());
    return std::move(*loaded);
  }
  args.workload.seed = seed;
  args.workload.input_bytes_median = args.input_gb_median * 1e9;
  auto generated = generate_sched_workload(args.workload);
  if (!generated) fail_arguments(generated.status());
  return std::move(*generated);
}

int run(SchedArgs& args, std::uint64_t seed, bool json) {
  Status valid = validate_sched_sim_options(args.sim);
  if (!valid.is_ok()) fail_arguments(valid);
  std::vector<SchedPolicy> policies;
  if (args.compare) {
    policies.assign(std::begin(kSchedPolicies), std::end(kSchedPolicies));
  } else {
    auto policy = parse_sched_policy(args.policy);
    if (!policy) fail_arguments(policy.status());
    policies.push_back(*policy);
  }
  const SchedWorkload workload = load_workload(args, seed);
  if (!args.write_trace_path.empty()) {
    Status written = write_sched_trace_file(args.write_trace_path, workload);
    if (!written.is_ok()) fail_arguments(written);
  }
  nlohmann::ordered_json out;
  out["command"] = "sched";
  out["seed"] = seed;
  out["trace"] = args.trace_path.empty() ? "synthetic" : args.trace_path;
  out["sites"] = workload.sites.size();
  out["gpus_total"] = workload.gpus_total();
  out["jobs"] = workload.jobs.size();
  out["jobs_rejected_too_big"] = workload.jobs_rejected_too_big;
  out["load"] = args.trace_path.empty() ? args.workload.load : workload.offered_load();
  out["offered_load"] = workload.offered_load();
  out["offered_load_steady"] = workload.offered_load_steady();
  double run_s_sum = 0;
  for (const auto& j : workload.jobs) run_s_sum += j.run_s;
  // No policy can beat this: JCT = wait + transfer + run.
  out["mean_run_s"] = run_s_sum / static_cast<double>(workload.jobs.size());
  out["arrival_span_s"] = workload.jobs.back().arrival_s - workload.jobs.front().arrival_s;
  bool ok = true;
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  std::vector<SchedResult> ran;
  for (SchedPolicy p : policies) {
    ran.push_back(run_sched_sim(workload, p, args.sim, seed));
    ok = ok && ran.back().ok();
    results.push_back(sched_result_json(ran.back()));
  }
  out["ok"] = ok;
  if (args.compare) {
    out["targets"] = sched_targets_json(ran, out["mean_run_s"].get<double>());
    out["results"] = results;
  } else {
    for (const auto& [k, v] : results[0].items()) out[k] = v;
  }
  print(out, json);
  if (!ok) {
    std::cerr << "polder-sim sched: a checker failed (overcommit, lost or duplicate jobs); replay with --seed " << seed << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

void add_sched_command(CLI::App& app, const std::optional<std::uint64_t>& seed, const bool& json) {
  auto args = std::make_shared<SchedArgs>();
  CLI::App* cmd = app.add_subcommand("sched", "The real scheduler core over a synthetic multi-site GPU workload");
  cmd->add_option("--sites", args->workload.sites, "Number of sites (data centres)")->capture_default_str();
  cmd->add_option("--jobs", args->workload.jobs, "Number of jobs")->capture_default_str();
  cmd->add_option("--policy", args->policy, "polder, least-loaded, random or ideal")->capture_default_str();
  cmd->add_option("--load", args->workload.load, "Offered load: GPU demand over GPU capacity")->capture_default_str();
  cmd->add_option("--input-gb-median", args->input_gb_median, "Median input size in GB (lognormal, sigma 1.5)")
      ->capture_default_str();
  cmd->add_option("--trace", args->trace_path, "Load the workload from this trace file instead of generating it");
  cmd->add_option("--write-trace", args->write_trace_path, "Write the workload played to this trace file");
  cmd->add_option("--gossip-delay-s", args->sim.gossip_delay_s, "Age of the gossip view (convergence time)")
      ->capture_default_str();
  cmd->add_option("--top-k", args->sim.top_k, "Candidates asked for a reservation (polder)")->capture_default_str();
  cmd->add_flag("--compare", args->compare, "Run every policy on the same workload");
  cmd->callback([args, &seed, &json] {
    const std::uint64_t s = seed ? *seed : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
    std::exit(run(*args, s, json));
  });
}

}  // namespace polder::sim
