// ReservationTable: the executor's own ledger of its capacity.
//
// A proposer ranks on stale gossip, so before it runs consensus it asks the
// best candidates for a short Reservation. The executor is the only
// authority on its capacity: grant() succeeds only when the resources are
// free now, so the table never over-commits (DESIGN.md invariant 3). A
// Reservation that is not confirmed before its expiry is dropped at tick(),
// freeing its capacity; confirm() turns it into an Allocation that lasts
// until release(). GPUs are handed out as slot ids (the node's device
// indices), lowest free first, so they can become CUDA_VISIBLE_DEVICES.
//
// Guarantees, checked by check_invariants() and asserted after every change:
//   - CPUs, memory and GPU slots held by reservations plus allocations never
//     exceed capacity; no GPU slot is held twice; each held slot has the
//     type that was asked for;
//   - one (job) holds at most one entry: an attempt is never granted while
//     another attempt of the same job holds resources (invariant 1: a job's
//     attempts never run at the same time);
//   - a repeated grant for the same (job, attempt) returns the same entry
//     (requests are retried over the network);
//   - a failed call changes nothing (invariant 6).
// Entries live in an ordered map keyed by id: iteration order is
// deterministic. Bounded by TableLimits::entries_max.
// Thread-safety: none; owned by one core.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/ids.h"
#include "protocol/messages.h"
#include "protocol/status.h"
#include "protocol/time.h"

namespace polder::scheduler {

struct ReservationId {
  std::uint64_t value = 0;
  auto operator<=>(const ReservationId&) const = default;
};

// What the node has. gpu_slot_types[i] is the type of GPU slot (device) i.
struct Capacity {
  std::vector<std::string> gpu_slot_types;
  std::uint32_t cpus = 0;
  std::uint64_t memory_bytes = 0;
};

struct TableLimits {
  std::size_t entries_max = 4096;
  Duration ttl_max = std::chrono::minutes(5);
  std::size_t gpu_slots_max = 1024;
};

enum class EntryState : std::uint8_t { kReserved, kAllocated };

struct Reservation {
  ReservationId id;
  JobId job;
  Attempt attempt;
  EntryState state = EntryState::kReserved;
  std::vector<std::uint32_t> gpu_slots;  // ascending
  std::string gpu_type;
  std::uint32_t cpus = 0;
  std::uint64_t memory_bytes = 0;
  Instant expires_at;                    // meaningful while kReserved
};

// "0,1,5": the form CUDA_VISIBLE_DEVICES takes.
std::string cuda_visible_devices(const std::vector<std::uint32_t>& gpu_slots);

class ReservationTable {
 public:
  // Fails on a capacity or limits that make no sense (too many slots, an
  // empty slot type). `first_id` lets a restarted node start above every id
  // it handed out before, so a stale confirm never hits a new reservation.
  static Result<ReservationTable> create(Capacity capacity, TableLimits limits = {}, std::uint64_t first_id = 1);

  // Reserves `resources` for (job, attempt) until now + ttl.
  //   InvalidArgument: nothing asked, unknown GPU type, ttl out of (0, ttl_max];
  //   ResourceExhausted: not free now, or the table is full;
  //   FailedPrecondition: another attempt of the job holds resources.
  Result<Reservation> grant(const JobId& job, Attempt attempt, const Resources& resources, Instant now, Duration ttl);
  // Turns a live reservation into an allocation. NotFound when unknown or
  // already expired (an expired one is dropped here if tick() has not yet).
  Result<Reservation> confirm(ReservationId id, Instant now);
  // Frees a reservation or allocation. NotFound when unknown.
  Status release(ReservationId id);
  // Drops every reservation whose expiry is <= now; returns them.
  std::vector<Reservation> tick(Instant now);

  // The earliest expiry of a live reservation: when tick() is next needed.
  std::optional<Instant> next_expiry() const;
  const Reservation* find(ReservationId id) const;
  std::size_t size() const { return entries_.size(); }
  const std::map<ReservationId, Reservation>& entries() const { return entries_; }

  std::uint32_t free_gpus(const std::string& type) const;
  std::uint32_t free_cpus() const { return capacity_.cpus - cpus_held_; }
  std::uint64_t free_memory_bytes() const { return capacity_.memory_bytes - memory_held_; }
  // True when `resources` (a request grant() refused) would fit if every
  // reservation still awaiting its confirmation were gone: what is missing
  // is held by undecided proposals, not by running jobs. A walk over the
  // entries (<= entries_max); called on a refusal only.
  bool fits_without_reservations(const Resources& resources) const;
  // Per type, sorted by type: what the node gossips in its NodeRecord.
  std::vector<Accelerator> accelerators() const;
  const Capacity& capacity() const { return capacity_; }

  // Recomputes everything from the entries; a non-ok Status names the broken
  // invariant. Tests and the simulator call it after every step.
  Status check_invariants() const;

 private:
  ReservationTable(Capacity capacity, TableLimits limits, std::uint64_t first_id);

  Status check_request(const Resources& r, Duration ttl) const;
  Status check_fencing(const JobId& job, Attempt attempt) const;
  void drop_if_expired(const JobId& job, Instant now);
  void erase(std::map<ReservationId, Reservation>::iterator it);
  std::optional<std::vector<std::uint32_t>> pick_slots(const Resources& r, std::string& type_out) const;
  void hold(const Reservation& r);
  void unhold(const Reservation& r);
  void assert_counters() const;

  Capacity capacity_;
  TableLimits limits_;
  std::uint64_t next_id_;
  std::map<ReservationId, Reservation> entries_;
  std::map<JobId, ReservationId> by_job_;  // at most one entry per job
  std::vector<bool> slot_held_;  // index: GPU slot id
  std::uint32_t cpus_held_ = 0;
  std::uint64_t memory_held_ = 0;
};

}  // namespace polder::scheduler
