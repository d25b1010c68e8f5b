// One member process of polder-bench-consensus-cluster: a ConsensusCore
// inside a CoreHost, over the real Transport (CurveZMQ on loopback) and a
// real RocksDB Storage with synced group commit — the same wiring polderd
// uses, without gossip or the client API.
//
// A member that drives load proposes instances of which it is the origin
// (replica set = all members), so uncontended they take the fast path:
// one round trip to a majority and one fsync on each side. Every member
// forgets a job once it learned the decision, so memory stays flat.
//
// Two kinds of load:
//   kThroughput  closed loop: keep `concurrency` instances in flight from
//                `start_us` for `seconds`; latency = propose -> chosen event
//                at this member.
//   kContention  open loop: instance k is proposed at start_us + k/rate by
//                every driving member at once, each with its own value, so
//                every instance is a duel between proposers. A member that
//                does not drive proposes its own uncontended instances at
//                reference_rate_per_s meanwhile: their latency, measured in
//                the same run under the same load, is the unit in which
//                the duels' latencies are reported (round trips).
//
// The member writes what it measured as JSON to <dir>/result-<index>.json
// and returns; the parent (consensus_cluster.cc) merges the files.
// Thread-safety: none; a member is one process with one event loop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/ids.h"
#include "protocol/status.h"

namespace polder::bench {

enum class LoadMode { kThroughput, kContention };

struct MemberConfig {
  int index = 0;
  std::string dir;               // holds key-<i>, db-<i>/ and result-<i>.json
  std::vector<NodeId> ids;       // every member's id, by index
  std::vector<int> ports;        // every member's peer port on 127.0.0.1
  std::vector<int> drivers;      // indexes of the members that propose
  LoadMode mode = LoadMode::kThroughput;
  std::int64_t start_us = 0;     // steady_clock time (shared by all processes) when load starts
  std::int64_t seconds_us = 0;   // how long load is offered
  std::int64_t grace_us = 0;     // after load: keep serving peers, let in-flight instances finish
  std::uint32_t concurrency = 64;  // kThroughput: instances in flight, split over the drivers
  double rate_per_s = 200;       // kContention: instances per second
  double reference_rate_per_s = 50;  // kContention: uncontended instances per second at each non-driver (0: none)
  std::int64_t rtt_us = 100'000;  // ConsensusOptions::rtt_us
  bool rtt_adaptive = true;      // ConsensusOptions::rtt_adaptive
  std::int64_t retention_us = 1'000'000;
  bool daemon_order = false;     // tick after delivering (Daemon::turn's order) instead of before
  bool pipelined = true;         // node::CoreHostOptions::pipelined: fsync on a committer thread
  bool bundle = true;            // node::CoreHostOptions::bundle: one envelope per peer per flush
};

// Runs the member until start_us + seconds_us + grace_us, then writes its
// result file. Errors: a key, storage, transport or durable-write failure.
Status run_member(const MemberConfig& config);

// Steady-clock microseconds: CLOCK_MONOTONIC is one clock for every process
// on the machine, so the parent can hand members a common start time.
std::int64_t steady_now_us();

}  // namespace polder::bench
