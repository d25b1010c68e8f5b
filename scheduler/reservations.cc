#include "scheduler/reservations.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <set>

namespace polder::scheduler {

std::string cuda_visible_devices(const std::vector<std::uint32_t>& gpu_slots) {
  std::string out;
  for (auto slot : gpu_slots) out += (out.empty() ? "" : ",") + std::to_string(slot);
  return out;
}

Result<ReservationTable> ReservationTable::create(Capacity capacity, TableLimits limits, std::uint64_t first_id) {
  if (capacity.gpu_slot_types.size() > limits.gpu_slots_max) {
    return invalid_argument("capacity: " + std::to_string(capacity.gpu_slot_types.size()) +
                            " GPU slots, the limit is " + std::to_string(limits.gpu_slots_max));
  }
  for (std::size_t i = 0; i < capacity.gpu_slot_types.size(); ++i) {
    if (capacity.gpu_slot_types[i].empty()) return invalid_argument("capacity: GPU slot " + std::to_string(i) + " has no type");
  }
  if (limits.entries_max == 0) return invalid_argument("table limits: entries_max must be > 0");
  if (limits.ttl_max <= Duration::zero()) return invalid_argument("table limits: ttl_max must be > 0");
  if (first_id == 0) return invalid_argument("first reservation id must be > 0");
  return ReservationTable(std::move(capacity), limits, first_id);
}

ReservationTable::ReservationTable(Capacity capacity, TableLimits limits, std::uint64_t first_id)
    : capacity_(std::move(capacity)), limits_(limits), next_id_(first_id), slot_held_(capacity_.gpu_slot_types.size()) {}

Status ReservationTable::check_request(const Resources& r, Duration ttl) const {
  if (r.gpus == 0 && r.cpus == 0 && r.memory_bytes == 0) return invalid_argument("reservation asks for nothing");
  if (ttl <= Duration::zero() || ttl > limits_.ttl_max) {
    return invalid_argument("reservation ttl " + std::to_string(to_us(ttl)) + " us is outside (0, " +
                            std::to_string(to_us(limits_.ttl_max)) + "] us");
  }
  if (r.gpus > 0 && !r.gpu_type.empty() &&
      std::find(capacity_.gpu_slot_types.begin(), capacity_.gpu_slot_types.end(), r.gpu_type) ==
          capacity_.gpu_slot_types.end()) {
    return invalid_argument("this node has no GPUs of type '" + r.gpu_type + "'");
  }
  return Status::ok();
}

Status ReservationTable::check_fencing(const JobId& job, Attempt attempt) const {
  auto it = by_job_.find(job);
  if (it == by_job_.end()) return Status::ok();
  const Reservation& held = entries_.at(it->second);
  if (held.attempt == attempt) return Status::ok();
  return failed_precondition("job " + job.short_hex() + " attempt " + std::to_string(held.attempt.value) +
                             " holds resources here; attempt " + std::to_string(attempt.value) +
                             " is granted only after it is released");
}

void ReservationTable::drop_if_expired(const JobId& job, Instant now) {
  auto it = by_job_.find(job);
  if (it == by_job_.end()) return;
  auto entry = entries_.find(it->second);
  if (entry->second.state == EntryState::kReserved && entry->second.expires_at <= now) erase(entry);
}

std::optional<std::vector<std::uint32_t>> ReservationTable::pick_slots(const Resources& r, std::string& type_out) const {
  if (r.gpus == 0) return std::vector<std::uint32_t>{};
  // Types in name order, so "any type" is decided the same way on every run.
  std::set<std::string> types;
  if (r.gpu_type.empty()) {
    types.insert(capacity_.gpu_slot_types.begin(), capacity_.gpu_slot_types.end());
  } else {
    types.insert(r.gpu_type);
  }
  for (const auto& type : types) {
    std::vector<std::uint32_t> slots;
    for (std::uint32_t i = 0; i < slot_held_.size() && slots.size() < r.gpus; ++i) {
      if (!slot_held_[i] && capacity_.gpu_slot_types[i] == type) slots.push_back(i);
    }
    if (slots.size() == r.gpus) {
      type_out = type;
      return slots;
    }
  }
  return std::nullopt;
}

bool ReservationTable::fits_without_reservations(const Resources& resources) const {
  std::uint32_t cpus_allocated = 0;
  std::uint64_t memory_allocated = 0;
  std::vector<bool> slot_allocated(slot_held_.size(), false);
  for (const auto& [id, e] : entries_) {
    if (e.state != EntryState::kAllocated) continue;
    cpus_allocated += e.cpus;
    memory_allocated += e.memory_bytes;
    for (std::uint32_t s : e.gpu_slots) slot_allocated[s] = true;
  }
  if (resources.cpus > capacity_.cpus - cpus_allocated) return false;
  if (resources.memory_bytes > capacity_.memory_bytes - memory_allocated) return false;
  if (resources.gpus == 0) return true;
  std::map<std::string, std::uint32_t> unallocated;  // per type
  for (std::uint32_t i = 0; i < slot_allocated.size(); ++i) {
    if (!slot_allocated[i]) ++unallocated[capacity_.gpu_slot_types[i]];
  }
  if (!resources.gpu_type.empty()) return unallocated[resources.gpu_type] >= resources.gpus;
  for (const auto& [type, n] : unallocated) {
    if (n >= resources.gpus) return true;
  }
  return false;
}

Result<Reservation> ReservationTable::grant(const JobId& job, Attempt attempt, const Resources& resources,
                                            Instant now, Duration ttl) {
  POLDER_RETURN_IF_ERROR(check_request(resources, ttl));
  drop_if_expired(job, now);
  POLDER_RETURN_IF_ERROR(check_fencing(job, attempt));
  if (auto it = by_job_.find(job); it != by_job_.end()) return entries_.at(it->second);  // a retried request
  if (entries_.size() >= limits_.entries_max) {
    return resource_exhausted("reservation table is full (" + std::to_string(limits_.entries_max) + " entries)");
  }
  if (resources.cpus > free_cpus() || resources.memory_bytes > free_memory_bytes()) {
    return resource_exhausted("not enough free CPUs or memory: " + std::to_string(free_cpus()) + " CPUs and " +
                              std::to_string(free_memory_bytes()) + " bytes free");
  }
  Reservation r;
  auto slots = pick_slots(resources, r.gpu_type);
  if (!slots) {
    return resource_exhausted("not enough free GPUs: asked for " + std::to_string(resources.gpus) + " " +
                              (resources.gpu_type.empty() ? std::string("of one type") : resources.gpu_type));
  }
  r.id = ReservationId{next_id_++};
  r.job = job;
  r.attempt = attempt;
  r.gpu_slots = std::move(*slots);
  r.cpus = resources.cpus;
  r.memory_bytes = resources.memory_bytes;
  r.expires_at = now + ttl;
  hold(r);
  by_job_[job] = r.id;
  entries_.emplace(r.id, r);
  assert_counters();
  return r;
}

Result<Reservation> ReservationTable::confirm(ReservationId id, Instant now) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return not_found("reservation " + std::to_string(id.value) + " is unknown or released");
  if (it->second.state == EntryState::kReserved && it->second.expires_at <= now) {
    erase(it);
    assert_counters();
    return not_found("reservation " + std::to_string(id.value) + " expired before it was confirmed");
  }
  it->second.state = EntryState::kAllocated;
  return it->second;
}

Status ReservationTable::release(ReservationId id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return not_found("reservation " + std::to_string(id.value) + " is unknown or released");
  erase(it);
  assert_counters();
  return Status::ok();
}

std::vector<Reservation> ReservationTable::tick(Instant now) {
  std::vector<Reservation> expired;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (it->second.state == EntryState::kReserved && it->second.expires_at <= now) {
      expired.push_back(it->second);
      erase(it);
    }
    it = next;
  }
  assert_counters();
  return expired;
}

void ReservationTable::erase(std::map<ReservationId, Reservation>::iterator it) {
  unhold(it->second);
  by_job_.erase(it->second.job);
  entries_.erase(it);
}

void ReservationTable::hold(const Reservation& r) {
  for (auto slot : r.gpu_slots) {
    assert(!slot_held_[slot] && "a GPU slot is never given twice");
    slot_held_[slot] = true;
  }
  cpus_held_ += r.cpus;
  memory_held_ += r.memory_bytes;
}

void ReservationTable::unhold(const Reservation& r) {
  for (auto slot : r.gpu_slots) {
    assert(slot_held_[slot] && "a released GPU slot was held");
    slot_held_[slot] = false;
  }
  assert(cpus_held_ >= r.cpus && memory_held_ >= r.memory_bytes && "held counters never go negative");
  cpus_held_ -= r.cpus;
  memory_held_ -= r.memory_bytes;
}

void ReservationTable::assert_counters() const {
  assert(cpus_held_ <= capacity_.cpus && "CPUs held never exceed capacity");
  assert(memory_held_ <= capacity_.memory_bytes && "memory held never exceeds capacity");
  assert(by_job_.size() == entries_.size() && "one entry per job");
  assert(entries_.size() <= limits_.entries_max && "table is bounded");
}

std::optional<Instant> ReservationTable::next_expiry() const {
  std::optional<Instant> earliest;
  for (const auto& [id, r] : entries_) {
    if (r.state == EntryState::kReserved && (!earliest || r.expires_at < *earliest)) earliest = r.expires_at;
  }
  return earliest;
}

const Reservation* ReservationTable::find(ReservationId id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

std::uint32_t ReservationTable::free_gpus(const std::string& type) const {
  std::uint32_t n = 0;
  for (std::size_t i = 0; i < slot_held_.size(); ++i) {
    if (!slot_held_[i] && capacity_.gpu_slot_types[i] == type) ++n;
  }
  return n;
}

std::vector<Accelerator> ReservationTable::accelerators() const {
  std::map<std::string, Accelerator> by_type;
  for (std::size_t i = 0; i < slot_held_.size(); ++i) {
    auto& a = by_type[capacity_.gpu_slot_types[i]];
    a.type = capacity_.gpu_slot_types[i];
    ++a.total;
    if (!slot_held_[i]) ++a.free;
  }
  std::vector<Accelerator> out;
  for (auto& [type, a] : by_type) out.push_back(std::move(a));
  return out;
}

namespace {

Status check_entry_slots(const Reservation& r, const Capacity& capacity, std::vector<bool>& seen) {
  const std::string who = "reservation " + std::to_string(r.id.value);
  if (r.gpu_slots.empty() != r.gpu_type.empty()) return internal_error(who + ": GPU type set without slots or slots without type");
  for (std::size_t i = 0; i < r.gpu_slots.size(); ++i) {
    const auto slot = r.gpu_slots[i];
    if (slot >= capacity.gpu_slot_types.size()) return internal_error(who + ": GPU slot " + std::to_string(slot) + " does not exist");
    if (seen[slot]) return internal_error(who + ": GPU slot " + std::to_string(slot) + " is given twice");
    if (capacity.gpu_slot_types[slot] != r.gpu_type) return internal_error(who + ": GPU slot type differs from the grant");
    if (i > 0 && r.gpu_slots[i - 1] >= slot) return internal_error(who + ": GPU slots are not ascending");
    seen[slot] = true;
  }
  return Status::ok();
}

}  // namespace

Status ReservationTable::check_invariants() const {
  std::vector<bool> seen(capacity_.gpu_slot_types.size());
  std::uint64_t cpus = 0, memory = 0;
  std::set<JobId> jobs;
  for (const auto& [id, r] : entries_) {
    if (id != r.id) return internal_error("entry keyed by a different id");
    if (r.id.value >= next_id_) return internal_error("entry id not below the next id");
    POLDER_RETURN_IF_ERROR(check_entry_slots(r, capacity_, seen));
    if (!jobs.insert(r.job).second) return internal_error("job " + r.job.short_hex() + " holds two entries");
    auto idx = by_job_.find(r.job);
    if (idx == by_job_.end() || idx->second != r.id) return internal_error("job index disagrees with the entries");
    cpus += r.cpus;
    memory += r.memory_bytes;
  }
  if (cpus > capacity_.cpus) return internal_error("over-commit: " + std::to_string(cpus) + " CPUs held of " + std::to_string(capacity_.cpus));
  if (memory > capacity_.memory_bytes) return internal_error("over-commit: memory held exceeds capacity");
  if (cpus != cpus_held_ || memory != memory_held_) return internal_error("held counters disagree with the entries");
  if (seen != slot_held_) return internal_error("held GPU slots disagree with the entries");
  if (by_job_.size() != entries_.size()) return internal_error("job index has stale entries");
  if (entries_.size() > limits_.entries_max) return internal_error("table over its entry limit");
  return Status::ok();
}

}  // namespace polder::scheduler
