// Instance: everything one node holds about one (job, attempt) — its fixed
// spec and this node's acceptor, proposer and learner roles in it, plus the
// timers ConsensusCore runs for it. Exposed read-only (ConsensusCore::
// instance()) so invariant checkers and tests can look inside.
#pragma once

#include <cstdint>

#include "consensus/acceptor.h"
#include "consensus/learner.h"
#include "consensus/proposer.h"
#include "consensus/value.h"

namespace polder::consensus {

inline constexpr std::int64_t kNoTimer = -1;

struct Instance {
  InstanceSpec spec;
  bool is_replica = false;  // self is in spec.replicas: this node's acceptor votes

  AcceptorState acceptor;
  Proposer proposer;
  Learner learner;

  // Durable state: which records exist or must be written.
  bool acceptor_dirty = false;
  bool proposer_dirty = false;
  bool has_proposer_record = false;
  bool compacted = false;           // the decision record replaced 'a' and 'p'
  bool compaction_queued = false;

  // Telling the chosen executor (it acks with ChosenAck).
  bool executor_acked = false;
  bool announcing = false;
  std::int64_t announce_interval_us = 0;
  // Asking the replicas (query()).
  bool querying = false;
  std::int64_t query_interval_us = 0;

  // Timers (virtual or real microseconds; kNoTimer when off).
  std::int64_t proposer_due_us = kNoTimer;
  std::int64_t takeover_due_us = kNoTimer;
  std::int64_t announce_due_us = kNoTimer;
  std::int64_t query_due_us = kNoTimer;
  std::int64_t timer_us = kNoTimer;  // earliest of the above, as filed in the core's timer set
  // A higher ballot of another proposer was seen: ours does not retry
  // before this, so the duel's winner can finish (kNoTimer: no such ballot).
  std::int64_t yield_until_us = kNoTimer;
  std::int64_t phase_started_us = kNoTimer;  // this node's current proposer phase began (RTT samples)

  // Other replicas that told this one they accepted the origin's fast
  // ballot: with this node's own accept of it, a majority decides here
  // without waiting for the announcement (ConsensusCore::learn_fast).
  VoteTally fast_accepted;

  bool decided() const { return learner.decided(); }
};

}  // namespace polder::consensus
