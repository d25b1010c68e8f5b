// Consensus campaign: the consensus core under faults in the simulator.
//
// Purpose: for each seed, build a federation of `nodes` simulated nodes,
// each running a real ConsensusCore inside a CampaignNode (a thin stand-in
// for the node daemon: it proposes from a job plan and runs a tiny executor),
// submit `jobs` jobs, inject the chosen faults for a period, heal, and check
// after every simulator event:
//   agreement   never two different values chosen for one (job, attempt);
//   validity    a chosen value was proposed;
//   truth       a value announced chosen really was accepted by a majority;
//   durability  an acceptor never forgets, across crashes, a Promise or
//               Accepted that reached someone; its promise never goes back;
//   fencing     an executor starts (j, a) only on learning it chosen, and
//               never while another attempt of j runs;
//   core        every core's internal invariants (consensus/invariants.h);
// and, at the end, liveness: after the heal every instance is decided (and
// its executor learned it) within `liveness_bound_us`.
//
// Some jobs are contended (a second replica proposes a different value at
// the same time); some attempts fail or lose their executor, and the
// origin proposes attempt a+1 on the replica set named by attempt a.
//
// Every seed is reproducible alone (`--seeds S..S`). Seeds run on several
// threads, one simulator per seed; results are merged in seed order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/status.h"

namespace polder::sim {

struct ConsensusFaults {
  bool crash = false;
  bool restart = false;
  bool partition = false;
  bool loss = false;
  bool dup = false;
  bool reorder = false;
  bool slow_disk = false;

  std::string to_string() const;
};

// "crash,restart,partition,loss,dup,reorder,slow-disk", "all" or "none".
Result<ConsensusFaults> parse_consensus_faults(const std::string& list);
// "A..B" (inclusive) or "A".
Result<std::pair<std::uint64_t, std::uint64_t>> parse_seed_range(const std::string& text);

struct ConsensusCampaignOptions {
  std::uint32_t nodes = 9;
  std::uint32_t jobs = 100;
  std::uint32_t replicas = 3;
  ConsensusFaults faults;
  std::uint64_t seed_first = 1;
  std::uint64_t seed_last = 1;
  std::int64_t rtt_us = 50'000;             // between any two nodes
  double contended_fraction = 0.2;          // jobs whose attempts get a second proposer
  double failing_fraction = 0.15;           // attempts whose run fails (a new attempt follows)
  std::uint32_t attempts_max = 3;
  std::int64_t submit_window_us = 4'000'000;  // attempt-0 proposals spread over this
  std::int64_t fault_period_us = 6'000'000;   // faults from 0 until the heal
  std::int64_t liveness_bound_us = 30'000'000;  // after the heal, everything decides by then
  std::int64_t run_time_us = 300'000;       // how long an executor runs an attempt
  std::uint32_t threads = 0;                // 0: hardware concurrency
  std::uint32_t trace_events = 40;          // events printed with a violation
  bool check_every_event = true;            // core invariants after every event
};

Status validate_campaign_options(const ConsensusCampaignOptions& options);

struct ConsensusSeedResult {
  std::uint64_t seed = 0;
  std::uint64_t instances = 0;
  std::uint64_t decided = 0;
  std::uint64_t undecided_after_heal = 0;
  std::uint64_t violations = 0;
  std::uint64_t executions = 0;
  std::uint64_t fenced = 0;                   // chosen attempts an executor refused as stale
  std::vector<double> latencies_rtt;          // per decided instance
  std::vector<std::uint32_t> ballots;         // per decided instance: ballots tried until chosen
  std::uint64_t events = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t malformed = 0;
  std::string violation;                      // the first one
  std::vector<std::string> trace;             // the events before it
};

struct ConsensusCampaignResult {
  std::uint64_t seeds = 0;
  std::uint64_t instances = 0;
  std::uint64_t decided = 0;
  std::uint64_t violations = 0;
  std::uint64_t undecided_after_heal = 0;
  std::uint64_t executions = 0;
  std::uint64_t fenced = 0;
  std::uint64_t events = 0;
  std::uint64_t messages_sent = 0;
  double latency_rtt_p50 = 0;
  double latency_rtt_p99 = 0;
  double latency_rtt_max = 0;
  double within_3_ballots_pct = 0;
  std::uint32_t ballots_p99 = 0;
  double wall_s = 0;
  std::vector<std::uint64_t> failed_seeds;
  ConsensusSeedResult first_failure;  // meaningful when failed_seeds is not empty
};

ConsensusSeedResult run_consensus_seed(const ConsensusCampaignOptions& options, std::uint64_t seed);
// Precondition: validate_campaign_options(options) is ok.
ConsensusCampaignResult run_consensus_campaign(const ConsensusCampaignOptions& options);
nlohmann::ordered_json to_json(const ConsensusCampaignOptions& options, const ConsensusCampaignResult& result);

}  // namespace polder::sim
