// What one Paxos instance decides, and which instance it is.
//
// An instance is keyed by (job, attempt): the attempt number is the fencing
// token of DESIGN.md. Its value is either "node N runs (j, a) under
// reservation R" or "job j cancelled", and may name the replica set of
// attempt a+1 so a job outlives the loss of its original replicas.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>

#include "consensus/ballot.h"
#include "consensus/replica_set.h"
#include "protocol/ids.h"
#include "protocol/status.h"

namespace polder::consensus {

struct InstanceKey {
  JobId job;
  Attempt attempt;

  auto operator<=>(const InstanceKey&) const = default;
  bool operator==(const InstanceKey&) const = default;
  std::string to_string() const;  // "1a2b3c4d5e6f/3"
};

// The fixed description of an instance: who votes and who owns ballot 0.
struct InstanceSpec {
  InstanceKey key;
  ReplicaSet replicas;  // sorted, distinct (validate_replica_set)
  NodeId origin;        // the job's origin: the only user of ballot 0

  bool operator==(const InstanceSpec&) const = default;
};

// Ok when the replica set is valid and the origin is not the zero id.
Status validate_instance_spec(const InstanceSpec& spec);

struct Value {
  enum class Kind : std::uint8_t { kRun = 1, kCancel = 2 };

  Kind kind = Kind::kCancel;
  NodeId executor;                        // kRun only
  std::uint64_t reservation = 0;          // kRun only: opaque reservation id
  // Replica set for attempt a+1; empty when none is named (an empty set is
  // never valid, so "empty" cannot be mistaken for a real set).
  ReplicaSet next_replicas;

  static Value run(const NodeId& executor, std::uint64_t reservation,
                   ReplicaSet next_replicas = {}) {
    return Value{Kind::kRun, executor, reservation, std::move(next_replicas)};
  }
  static Value cancel(ReplicaSet next_replicas = {}) {
    return Value{Kind::kCancel, NodeId(), 0, std::move(next_replicas)};
  }

  bool is_run() const { return kind == Kind::kRun; }
  bool names_next_replicas() const { return !next_replicas.empty(); }
  bool operator==(const Value&) const = default;
  std::string to_string() const;  // "run:1a2b3c4d5e6f:R42" or "cancel"
};

// Ok when a run names a non-zero executor and a named next replica set is valid.
Status validate_value(const Value& value);

}  // namespace polder::consensus
