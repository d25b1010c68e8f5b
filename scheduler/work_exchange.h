// WorkExchange: idle capacity asks busy peers for work (issue 6).
//
// In polderd a job that no node can start now waits in state "queued" at
// its driver (its origin, else the first live replica), which retries its
// placement with a backoff. A node whose capacity frees would otherwise sit
// idle until that backoff passes. Work exchange closes the gap:
//   - the asker (a node with free capacity, see OffloadPolicy::
//     should_ask_for_work) sends a work offer, saying what it has free, to the
//     peers whose gossiped records show waiting jobs (queue_length > 0,
//     expected_wait_ms >= the busy threshold), busiest first;
//   - the driver that receives it places at once, on the asker, the waiting
//     jobs that fit what was offered (the placement filters, i.e. the job's
//     constraints and the asker's operator policy, still apply), instead of
//     waiting for its retry backoff. The asker's own ReservationTable stays
//     the authority: an offer only makes a driver ask for a reservation.
// Hysteresis: at most one offer per peer per `offer_interval` is sent, at
// most one per peer per interval is honoured, and one offer moves at most
// `jobs_per_offer_max` jobs. A job moves only from waiting to placed (a new
// attempt is never started for a queued job: it has no executor to leave),
// so offers cannot make a job bounce between nodes.
//
// Guarantees: pure and deterministic (peers ordered by wait, queue, then id;
// jobs in the caller's order); memory bounded by the peers seen within one
// interval.
// Thread-safety: none; owned by one host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "protocol/ids.h"
#include "protocol/messages.h"
#include "protocol/status.h"
#include "protocol/time.h"
#include "scheduler/offload.h"
#include "scheduler/placement.h"

namespace polder::scheduler {

struct WorkExchangeConfig {
  Duration offer_interval = std::chrono::seconds(1);  // per peer, both directions; zero: offers off
  std::size_t offer_peers_max = 4;                    // peers offered to in one round
  std::size_t jobs_per_offer_max = 8;                 // jobs one honoured offer places
};

Status validate_work_exchange_config(const WorkExchangeConfig& config);

// What a node has free now, as it says in an offer.
struct FreeCapacity {
  std::vector<Accelerator> accelerators;  // per type: free of total
  std::uint32_t cpus = 0;
  std::uint64_t memory_bytes = 0;

  bool any() const;
  bool fits(const Resources& r) const;
  // Subtracts `r`, which must fit (a GPU job takes GPUs of one type).
  void take(const Resources& r);
};

// A waiting job the driver may place because of an offer.
struct WaitingJob {
  JobId job;
  const JobSpec* spec = nullptr;  // borrowed for the call; required
  std::string submitter_operator;
};

class WorkExchange {
 public:
  static Result<WorkExchange> create(const WorkExchangeConfig& config, const OffloadPolicy& policy);

  bool enabled() const { return config_.offer_interval > Duration::zero(); }

  // Asker side: the peers to send an offer to now, busiest first, at most
  // offer_peers_max, none offered to within offer_interval; each returned
  // peer counts as offered at `now`. `self` describes this node as it would
  // in an offer: accelerators and cpus are what is free now, queue_length
  // the jobs it waits to place itself that could use that capacity.
  std::vector<NodeId> offers_due(const NodeRecord& self, std::span<const Candidate> peers, Instant now);

  // Driver side: true when an offer from `from` is honoured now (none from
  // it was honoured within offer_interval); honoured ones are remembered.
  bool accept_offer(const NodeId& from, Instant now);

  // Driver side: indices into `waiting` (oldest first) of the jobs to place
  // on `asker` (its record with the offered free capacity): each passes the
  // placement filters against `asker` and fits what is left of `free`; at
  // most jobs_per_offer_max. InvalidArgument when a job has no spec.
  Result<std::vector<std::size_t>> pick(std::span<const WaitingJob> waiting, const Candidate& asker,
                                        FreeCapacity free, const Placer& placer) const;

  const WorkExchangeConfig& config() const { return config_; }
  std::size_t peers_remembered() const { return offered_.size() + honoured_.size(); }

 private:
  WorkExchange(const WorkExchangeConfig& config, const OffloadPolicy& policy) : config_(config), policy_(&policy) {}
  void forget_before(std::map<NodeId, Instant>& seen, Instant now) const;

  WorkExchangeConfig config_;
  const OffloadPolicy* policy_;        // borrowed; must outlive this object
  std::map<NodeId, Instant> offered_;  // asker: peer -> last offer sent (within one interval)
  std::map<NodeId, Instant> honoured_; // driver: asker -> last offer honoured (within one interval)
};

}  // namespace polder::scheduler
