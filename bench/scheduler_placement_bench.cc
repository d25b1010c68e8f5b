// polder-bench-scheduler: how fast the placement core ranks candidates.
// Builds a synthetic federation (seeded: GPU types, queues, regions, datasets
// at sites, link bandwidths and RTTs), ranks `--candidates` nodes for a job
// with two inputs `--iterations` times, and prints one JSON object:
// candidates, iterations, ranks_per_s, candidates_per_s, wall_s, seed, the
// winner and how many candidates were feasible (so runs can be compared).
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "protocol/rng.h"
#include "scheduler/cost_model.h"
#include "scheduler/link_metrics.h"
#include "scheduler/placement.h"

namespace {

using namespace polder;
using namespace polder::scheduler;

constexpr std::uint64_t kGB = 1000ull * 1000 * 1000;
const char* kTypes[] = {"H100", "A100", "L40S", "MI300"};

NodeRecord make_node(std::uint32_t i, Rng& rng) {
  NodeRecord r;
  NodeId::Bytes b{};
  for (std::size_t k = 0; k < b.size(); ++k) b[k] = static_cast<std::uint8_t>(rng.next());
  r.node_id = NodeId(b);
  r.name = "site-" + std::to_string(i);
  r.operator_name = "op-" + std::to_string(i % 50);
  r.region = "region-" + std::to_string(i % 8);
  const std::uint32_t gpus = 8u << rng.uniform(7);  // 8..512
  r.accelerators = {Accelerator{kTypes[rng.uniform(4)], gpus, static_cast<std::uint32_t>(rng.uniform(gpus + 1))}};
  r.cpus = gpus * 8;
  r.memory_bytes = std::uint64_t{gpus} * 128 * kGB;
  r.queue_length = static_cast<std::uint32_t>(rng.uniform(100));
  r.expected_wait_ms = r.queue_length * (1 + rng.uniform(60'000));
  if (rng.chance(0.1)) r.datasets = {Dataset{"dataset-" + std::to_string(rng.uniform(20)), 10 * kGB}};
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"polder-bench-scheduler: candidate ranking throughput of the placement core (prints JSON)"};
  std::uint32_t candidates_n = 10'000;
  std::uint32_t iterations = 200;
  std::uint64_t seed = 1;
  std::size_t top_k = 3;
  app.add_option("--candidates", candidates_n, "Candidate nodes ranked per job")
      ->check(CLI::Range(1U, 1'000'000U))->capture_default_str();
  app.add_option("--iterations", iterations, "Rankings to time")->check(CLI::Range(1U, 1'000'000U))->capture_default_str();
  app.add_option("--top-k", top_k, "Ranked candidates returned per job")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--seed", seed, "Seed of the synthetic federation")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  Rng rng(seed);
  std::vector<Candidate> candidates;
  StaticLinkMetrics links;
  for (std::uint32_t i = 0; i < candidates_n; ++i) {
    candidates.push_back(Candidate{make_node(i, rng), Policy{}, 0});
    links.set_rtt_ms(candidates.back().record.name, 1.0 + static_cast<double>(rng.uniform(50)));
    links.set_bandwidth_bps("site-0", candidates.back().record.name, 1e9 * static_cast<double>(1 + rng.uniform(100)));
  }
  JobSpec spec;
  spec.resources = Resources{8, "H100", 32, 256 * kGB};
  spec.inputs = {DataInput{"dataset-3", "site-0", 40 * kGB}, DataInput{"dataset-7", "site-1", 5 * kGB}};
  spec.max_run_time_s = 3600;
  spec.constraints.denied_regions = {"region-7"};

  auto model = CostModel::create(CostModelConfig{}, links);
  if (!model) {
    std::cerr << "polder-bench-scheduler: " << model.status().to_string() << "\n";
    return 1;
  }
  PlacerConfig config;
  config.explain_rejections = false;  // what a proposer on the hot path does
  Placer placer(config, *model);

  std::size_t feasible = 0;
  std::string winner;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint32_t it = 0; it < iterations; ++it) {
    JobId::Bytes jb{};
    jb[0] = static_cast<std::uint8_t>(it);
    jb[1] = static_cast<std::uint8_t>(it >> 8);
    auto placement = placer.rank(PlacementRequest{JobId(jb), &spec, "op-bench", top_k, std::nullopt}, candidates);
    if (!placement) {
      std::cerr << "polder-bench-scheduler: " << placement.status().to_string() << "\n";
      return 1;
    }
    feasible = placement->feasible;
    if (!placement->ranked.empty()) winner = placement->ranked.front().node_name;
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  nlohmann::ordered_json result;
  result["bench"] = "scheduler_placement";
  result["seed"] = seed;
  result["candidates"] = candidates_n;
  result["iterations"] = iterations;
  result["top_k"] = top_k;
  result["feasible"] = feasible;
  result["winner"] = winner;
  result["wall_s"] = wall_s;
  result["ranks_per_s"] = iterations / wall_s;
  result["candidates_per_s"] = static_cast<double>(iterations) * candidates_n / wall_s;
  std::cout << result.dump() << "\n";
  return 0;
}
