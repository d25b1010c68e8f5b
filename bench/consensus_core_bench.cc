// polder-bench-consensus-core: decisions per wall-clock second of the
// consensus core alone — no network, no disk, one thread. Three replicas'
// ConsensusCores hand each other the encoded messages in memory; the
// persist ops are counted but not written. Each round proposes `--batch`
// instances at the origin (a replica; ballot 0, the fast path), then
// delivers every message until quiet: Accept, Accepted, Chosen, ChosenAck,
// decision compaction, and finally forget() of the jobs, so memory stays
// flat. A decision is counted when the origin learns it. The target is
// >= 50,000 decisions/s: then the disk and the network set the limit.
// Prints one JSON object.
#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstring>
#include <deque>
#include <iostream>
#include <memory>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "consensus/consensus_core.h"

namespace {

using namespace polder;
using namespace polder::consensus;

NodeId node_id(std::uint8_t n) {
  NodeId::Bytes b{};
  b[0] = n;
  b[31] = 0x5a;
  return NodeId(b);
}

struct InFlight {
  NodeId from, to;
  Bytes bytes;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"polder-bench-consensus-core: consensus core decisions/s on one core, no IO (prints JSON)"};
  std::uint64_t decisions = 200'000;
  std::uint32_t batch = 64;
  std::uint32_t replicas = 3;
  bool origin_outside = false;
  app.add_option("--decisions", decisions, "Instances to decide")->check(CLI::Range(1ULL, 100'000'000ULL))->capture_default_str();
  app.add_option("--batch", batch, "Concurrent instances per round")->check(CLI::Range(1U, 100'000U))->capture_default_str();
  app.add_option("--replicas", replicas, "Replica set size")->check(CLI::Range(1U, 7U))->capture_default_str();
  app.add_flag("--origin-outside", origin_outside, "The origin is not a replica (one more node, more messages)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  std::vector<NodeId> nodes;
  for (std::uint32_t i = 0; i < replicas + 1; ++i) nodes.push_back(node_id(static_cast<std::uint8_t>(i + 1)));
  ReplicaSet set(nodes.begin(), nodes.begin() + replicas);
  std::sort(set.begin(), set.end());
  const NodeId origin = origin_outside ? nodes[replicas] : set[0];
  std::vector<std::unique_ptr<ConsensusCore>> cores;
  ConsensusOptions options;
  options.rtt_us = 1'000;
  options.compaction_delay_us = 0;  // compact on the tick below, as in a node that idles between rounds
  options.retention_us = 0;
  for (std::uint32_t i = 0; i < nodes.size(); ++i) {
    auto core = ConsensusCore::create(nodes[i], options, {}, i + 1);
    if (!core) {
      std::cerr << core.status().to_string() << "\n";
      return 1;
    }
    cores.push_back(std::move(core).value());
  }
  const auto core_of = [&](const NodeId& id) -> ConsensusCore& {
    for (std::uint32_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i] == id) return *cores[i];
    }
    std::abort();
  };

  std::deque<InFlight> queue;
  std::uint64_t messages = 0, persist_ops = 0, decided = 0, now_us = 1'000'000;
  const auto absorb = [&](const NodeId& at, Effects&& e) {
    persist_ops += e.persist.size();
    for (OutMessage& m : e.send) queue.push_back({at, m.to, std::move(m.bytes)});
    for (const CoreEvent& ev : e.events) decided += (at == origin && ev.kind == kChosenEventKind) ? 1 : 0;
  };

  // CPU time of this (single-threaded) process as well as wall time: on a
  // shared machine the wall rate understates what one core can do.
  const auto cpu_s = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  const double cpu_start = cpu_s();
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t proposed = 0;
  std::vector<JobId> round_jobs;
  while (proposed < decisions) {  // bounded by decisions / batch rounds
    round_jobs.clear();
    const Instant now = instant_from_us(static_cast<std::int64_t>(now_us));
    for (std::uint32_t b = 0; b < batch && proposed < decisions; ++b, ++proposed) {
      JobId::Bytes jb{};
      std::memcpy(jb.data(), &proposed, sizeof proposed);
      jb[31] = 0x77;
      const JobId job(jb);
      round_jobs.push_back(job);
      const InstanceSpec spec{InstanceKey{job, Attempt{0}}, set, origin};
      auto e = core_of(origin).propose(spec, Value::run(set[proposed % set.size()], proposed), now);
      absorb(origin, std::move(e).value());
    }
    while (!queue.empty()) {  // bounded: every instance decides within a few hops
      InFlight m = std::move(queue.front());
      queue.pop_front();
      ++messages;
      absorb(m.to, core_of(m.to).receive(m.from, m.bytes, now));
    }
    for (std::uint32_t i = 0; i < nodes.size(); ++i) {
      absorb(nodes[i], cores[i]->tick(now));  // compaction
      for (const JobId& job : round_jobs) absorb(nodes[i], cores[i]->forget(job, now));
      absorb(nodes[i], cores[i]->tick(now));  // retention 0: erased now
    }
    now_us += 1'000;
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu_used_s = cpu_s() - cpu_start;

  nlohmann::ordered_json out;
  out["bench"] = "consensus_core";
  out["replicas"] = replicas;
  out["origin_outside"] = origin_outside;
  out["batch"] = batch;
  out["decisions"] = decided;
  out["wall_s"] = wall_s;
  out["decisions_per_s"] = static_cast<double>(decided) / wall_s;
  out["cpu_s"] = cpu_used_s;
  out["decisions_per_cpu_s"] = static_cast<double>(decided) / cpu_used_s;
  out["messages"] = messages;
  out["messages_per_decision"] = static_cast<double>(messages) / static_cast<double>(decided);
  out["persist_ops_per_decision"] = static_cast<double>(persist_ops) / static_cast<double>(decided);
  out["instances_left"] = cores[0]->instances().size();
  out["target_decisions_per_s"] = 50'000;
  std::cout << out.dump() << "\n";
  return decided == decisions ? 0 : 1;
}
