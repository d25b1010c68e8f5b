#include "scheduler/work_exchange.h"

#include <algorithm>
#include <cassert>

namespace polder::scheduler {

Status validate_work_exchange_config(const WorkExchangeConfig& c) {
  if (c.offer_interval < Duration::zero()) return invalid_argument("work exchange: offer_interval must be >= 0");
  if (c.offer_peers_max == 0) return invalid_argument("work exchange: offer_peers_max must be > 0");
  if (c.jobs_per_offer_max == 0) return invalid_argument("work exchange: jobs_per_offer_max must be > 0");
  return Status::ok();
}

bool FreeCapacity::any() const {
  for (const auto& a : accelerators) {
    if (a.free > 0) return true;
  }
  return cpus > 0;
}

bool FreeCapacity::fits(const Resources& r) const {
  if (r.cpus > cpus || r.memory_bytes > memory_bytes) return false;
  if (r.gpus == 0) return true;
  for (const auto& a : accelerators) {
    if ((r.gpu_type.empty() || a.type == r.gpu_type) && a.free >= r.gpus) return true;
  }
  return false;
}

void FreeCapacity::take(const Resources& r) {
  assert(fits(r) && "take() only what fits");
  cpus -= r.cpus;
  memory_bytes -= r.memory_bytes;
  if (r.gpus == 0) return;
  // The executor hands out one type, lowest slots first; which type of an
  // untyped request it picks is its choice, so take from the first that fits.
  for (auto& a : accelerators) {
    if ((r.gpu_type.empty() || a.type == r.gpu_type) && a.free >= r.gpus) {
      a.free -= r.gpus;
      return;
    }
  }
}

Result<WorkExchange> WorkExchange::create(const WorkExchangeConfig& config, const OffloadPolicy& policy) {
  POLDER_RETURN_IF_ERROR(validate_work_exchange_config(config));
  return WorkExchange(config, policy);
}

void WorkExchange::forget_before(std::map<NodeId, Instant>& seen, Instant now) const {
  for (auto it = seen.begin(); it != seen.end();) {
    it = now - it->second >= config_.offer_interval ? seen.erase(it) : std::next(it);
  }
}

std::vector<NodeId> WorkExchange::offers_due(const NodeRecord& self, std::span<const Candidate> peers, Instant now) {
  std::vector<NodeId> out;
  if (!enabled()) return out;
  forget_before(offered_, now);
  if (!policy_->should_ask_for_work(self, peers)) return out;
  std::vector<const NodeRecord*> busy;
  const double busy_wait_ms = policy_->config().busy_wait_s_min * 1000.0;
  for (const auto& p : peers) {
    const NodeRecord& r = p.record;
    if (r.node_id == self.node_id || r.queue_length == 0) continue;
    if (static_cast<double>(r.expected_wait_ms) < busy_wait_ms || offered_.count(r.node_id) > 0) continue;
    busy.push_back(&r);
  }
  std::sort(busy.begin(), busy.end(), [](const NodeRecord* a, const NodeRecord* b) {
    if (a->expected_wait_ms != b->expected_wait_ms) return a->expected_wait_ms > b->expected_wait_ms;
    if (a->queue_length != b->queue_length) return a->queue_length > b->queue_length;
    return a->node_id < b->node_id;
  });
  for (const NodeRecord* r : busy) {
    if (out.size() >= config_.offer_peers_max) break;
    out.push_back(r->node_id);
    offered_[r->node_id] = now;
  }
  return out;
}

bool WorkExchange::accept_offer(const NodeId& from, Instant now) {
  if (!enabled()) return false;
  forget_before(honoured_, now);
  if (honoured_.count(from) > 0) return false;
  honoured_[from] = now;
  return true;
}

Result<std::vector<std::size_t>> WorkExchange::pick(std::span<const WaitingJob> waiting, const Candidate& asker,
                                                    FreeCapacity free, const Placer& placer) const {
  for (const auto& w : waiting) {
    if (w.spec == nullptr) return invalid_argument("work exchange: waiting job " + w.job.short_hex() + " has no spec");
  }
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < waiting.size() && out.size() < config_.jobs_per_offer_max && free.any(); ++i) {
    const WaitingJob& w = waiting[i];
    if (!free.fits(w.spec->resources)) continue;
    if (placer.filter(*w.spec, w.submitter_operator, asker)) continue;  // constraints or the asker's policy
    free.take(w.spec->resources);
    out.push_back(i);
  }
  assert(out.size() <= config_.jobs_per_offer_max && "jobs per offer are bounded");
  return out;
}

}  // namespace polder::scheduler
