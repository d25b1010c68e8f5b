#include "node/jobs.h"
#include "node/newest_jobs.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <filesystem>

#include "node/record_verifier.h"
#include "protocol/codec.h"
#include "scheduler/cost_model.h"
#include "scheduler/job_validation.h"
#include "scheduler/placement.h"

namespace polder::node {
namespace {

using namespace std::chrono_literals;
using consensus::InstanceKey;
using consensus::InstanceSpec;
using consensus::Value;

constexpr auto kReserveTimeout = 2s;
constexpr auto kProposeTimeout = 10s;
constexpr auto kRetryWait = 1s;
constexpr auto kPollExecutorEvery = 2s;
constexpr auto kScanEvery = 100ms;
constexpr auto kClientDeadline = 1500ms;
constexpr std::size_t kMeasuredTransferMin = 16 * 1024;  // smaller replies time the RTT, not the link
constexpr std::size_t kListMax = 1000;
constexpr std::size_t kLogChunkMax = 256 * 1024;

int state_rank(const std::string& s) {
  if (s == "queued") return 0;
  if (s == "placed") return 1;
  if (s == "running") return 2;
  if (s == "lost") return 3;
  if (s == "finished" || s == "failed" || s == "cancelled") return 4;
  return -1;
}

std::string key_of(const JobId& job) { return std::string(job.span().begin(), job.span().end()); }

ErrorReply error_of(const Status& s) { return ErrorReply{static_cast<std::uint16_t>(s.code()), s.message()}; }

// The link view the cost model needs, from gossip: Vivaldi RTTs, and the
// bandwidth that nodes measured on real transfers and put in their signed
// records (unmeasured: the model's default applies).
class GossipLinks final : public scheduler::LinkMetrics {
 public:
  explicit GossipLinks(const gossip::GossipCore& g) : g_(g) {}
  std::optional<double> bandwidth_bps(std::string_view site, const NodeRecord& to) const override {
    if (!records_) {  // only jobs with inputs ask: open the records once per placement
      records_.emplace();
      for (const auto& m : g_.members()) {
        if (!m.record) continue;
        if (auto r = open_gossiped_record(m.record->bytes)) records_->push_back(std::move(*r));
      }
    }
    return scheduler::recorded_bandwidth_bps(*records_, site, to);
  }
  std::optional<double> rtt_ms(const NodeRecord& to) const override {
    auto rtt = g_.estimated_rtt(to.node_id);
    if (!rtt) return std::nullopt;
    return std::chrono::duration<double, std::milli>(*rtt).count();
  }

 private:
  const gossip::GossipCore& g_;
  mutable std::optional<std::vector<NodeRecord>> records_;
};

scheduler::Capacity capacity_of(const NodeConfig& c) {
  scheduler::Capacity cap;
  for (const auto& g : c.gpus) {
    for (std::uint32_t i = 0; i < g.count; ++i) cap.gpu_slot_types.push_back(g.type);
  }
  cap.cpus = c.cpus;
  cap.memory_bytes = c.memory_bytes;
  return cap;
}

}  // namespace

bool job_state_is_final(const std::string& state) { return state_rank(state) == 4 && state != "lost"; }

bool job_view_newer(const JobView& a, const JobView& b) {
  if (a.attempt != b.attempt) return a.attempt > b.attempt;
  int ra = state_rank(a.state), rb = state_rank(b.state);
  if (ra != rb) return ra > rb;
  return a.updated_at_us > b.updated_at_us;
}

// The work-exchange cores (scheduler/work_exchange.h) and what they borrow.
// The placer only filters (constraints, policy, fit); it never ranks, so it
// needs no link metrics.
struct JobManager::WorkOffers {
  scheduler::NoLinkMetrics links;
  std::optional<scheduler::CostModel> model;
  std::optional<scheduler::Placer> placer;
  std::optional<scheduler::OffloadPolicy> policy;
  std::optional<scheduler::WorkExchange> exchange;
};

JobManager::JobManager(JobManagerDeps deps, scheduler::ReservationTable table)
    : d_(std::move(deps)),
      table_(std::move(table)),
      executor_(d_.config->jobs_work_dir, d_.config->jobs_log_cap_bytes),
      offers_(std::make_unique<WorkOffers>()) {
  if (const char* v = std::getenv(kNoRenewAttemptEnv)) fault_no_renew_attempt_ = static_cast<std::uint32_t>(std::atoi(v));
}

JobManager::~JobManager() = default;

Result<std::unique_ptr<JobManager>> JobManager::create(JobManagerDeps deps, Instant now, std::int64_t wall_us) {
  // Reservation ids start above anything handed out before a restart.
  auto table = scheduler::ReservationTable::create(capacity_of(*deps.config), {},
                                                   static_cast<std::uint64_t>(wall_us));
  if (!table) return Status(table.status().code(), "jobs: " + table.status().message());
  std::unique_ptr<JobManager> m(new JobManager(std::move(deps), std::move(*table)));
  {
    WorkOffers& o = *m->offers_;
    auto model = scheduler::CostModel::create({}, o.links);
    if (!model) return model.status();
    o.model.emplace(std::move(*model));
    o.placer.emplace(scheduler::PlacerConfig{.capacity_mode = scheduler::CapacityMode::kFree,
                                             .explain_rejections = false},
                     *o.model);
    // A peer is busy once it has a waiting job at all: its driver found no
    // node that can start it, so any capacity that frees should be offered.
    auto policy = scheduler::OffloadPolicy::create({.busy_wait_s_min = 0}, *o.placer);
    if (!policy) return policy.status();
    o.policy.emplace(std::move(*policy));
    const NodeConfig& c = *m->d_.config;
    auto exchange = scheduler::WorkExchange::create(
        {.offer_interval = std::chrono::milliseconds(c.jobs_offer_interval_ms),
         .jobs_per_offer_max = static_cast<std::size_t>(c.jobs_offer_jobs_max)},
        *o.policy);
    if (!exchange) return Status(exchange.status().code(), "jobs: " + exchange.status().message());
    o.exchange.emplace(std::move(*exchange));
  }
  POLDER_RETURN_IF_ERROR(m->executor_.set_run_as_user(m->d_.config->jobs_run_as_user));
  POLDER_RETURN_IF_ERROR(m->restore(now, wall_us));
  return m;
}

JobMessage JobManager::record_message(const Record& r) const {
  JobMessage m;
  m.kind = JobMessageKind::kReplicate;
  m.job_id = r.view.job_id;
  m.attempt = r.view.attempt;
  m.spec = r.spec;
  m.origin = r.origin;
  m.replicas = r.replicas;
  m.jobs.push_back(r.view);
  m.done = r.cancel_requested;  // on disk: `done` is the cancel flag
  m.reservation = r.reservation;
  return m;
}

Status JobManager::restore(Instant now, std::int64_t wall_us) {
  last_now_ = now;
  auto records = d_.storage->load_all(Column::kJobs);
  if (!records) return records.status();
  std::vector<JobId> lost;
  for (const auto& [key, bytes] : *records) {
    auto m = decode_job_message(bytes);
    if (!m || !m->spec || !m->origin || m->jobs.size() != 1 || !m->job_id) {
      return data_loss("jobs: a stored job record is corrupt");
    }
    Record r;
    r.spec = std::move(*m->spec);
    r.origin = *m->origin;
    r.replicas = m->replicas;
    r.view = m->jobs[0];
    r.cancel_requested = m->done;
    r.reservation = m->reservation;
    r.retry_at = now;
    r.last_poll = now;
    if (r.view.executor == d_.self && (r.view.state == "placed" || r.view.state == "running")) {
      lost.push_back(r.view.job_id);
    }
    if (!job_state_is_final(r.view.state)) active_.insert(r.view.job_id);
    count_open(r);
    jobs_.emplace(r.view.job_id, std::move(r));
  }
  // Attempts this node was running died with the old process (PDEATHSIG):
  // say so, so the driver starts the next attempt; never run them again.
  for (const auto& id : lost) {
    Record& r = jobs_.at(id);
    report_lost(r, "attempt " + std::to_string(r.view.attempt) + " was running on " + node_name(d_.self) +
                       " when that node restarted",
                wall_us);
  }
  // Attempts placed elsewhere: assume their executors hold a lease from now
  // (the grants this node gave before it restarted are forgotten).
  for (const auto& [id, r] : jobs_) {
    if (r.view.state == "placed" || r.view.state == "running") touch_lease(id, r.view.attempt, now);
  }
  if (!jobs_.empty()) spdlog::info("jobs: restored {} job record(s), {} lost attempt(s)", jobs_.size(), lost.size());
  return Status::ok();
}

// ---- helpers ---------------------------------------------------------------

bool JobManager::member_alive(const NodeId& id) const {
  if (id == d_.self) return true;
  auto m = d_.gossip->member(id);
  return m && (m->state == gossip::MemberState::kAlive || m->state == gossip::MemberState::kSuspect);
}

std::vector<NodeId> JobManager::alive_peers() const {
  std::vector<NodeId> out;
  for (const auto& m : d_.gossip->members()) {
    if (m.is_self) continue;
    if (m.state == gossip::MemberState::kAlive || m.state == gossip::MemberState::kSuspect) out.push_back(m.id);
  }
  return out;
}

std::string JobManager::node_name(const NodeId& id) const {
  if (id == d_.self) return d_.config->name;
  if (auto m = d_.gossip->member(id); m && m->record) {
    if (const NodeRecord* r = opened_record(id, m->record)) return r->name;
  }
  return id.short_hex();
}

const NodeRecord* JobManager::opened_record(const NodeId& id,
                                            const std::shared_ptr<const gossip::VerifiedRecord>& record) const {
  if (!record) return nullptr;
  OpenedRecord& o = opened_[id];
  if (o.source != record) {
    o.source = record;
    o.record.reset();
    if (auto r = open_gossiped_record(record->bytes)) o.record = std::move(*r);
  }
  return o.record ? &*o.record : nullptr;
}

std::vector<NodeId> JobManager::holders(const Record& r) const {
  std::set<NodeId> s(r.replicas.begin(), r.replicas.end());
  s.insert(r.origin);
  if (r.view.executor) s.insert(*r.view.executor);
  s.erase(d_.self);
  return {s.begin(), s.end()};
}

bool JobManager::is_driver(const Record& r) const {
  if (r.origin == d_.self) return true;
  if (member_alive(r.origin)) return false;
  for (const auto& id : r.replicas) {  // sorted: every node walks the same order
    if (id == d_.self) return true;
    if (member_alive(id)) return false;
  }
  return false;
}

namespace {

JobMessage update_message(const JobView& view) {
  JobMessage m;
  m.kind = JobMessageKind::kUpdate;
  m.job_id = view.job_id;
  m.attempt = view.attempt;
  m.jobs.push_back(view);
  return m;
}

}  // namespace

void JobManager::broadcast_update(const Record& r) {
  for (const auto& to : holders(r)) send(to, update_message(r.view));
}

std::uint32_t JobManager::queue_length() const { return waiting_count_; }

std::uint64_t JobManager::expected_wait_ms() const {
  if (waiting_count_ == 0 || last_now_ < oldest_waiting_since_) return 0;
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(last_now_ - oldest_waiting_since_).count());
}

bool JobManager::take_capacity_changed() {
  bool changed = capacity_changed_;
  capacity_changed_ = false;
  return changed;
}

std::vector<JobView> JobManager::views(std::size_t max) const {
  std::vector<const JobView*> newest;
  newest.reserve(jobs_.size());
  for (const auto& [id, r] : jobs_) newest.push_back(&r.view);
  keep_newest(newest, max);
  std::vector<JobView> out;
  out.reserve(newest.size());
  for (const JobView* v : newest) out.push_back(*v);
  return out;
}

std::map<std::string, std::size_t> JobManager::counts_by_state() const {
  std::map<std::string, std::size_t> out;
  for (const auto& [id, r] : jobs_) ++out[r.view.state];
  return out;
}

// ---- client requests ---------------------------------------------------------

void JobManager::on_client(const ClientRef& client, const NodeId& client_key, JobMessage request, Instant now,
                           std::int64_t wall_us) {
  last_now_ = now;
  switch (request.kind) {
    case JobMessageKind::kSubmit:
      submit(client, client_key, std::move(request), now, wall_us);
      return;
    case JobMessageKind::kCancel: {
      if (!request.job_id) {
        reply(client, error_of(invalid_argument("cancel needs a job id")));
        return;
      }
      if (Status s = client_may_cancel(client_key, *request.job_id); !s.is_ok()) {
        reply(client, error_of(s));
        return;
      }
      cancel_local(*request.job_id, now, wall_us);
      for (const auto& peer : alive_peers()) {
        JobMessage m;
        m.kind = JobMessageKind::kCancelJob;
        m.job_id = request.job_id;
        send(peer, std::move(m));
      }
      request.kind = JobMessageKind::kStatus;
      fan_out(client, client_key, std::move(request), now);
      return;
    }
    case JobMessageKind::kStatus:
    case JobMessageKind::kLogs:
      if (!request.job_id) {
        reply(client, error_of(invalid_argument("this request needs a job id")));
        return;
      }
      fan_out(client, client_key, std::move(request), now);
      return;
    case JobMessageKind::kList:
      fan_out(client, client_key, std::move(request), now);
      return;
    default:
      reply(client, error_of(invalid_argument("not a client job request")));
  }
}

void JobManager::submit(const ClientRef& client, const NodeId& client_key, JobMessage request, Instant now,
                        std::int64_t wall_us) {
  if (!request.spec) {
    reply(client, error_of(invalid_argument("submit needs a job spec")));
    return;
  }
  if (Status s = client_within_quota(client_key); !s.is_ok()) {
    ++counters_.refused;
    reply(client, error_of(s));
    return;
  }
  if (Status s = admission_open(now); !s.is_ok()) {
    if (counters_.admission_refused++ % 1000 == 0) {  // the first, then every 1000th
      spdlog::warn("jobs: refusing submits ({} so far): {}", counters_.admission_refused, s.message());
    }
    reply(client, error_of(s));
    return;
  }
  JobSpec spec = std::move(*request.spec);
  spec.submitter = client_key;  // the authenticated key, whatever the spec said
  if (spec.submitted_at_us == 0) spec.submitted_at_us = wall_us;
  if (spec.nonce == 0) randombytes_buf(&spec.nonce, sizeof spec.nonce);
  if (spec.max_run_time_s == 0) spec.max_run_time_s = d_.config->jobs_default_max_time_s;
  if (spec.resources.gpus == 0 && spec.resources.cpus == 0 && spec.resources.memory_bytes == 0) {
    spec.resources.cpus = 1;
  }
  if (spec.name.empty()) spec.name = spec.command;
  std::vector<NodeRecord> federation;
  std::vector<NodeId> members;
  for (const auto& m : d_.gossip->members()) {
    if (!(m.state == gossip::MemberState::kAlive || m.state == gossip::MemberState::kSuspect)) continue;
    members.push_back(m.id);
    if (const NodeRecord* r = opened_record(m.id, m.record)) federation.push_back(*r);
  }
  if (Status s = scheduler::validate_job_for_federation(spec, federation); !s.is_ok()) {
    ++counters_.refused;
    reply(client, error_of(s));
    return;
  }
  auto spec_bytes = encode_job_spec(spec);
  if (!spec_bytes) {
    reply(client, error_of(spec_bytes.status()));
    return;
  }
  JobId::Bytes hash{};
  crypto_generichash(hash.data(), hash.size(), spec_bytes->data(), spec_bytes->size(), nullptr, 0);
  JobId job = *JobId::from_bytes(hash);
  if (auto known = jobs_.find(job); known != jobs_.end()) {
    // The same signed-over bytes again (a replayed or retried request): the
    // job exists; answer with it and change nothing.
    ++counters_.replayed_submits;
    JobMessage again;
    again.kind = JobMessageKind::kReply;
    again.job_id = job;
    again.jobs.push_back(known->second.view);
    reply(client, std::move(again));
    return;
  }
  std::size_t count = std::min<std::size_t>(static_cast<std::size_t>(d_.config->jobs_replicas), members.size());
  auto replicas = consensus::rendezvous_replica_set(job, Attempt{1}, members, std::max<std::size_t>(count, 1));
  if (!replicas) {
    reply(client, error_of(replicas.status()));
    return;
  }
  Record r;
  r.spec = std::move(spec);
  r.origin = d_.self;
  r.replicas = *replicas;
  r.view.job_id = job;
  r.view.name = r.spec.name;
  r.view.state = "queued";
  r.view.attempt = 1;
  r.view.origin = d_.self;
  r.view.submitted_at_us = r.spec.submitted_at_us;
  r.view.updated_at_us = wall_us;
  r.view.message = "submitted at " + d_.config->name;
  r.view.command = r.spec.command;
  r.retry_at = now;
  r.last_poll = now;
  r.accepted_at = now;
  // Durable before acknowledged: flush() answers, replicates and places it
  // once the record is on disk, so an acknowledged job is never lost.
  persist(r);
  jobs_.emplace(job, std::move(r));
  submits_.push_back({client, job});
}

// Placement lags when a job accepted here is still not running after
// jobs.admission_lag_ms although capacity for it exists (not yet chosen,
// or chosen and its executor not yet through the lease round and the
// start): submits then outrun placement, and accepting more would only
// grow every job's wait.
// Refusing them (kUnavailable: try again, or another node) keeps the wait
// bounded by the lag. A job that waits because no node can start it now
// (work exchange) is not lagging placement and does not count.
Status JobManager::admission_open(Instant now) {
  const auto lag_max = std::chrono::milliseconds(d_.config->jobs_admission_lag_ms);
  while (!placing_.empty()) {
    auto it = jobs_.find(placing_.front().second);
    const Record* r = it == jobs_.end() ? nullptr : &it->second;
    const bool placing =
        r != nullptr && r->view.attempt == 1 && !r->cancel_requested &&
        ((r->view.state == "queued" && (!r->waiting || r->waiting_behind_reservations)) || r->view.state == "placed");
    if (placing) break;
    placing_.pop_front();
  }
  if (lag_max.count() == 0 || placing_.empty() || now - placing_.front().first <= lag_max) return Status::ok();
  const auto waited_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - placing_.front().first).count();
  return unavailable("placement at " + d_.config->name + " is behind: the oldest job accepted here has waited " +
                     std::to_string(waited_ms) + " ms to be placed and started (jobs.admission_lag_ms = " +
                     std::to_string(lag_max.count()) + "); retry in a moment, or submit at another node");
}

// The submits of this turn, once their records are durable (or not).
void JobManager::finish_submits(const Status& written, Instant now, std::int64_t wall_us) {
  auto submits = std::move(submits_);
  submits_.clear();
  for (const auto& s : submits) {
    auto it = jobs_.find(s.job);
    if (it == jobs_.end()) continue;
    if (!written.is_ok()) {  // not on disk: not accepted, and forgotten
      dirty_.erase(s.job);
      count_open(it->second, /*forget=*/true);
      jobs_.erase(it);
      d_.reply(s.client, error_of(Status(written.code(), "job not accepted: " + written.message())));
      continue;
    }
    Record& r = it->second;
    JobMessage ack;
    ack.kind = JobMessageKind::kReply;
    ack.job_id = s.job;
    ack.jobs.push_back(r.view);
    d_.reply(s.client, std::move(ack));
    ++counters_.submitted;
    if (d_.config->jobs_admission_lag_ms > 0) placing_.emplace_back(r.accepted_at, s.job);
    spdlog::info("job {} ({}) submitted by {}: replicas {}", s.job.short_hex(), r.view.name,
                 r.spec.submitter.short_hex(), r.replicas.size());
    JobMessage rep = record_message(r);
    for (const auto& id : r.replicas) {
      if (id != d_.self) send(id, rep);
    }
    place(r, now, wall_us);
  }
}

Status JobManager::flush(Instant now, std::int64_t wall_us) {
  Status written = write(Durability::kSync);
  release(written, now, wall_us);
  return written;
}

Status JobManager::write(Durability durability) {
  for (const auto& id : dirty_) lazy_.erase(id);
  if (dirty_.empty() && lazy_.empty()) return Status::ok();
  // Only lazy records: nothing asks for an fsync, unless the caller's
  // synced write is to cover records written earlier and not yet released.
  if (dirty_.empty() && !(durability == Durability::kSync && !written_.empty())) durability = Durability::kLazy;
  WriteBatch batch;
  for (const auto* ids : {&dirty_, &lazy_}) {
    for (const auto& id : *ids) {
      auto it = jobs_.find(id);
      if (it == jobs_.end()) continue;
      auto bytes = encode_job_message(record_message(it->second));
      if (!bytes) {
        spdlog::error("job {}: cannot encode its record: {}", id.short_hex(), bytes.status().to_string());
        continue;
      }
      batch.put(Column::kJobs, key_of(id), *bytes);
    }
  }
  Status written = d_.storage->write(batch, durability);
  if (!written.is_ok()) {
    spdlog::error("jobs: cannot store {} job record(s), will retry: {}", dirty_.size() + lazy_.size(),
                  written.to_string());
    // Lazy records gate nothing: retried by the next write. A synced write
    // that was to cover earlier records reports its failure.
    return durability == Durability::kLazy ? Status::ok() : written;
  }
  if (durability == Durability::kLazy) {
    ++counters_.lazy_record_writes;
    counters_.lazy_records_written += batch.count();
  } else {
    ++counters_.record_writes;
    counters_.records_written += batch.count();
  }
  written_.insert(dirty_.begin(), dirty_.end());
  dirty_.clear();
  lazy_.clear();
  return written;
}

void JobManager::release(const Status& durable, Instant now, std::int64_t wall_us) {
  last_now_ = now;
  Status written = durable;
  if (!durable.is_ok()) {
    dirty_.insert(written_.begin(), written_.end());  // written, maybe not durable: write them again
    if (!written_.empty()) spdlog::error("jobs: {} job record(s) not made durable, will retry: {}", written_.size(),
                                         durable.to_string());
  }
  written_.clear();
  finish_submits(written, now, wall_us);
  // Starts wait for the "running" record: a restart never forgets it ran.
  auto starts = std::move(out_start_);
  out_start_.clear();
  for (auto& req : starts) start_process(req, written, now, wall_us);
  auto peers = std::move(out_peer_);
  out_peer_.clear();
  for (auto& [to, m] : peers) d_.send(to, std::move(m));
  auto clients = std::move(out_client_);
  out_client_.clear();
  for (auto& [client, payload] : clients) d_.reply(client, std::move(payload));
}

bool JobManager::has_pending_output() const {
  return !dirty_.empty() || !submits_.empty() || !out_peer_.empty() || !out_client_.empty() || !out_start_.empty();
}

void JobManager::fan_out(const ClientRef& client, const NodeId& client_key, JobMessage request, Instant now) {
  std::uint64_t id = next_request_id_++;
  PendingClient p;
  p.client = client;
  p.client_key = client_key;
  p.kind = request.kind;
  p.job = request.job_id;
  p.state_filter = request.state_filter;
  p.node_filter = request.node_filter;
  p.deadline = now + kClientDeadline;
  JobMessage ask;
  ask.request_id = id;
  ask.job_id = request.job_id;
  ask.state_filter = request.state_filter;
  ask.offset = request.offset;
  if (request.kind == JobMessageKind::kLogs) {
    ask.kind = JobMessageKind::kFetchLogs;
  } else {
    ask.kind = JobMessageKind::kQuery;
  }
  for (const auto& peer : alive_peers()) {
    p.waiting.insert(peer);
    send(peer, ask);
  }
  clients_.emplace(id, std::move(p));
  // This node answers itself, through the same path.
  if (ask.kind == JobMessageKind::kFetchLogs) {
    on_fetch_logs(d_.self, ask);
  } else {
    on_query(d_.self, ask);
  }
}

void JobManager::on_reply_for_client(const NodeId& from, const JobMessage& m) {
  auto it = clients_.find(m.request_id);
  if (it == clients_.end()) return;
  PendingClient& p = it->second;
  p.waiting.erase(from);
  if (m.kind == JobMessageKind::kLogsReply) {
    if (m.attempt > 0 && (!p.log_found || m.attempt > p.log_attempt)) {
      p.log_found = true;
      p.log_attempt = m.attempt;
      p.log_reply = m;
    }
  } else {
    if (m.truncated) p.truncated = true;
    for (const auto& v : m.jobs) {
      auto [vi, inserted] = p.views.emplace(v.job_id, v);
      if (!inserted && job_view_newer(v, vi->second)) vi->second = v;
    }
  }
  if (p.waiting.empty()) complete(m.request_id);
}

void JobManager::complete(std::uint64_t request_id) {
  auto it = clients_.find(request_id);
  if (it == clients_.end()) return;
  PendingClient p = std::move(it->second);
  clients_.erase(it);
  JobMessage out;
  out.kind = JobMessageKind::kReply;
  out.job_id = p.job;
  if (p.kind == JobMessageKind::kLogs) {
    if (!p.log_found) {
      reply(p.client, error_of(not_found("no output of job " + p.job->short_hex() +
                                            " on any live node (not started yet, or unknown)")));
      return;
    }
    if (Status s = check_client_access(*d_.config, p.client_key,
                                       p.log_reply.jobs.empty() ? std::nullopt : p.log_reply.jobs[0].submitter,
                                       *p.job);
        !s.is_ok()) {
      reply(p.client, error_of(s));
      return;
    }
    out.attempt = p.log_reply.attempt;
    out.data = std::move(p.log_reply.data);
    out.offset = p.log_reply.offset;
    out.done = p.log_reply.done;
    reply(p.client, std::move(out));
    return;
  }
  if (p.kind != JobMessageKind::kList && p.views.empty()) {
    reply(p.client, error_of(not_found("job " + p.job->hex() + " is unknown to every live node")));
    return;
  }
  if (p.kind != JobMessageKind::kList) {
    const JobView& v = p.views.begin()->second;
    if (Status s = check_client_access(*d_.config, p.client_key, v.submitter, v.job_id); !s.is_ok()) {
      reply(p.client, error_of(s));
      return;
    }
  }
  std::vector<JobView*> shown;
  for (auto& [id, v] : p.views) {
    if (!client_may_read(p, v)) continue;  // a list shows only the client's own jobs (all of them to an admin)
    if (!p.state_filter.empty() && v.state != p.state_filter) continue;
    if (!p.node_filter.empty() && v.executor_name != p.node_filter &&
        !(v.executor && v.executor->hex().rfind(p.node_filter, 0) == 0)) {
      continue;
    }
    shown.push_back(&v);
  }
  out.truncated = keep_newest(shown, kListMax) || p.truncated;
  out.jobs.reserve(shown.size());
  for (JobView* v : shown) out.jobs.push_back(std::move(*v));
  reply(p.client, std::move(out));
}

void JobManager::cancel_local(const JobId& job, Instant now, std::int64_t wall_us) {
  cancelled_.insert(job);
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return;
  Record& r = it->second;
  if (job_state_is_final(r.view.state) || r.cancel_requested) return;
  r.cancel_requested = true;
  r.view.message = "cancel requested";
  r.view.updated_at_us = wall_us;
  persist(r);
  if (r.view.executor == d_.self) executor_.cancel(job, r.view.attempt, now);
  spdlog::info("job {}: cancel requested", job.short_hex());
}

// ---- peer messages -----------------------------------------------------------

void JobManager::on_peer(const NodeId& from, JobMessage m, Instant now, std::int64_t wall_us) {
  last_now_ = now;
  switch (m.kind) {
    case JobMessageKind::kReplicate: on_replicate(from, m, wall_us); return;
    case JobMessageKind::kReserve: on_reserve(from, m, now); return;
    case JobMessageKind::kReserveReply: on_reserve_reply(from, m, now, wall_us); return;
    case JobMessageKind::kRelease:
      if (auto* res = table_.find(scheduler::ReservationId{m.reservation});
          res && res->state == scheduler::EntryState::kReserved && m.job_id && res->job == *m.job_id) {
        (void)table_.release(res->id);
        pending_runs_.erase(m.reservation);
        capacity_changed_ = true;
        freed_ = true;
      }
      return;
    case JobMessageKind::kUpdate:
      for (const auto& v : m.jobs) {
        if (peer_may_update(from, v)) apply_update(v, wall_us);
      }
      return;
    case JobMessageKind::kQuery: on_query(from, m); return;
    case JobMessageKind::kQueryReply:
      if (m.request_id == 0) {  // the answer to a holder's poll of an executor
        for (const auto& v : m.jobs) {
          if (peer_may_update(from, v)) apply_update(v, wall_us);
        }
      } else {
        on_reply_for_client(from, m);
      }
      return;
    case JobMessageKind::kFetchLogs: on_fetch_logs(from, m); return;
    case JobMessageKind::kLogsReply:
      // A log chunk is the one bulk transfer between nodes: bytes over the
      // time from the fetch to its reply (RTT and a disk read included, so
      // a lower bound) feed the gossiped link bandwidth.
      if (auto it = clients_.find(m.request_id);
          it != clients_.end() && from != d_.self && d_.gossip != nullptr && m.data.size() >= kMeasuredTransferMin) {
        d_.gossip->observe_transfer(from, m.data.size(), now - (it->second.deadline - kClientDeadline));
      }
      on_reply_for_client(from, m);
      return;
    case JobMessageKind::kCancelJob:
      if (m.job_id && peer_may_cancel(from, *m.job_id)) cancel_local(*m.job_id, now, wall_us);
      return;
    case JobMessageKind::kHeartbeat: on_heartbeat(from, m, now, wall_us); return;
    case JobMessageKind::kHeartbeatAck: on_heartbeat_ack(from, m, now, wall_us); return;
    case JobMessageKind::kWorkOffer: on_work_offer(from, m, now, wall_us); return;
    default:
      spdlog::debug("ignored job message kind {} from {}", static_cast<int>(m.kind), from.short_hex());
  }
}

void JobManager::on_replicate(const NodeId& from, const JobMessage& m, std::int64_t wall_us) {
  if (!m.job_id || !m.spec || !m.origin || m.jobs.size() != 1 || *m.origin != from) return;
  if (std::find(m.replicas.begin(), m.replicas.end(), d_.self) == m.replicas.end()) return;
  if (!job_id_matches_spec(*m.job_id, *m.spec) || m.jobs[0].job_id != *m.job_id) {
    ++counters_.unauthorized;
    spdlog::warn("job {}: refused a replica record from {}: the id is not the hash of its spec",
                 m.job_id->short_hex(), from.short_hex());
    return;
  }
  if (jobs_.count(*m.job_id)) {
    apply_update(m.jobs[0], wall_us);
    return;
  }
  if (Status s = peer_within_quota(from); !s.is_ok()) {
    if (counters_.peer_quota_refused++ % 1000 == 0) {  // the first, then every 1000th: a flood must not flood the log
      spdlog::warn("job {}: refused a replica record ({} so far): {}", m.job_id->short_hex(),
                   counters_.peer_quota_refused, s.message());
    }
    return;
  }
  Record r;
  r.spec = *m.spec;
  r.origin = *m.origin;
  r.replicas = m.replicas;
  r.view = m.jobs[0];
  persist(r);
  jobs_.emplace(*m.job_id, std::move(r));
}

JobMessage JobManager::grant(const NodeId& from, const JobMessage& m, Instant now) {
  JobMessage reply;
  reply.kind = JobMessageKind::kReserveReply;
  reply.request_id = m.request_id;
  reply.job_id = m.job_id;
  reply.attempt = m.attempt;
  if (!m.job_id || !m.spec || !m.origin || m.attempt == 0) {
    reply.message = "malformed reservation request";
    return reply;
  }
  if (cancelled_.count(*m.job_id)) {
    reply.message = "job cancelled";
    return reply;
  }
  if (Status s = reserve_allowed(from, m); !s.is_ok()) {
    ++counters_.unauthorized;
    reply.message = s.message();
    return reply;
  }
  auto res = table_.grant(*m.job_id, Attempt{m.attempt}, m.spec->resources, now,
                          std::chrono::milliseconds(d_.config->jobs_reservation_ttl_ms));
  if (!res) {
    reply.message = res.status().message();
    // Only a refusal for capacity: a fencing refusal (another attempt holds
    // resources) is no wait behind undecided proposals.
    reply.held_by_reservations = res.status().code() == StatusCode::kResourceExhausted &&
                                 table_.fits_without_reservations(m.spec->resources);
    return reply;
  }
  reply.granted = true;
  reply.reservation = res->id.value;
  reply.gpu_slots = scheduler::cuda_visible_devices(res->gpu_slots);
  pending_runs_[res->id.value] = PendingRun{*m.job_id, m.attempt, *m.spec, *m.origin, m.replicas, reply.gpu_slots};
  capacity_changed_ = true;
  spdlog::debug("job {}/{}: reserved for {} (reservation {})", m.job_id->short_hex(), m.attempt, from.short_hex(),
                res->id.value);
  return reply;
}

void JobManager::on_reserve(const NodeId& from, const JobMessage& m, Instant now) {
  send(from, grant(from, m, now));
}

void JobManager::on_reserve_reply(const NodeId& from, const JobMessage& m, Instant now, std::int64_t wall_us) {
  if (!m.job_id) return;
  auto it = jobs_.find(*m.job_id);
  bool wanted = it != jobs_.end() && it->second.phase == Record::Phase::kReserving && it->second.candidate == from &&
                it->second.view.attempt == m.attempt && it->second.view.state == "queued";
  if (!wanted) {
    if (m.granted) release_at(from, *m.job_id, m.reservation, now, wall_us);  // too late or not ours any more
    return;
  }
  Record& r = it->second;
  if (!m.granted) {
    ++counters_.reservations_refused;
    spdlog::debug("job {}: {} refused a reservation: {}", m.job_id->short_hex(), node_name(from), m.message);
    r.refused.insert(from);
    if (m.held_by_reservations) r.refused_behind_reservations = true;
    r.phase = Record::Phase::kIdle;
    place(r, now, wall_us);
    return;
  }
  ++counters_.reservations_granted;
  r.granted = m.reservation;
  r.view.gpu_slots = m.gpu_slots;
  spdlog::debug("job {}: {} reserved attempt {} (GPUs \"{}\"); proposing it to the replicas", m.job_id->short_hex(),
               node_name(from), m.attempt, m.gpu_slots);
  propose(r, Value::run(from, m.reservation, r.replicas), now);
}

void JobManager::on_query(const NodeId& from, const JobMessage& m) {
  JobMessage reply;
  reply.kind = JobMessageKind::kQueryReply;
  reply.request_id = m.request_id;
  reply.job_id = m.job_id;
  if (m.job_id) {
    if (auto it = jobs_.find(*m.job_id); it != jobs_.end()) {
      reply.jobs.push_back(it->second.view);
      reply.jobs.back().submitter = it->second.spec.submitter;
    }
  } else {
    std::vector<const Record*> held;
    for (const auto& [id, r] : jobs_) {
      if (m.state_filter.empty() || r.view.state == m.state_filter) held.push_back(&r);
    }
    reply.truncated = keep_newest(held, kListMax, [](const Record* r) -> const JobView& { return r->view; });
    reply.jobs.reserve(held.size());
    for (const Record* r : held) {
      reply.jobs.push_back(r->view);
      reply.jobs.back().submitter = r->spec.submitter;
    }
  }
  if (from == d_.self) {
    on_reply_for_client(from, reply);
  } else {
    send(from, std::move(reply));
  }
}

void JobManager::on_fetch_logs(const NodeId& from, const JobMessage& m) {
  JobMessage reply;
  reply.kind = JobMessageKind::kLogsReply;
  reply.request_id = m.request_id;
  reply.job_id = m.job_id;
  if (m.job_id) {
    auto it = jobs_.find(*m.job_id);
    // The latest attempt this node ran, whose output file it holds.
    if (it != jobs_.end() && it->second.view.executor == d_.self) {
      const Record& r = it->second;
      std::uint32_t attempt = r.view.attempt;
      auto data = executor_.read_log(*m.job_id, attempt, m.offset, kLogChunkMax);
      if (data) {
        reply.attempt = attempt;
        reply.offset = m.offset;
        reply.done = job_state_is_final(r.view.state) && data->size() < kLogChunkMax;
        reply.data = std::move(*data);
        reply.jobs.push_back(r.view);  // says whose job it is: the asking node checks the client's access
        reply.jobs.back().submitter = r.spec.submitter;
      }
    }
  }
  if (from == d_.self) {
    on_reply_for_client(from, reply);
  } else {
    send(from, std::move(reply));
  }
}

// ---- driver ------------------------------------------------------------------

void JobManager::place(Record& r, Instant now, std::int64_t wall_us) {
  if (r.phase != Record::Phase::kIdle || r.view.state != "queued" || r.cancel_requested) return;
  r.by_offer = false;
  GossipLinks links(*d_.gossip);
  auto model = scheduler::CostModel::create({}, links);
  if (!model) return;
  scheduler::Placer placer({.capacity_mode = scheduler::CapacityMode::kFree}, *model);
  std::vector<scheduler::Candidate> candidates;
  for (const auto& m : d_.gossip->members()) {
    if (!(m.state == gossip::MemberState::kAlive) || !m.record) continue;
    if (r.refused.count(m.id)) continue;
    const NodeRecord* opened = opened_record(m.id, m.record);
    if (!opened) continue;
    NodeRecord rec = *opened;
    if (m.is_self) rec.accelerators = table_.accelerators();  // exact, not gossip-stale
    // A record's queue is the jobs its node drives that wait for capacity
    // anywhere, not a queue at that node: a candidate with the resources
    // free starts the job now (CapacityMode::kFree).
    rec.queue_length = 0;
    rec.expected_wait_ms = 0;
    candidates.push_back({std::move(rec), {}, 0});
  }
  scheduler::PlacementRequest req{r.view.job_id, &r.spec, "", 3, std::nullopt};
  auto placement = placer.rank(req, candidates);
  if (!placement || placement->ranked.empty()) {
    std::string why = placement ? "no node has the resources free now" : placement.status().message();
    if (placement && !placement->rejected.empty()) why += " (" + placement->explain(2) + ")";
    if (r.waiting_reason != why) {
      spdlog::info("job {}: waiting: {}", r.view.job_id.short_hex(), why);
      r.waiting_reason = why;
      r.view.message = "waiting: " + why;
      r.view.updated_at_us = wall_us;
    }
    r.refused.clear();
    r.waiting_behind_reservations = r.refused_behind_reservations;
    r.refused_behind_reservations = false;
    // Back off: a work offer, or capacity freed here, places it sooner.
    const Duration first = std::chrono::milliseconds(d_.config->jobs_queued_retry_ms);
    const Duration most = std::chrono::milliseconds(d_.config->jobs_queued_retry_max_ms);
    r.retry_wait = r.retry_wait == Duration::zero() ? first : std::min<Duration>(2 * r.retry_wait, most);
    r.retry_at = now + r.retry_wait;
    if (!r.waiting) r.waiting_since = now;
    r.waiting = true;
    return;
  }
  ++counters_.placements;
  const auto& best = placement->ranked.front();
  // Info: where a job goes and why (its cost terms and the runners-up) is
  // what an operator reads the log for (issue 7). The reservation line
  // below is debug: several lines per job at info cost a loaded node.
  spdlog::info("job {} attempt {}: {}", r.view.job_id.short_hex(), r.view.attempt, placement->explain(2));
  reserve_at(r, best.node, now, wall_us);
}

void JobManager::reserve_at(Record& r, const NodeId& candidate, Instant now, std::int64_t wall_us) {
  r.phase = Record::Phase::kReserving;
  r.candidate = candidate;
  r.phase_deadline = now + kReserveTimeout;
  JobMessage m;
  m.kind = JobMessageKind::kReserve;
  m.job_id = r.view.job_id;
  m.attempt = r.view.attempt;
  m.spec = r.spec;
  m.origin = r.origin;
  m.replicas = r.replicas;
  if (candidate == d_.self) {
    JobMessage reply = grant(d_.self, m, now);
    on_reserve_reply(d_.self, reply, now, wall_us);
  } else {
    send(candidate, std::move(m));
  }
}

// The driver no longer wants the reservation it was granted for `r`.
void JobManager::release_granted(Record& r, Instant now, std::int64_t wall_us) {
  if (r.granted == 0) return;
  release_at(r.candidate, r.view.job_id, r.granted, now, wall_us);
  r.granted = 0;
}

void JobManager::release_at(const NodeId& node, const JobId& job, std::uint64_t reservation, Instant now,
                            std::int64_t wall_us) {
  JobMessage rel;
  rel.kind = JobMessageKind::kRelease;
  rel.job_id = job;
  rel.reservation = reservation;
  if (node == d_.self) {
    on_peer(d_.self, rel, now, wall_us);
  } else {
    send(node, std::move(rel));
  }
}

void JobManager::propose(Record& r, const Value& value, Instant now) {
  InstanceSpec spec{InstanceKey{r.view.job_id, Attempt{r.view.attempt}}, r.replicas, r.origin};
  auto effects = d_.consensus->propose(spec, value, now);
  if (!effects) {
    spdlog::warn("job {}: cannot propose: {}", r.view.job_id.short_hex(), effects.status().to_string());
    r.phase = Record::Phase::kIdle;
    r.retry_at = now + kRetryWait;
    return;
  }
  r.phase = Record::Phase::kProposing;
  r.phase_deadline = now + kProposeTimeout;
  r.proposed_at = now;
  d_.consensus_host->apply(std::move(*effects));
}

void JobManager::next_attempt(Record& r, const std::string& why, std::int64_t wall_us, bool counts_as_failure) {
  if (counts_as_failure) {
    ++r.view.failures;
    ++counters_.retries;
  } else {
    ++counters_.failovers;
  }
  r.view.attempt += 1;
  r.view.state = "queued";
  r.view.executor.reset();
  r.view.executor_name.clear();
  r.view.gpu_slots.clear();
  r.view.started_at_us = 0;
  r.view.message = why;
  r.view.updated_at_us = wall_us;
  r.phase = Record::Phase::kIdle;
  r.refused.clear();
  r.retry_at = Instant();
  r.retry_wait = Duration::zero();
  r.waiting = false;
  r.refused_behind_reservations = false;
  r.waiting_behind_reservations = false;
  r.by_offer = false;
  spdlog::warn("job {}: {}; attempt {} will be placed", r.view.job_id.short_hex(), why, r.view.attempt);
}

// ---- work exchange ---------------------------------------------------------------

bool JobManager::waiting(const Record& r) const {
  return r.waiting && r.view.state == "queued" && r.phase == Record::Phase::kIdle && !r.cancel_requested;
}

std::vector<JobManager::Record*> JobManager::waiting_jobs() {
  std::vector<Record*> out;
  for (const auto& id : active_) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || !waiting(it->second) || !is_driver(it->second)) continue;
    out.push_back(&it->second);
  }
  // Oldest first; ties by id, so the choice never depends on map order.
  std::sort(out.begin(), out.end(), [](const Record* a, const Record* b) {
    if (a->waiting_since != b->waiting_since) return a->waiting_since < b->waiting_since;
    return a->view.job_id < b->view.job_id;
  });
  return out;
}

scheduler::FreeCapacity JobManager::free_capacity() const {
  scheduler::FreeCapacity f;
  f.accelerators = table_.accelerators();
  f.cpus = table_.free_cpus();
  f.memory_bytes = table_.free_memory_bytes();
  return f;
}

// Places, on node `on` (whose record, with the free capacity, is `record`),
// the oldest waiting jobs that fit `free`; returns how many reservations it
// asked for. The node's own reservation table decides; this only asks.
std::size_t JobManager::place_waiting(const NodeId& on, const NodeRecord& record, const scheduler::FreeCapacity& free,
                                      Instant now, std::int64_t wall_us) {
  std::vector<Record*> mine = waiting_jobs();
  if (mine.empty()) return 0;
  std::vector<scheduler::WaitingJob> jobs;
  jobs.reserve(mine.size());
  for (Record* r : mine) jobs.push_back({r->view.job_id, &r->spec, ""});
  scheduler::Candidate candidate{record, {}, 0};
  candidate.record.accelerators = free.accelerators;
  candidate.record.cpus = free.cpus;
  candidate.record.memory_bytes = free.memory_bytes;
  auto picked = offers_->exchange->pick(jobs, candidate, free, *offers_->placer);
  if (!picked) return 0;
  for (std::size_t i : *picked) {
    Record& r = *mine[i];
    r.refused.erase(on);
    r.by_offer = on != d_.self;  // counted as an offload once chosen (a refusal re-places and clears it)
    reserve_at(r, on, now, wall_us);
  }
  return picked->size();
}

// Every scan: capacity freed here goes to this node's own waiting jobs
// first; what is still free is offered to the peers whose records show
// waiting jobs (WorkExchange rate-limits per peer).
void JobManager::exchange_work(Instant now, std::int64_t wall_us) {
  if (!offers_->exchange->enabled()) return;
  scheduler::FreeCapacity free = free_capacity();
  if (!free.any()) {
    freed_ = false;
    return;
  }
  auto self_member = d_.gossip->member(d_.self);
  const NodeRecord* self_record = self_member ? opened_record(d_.self, self_member->record) : nullptr;
  if (freed_ && self_record != nullptr && place_waiting(d_.self, *self_record, free, now, wall_us) > 0) {
    free = free_capacity();
  }
  freed_ = false;
  if (!free.any() || self_record == nullptr) return;
  NodeRecord self = *self_record;
  self.accelerators = free.accelerators;
  self.cpus = free.cpus;
  self.memory_bytes = free.memory_bytes;
  self.queue_length = 0;  // its own waiting jobs that fit were just placed; the others cannot use this capacity
  std::vector<scheduler::Candidate> peers;
  for (const auto& m : d_.gossip->members()) {
    if (m.is_self || m.state != gossip::MemberState::kAlive || !m.record) continue;
    const NodeRecord* opened = opened_record(m.id, m.record);
    if (opened == nullptr || opened->queue_length == 0) continue;
    peers.push_back({*opened, {}, 0});
  }
  for (const NodeId& to : offers_->exchange->offers_due(self, peers, now)) {
    JobMessage offer;
    offer.kind = JobMessageKind::kWorkOffer;
    offer.free_accelerators = free.accelerators;
    offer.free_cpus = free.cpus;
    offer.free_memory_bytes = free.memory_bytes;
    ++counters_.offers_sent;
    spdlog::debug("jobs: offering free capacity to {} (it has waiting jobs)", node_name(to));
    send(to, std::move(offer));
  }
}

// A peer says it has capacity free: place the oldest waiting jobs that fit
// on it now. What it claims is never believed beyond its gossiped totals,
// and its own reservation table refuses what it does not have; an offer
// can only make this node ask sooner.
void JobManager::on_work_offer(const NodeId& from, const JobMessage& m, Instant now, std::int64_t wall_us) {
  ++counters_.offers_received;
  std::optional<gossip::MemberInfo> member;
  if (from != d_.self) member = d_.gossip->member(from);
  const NodeRecord* record =
      member && member->state == gossip::MemberState::kAlive ? opened_record(from, member->record) : nullptr;
  if (record == nullptr || m.free_accelerators.size() > kWorkOfferAcceleratorsMax ||
      !offers_->exchange->accept_offer(from, now)) {
    ++counters_.offers_ignored;
    return;
  }
  scheduler::FreeCapacity free;
  for (const auto& offered : m.free_accelerators) {
    auto a = std::find_if(record->accelerators.begin(), record->accelerators.end(),
                          [&](const Accelerator& x) { return x.type == offered.type; });
    if (a == record->accelerators.end()) continue;
    free.accelerators.push_back({a->type, a->total, std::min(offered.free, a->total)});
  }
  free.cpus = std::min(m.free_cpus, record->cpus);
  free.memory_bytes = std::min(m.free_memory_bytes, record->memory_bytes);
  std::size_t placed = place_waiting(from, *record, free, now, wall_us);
  if (placed > 0) {
    spdlog::info("jobs: {} offered free capacity; placing {} waiting job(s) there", node_name(from), placed);
  }
}

// ---- chosen values and the executor --------------------------------------------

void JobManager::on_chosen(const consensus::ChosenEvent& chosen, Instant now, std::int64_t wall_us) {
  last_now_ = now;
  if (!chosen_allowed(chosen)) return;
  const JobId& job = chosen.key.job;
  std::uint32_t attempt = chosen.key.attempt.value;
  if (chosen.value.is_run()) touch_lease(job, attempt, now);
  if (auto it = jobs_.find(job); it != jobs_.end()) {
    Record& r = it->second;
    bool ours = r.phase == Record::Phase::kProposing && r.view.attempt == attempt;
    if (ours && chosen.value.is_run() && (chosen.value.executor != r.candidate || chosen.value.reservation != r.granted)) {
      release_granted(r, now, wall_us);  // another driver's proposal won: free our reservation
    }
    if (ours && chosen.value.is_run() && r.by_offer && chosen.value.executor == r.candidate) ++counters_.offloads;
    if (ours) {
      r.phase = Record::Phase::kIdle;
      counters_.decision_ms.observe(std::chrono::duration<double, std::milli>(now - r.proposed_at).count());
    }
    if (attempt > r.view.attempt) fence_local(r, attempt);
    if (attempt >= r.view.attempt && !job_state_is_final(r.view.state) &&
        !(attempt == r.view.attempt && state_rank(r.view.state) >= state_rank("placed"))) {
      r.view.attempt = attempt;
      if (chosen.value.is_run()) {
        r.view.state = "placed";
        r.view.executor = chosen.value.executor;
        r.view.executor_name = node_name(chosen.value.executor);
        r.view.message = "attempt " + std::to_string(attempt) + " placed on " + r.view.executor_name;
      } else {
        r.view.state = "cancelled";
        r.view.finished_at_us = wall_us;
        r.view.message = "cancelled before it ran";
      }
      r.view.updated_at_us = wall_us;
      persist(r);
      spdlog::info("job {}: {}", job.short_hex(), r.view.message);
    }
  }
  if (chosen.value.is_run() && chosen.value.executor == d_.self) start_attempt(chosen.key, chosen.value, now, wall_us);
}

void JobManager::start_attempt(const InstanceKey& key, const Value& value, Instant now, std::int64_t wall_us) {
  const JobId& job = key.job;
  std::uint32_t attempt = key.attempt.value;
  auto existing = jobs_.find(job);
  auto taken = exec_leases_.find(job);
  if ((taken != exec_leases_.end() && taken->second.attempt >= attempt) ||
      (existing != jobs_.end() && existing->second.view.executor == d_.self &&
       (existing->second.view.attempt > attempt ||
        (existing->second.view.attempt == attempt && state_rank(existing->second.view.state) >= state_rank("running"))))) {
    return;  // already taken up (a repeated announcement) or fenced off by a newer attempt
  }
  auto pending = pending_runs_.find(value.reservation);
  bool usable = pending != pending_runs_.end() && pending->second.job == job && pending->second.attempt == attempt;
  std::optional<scheduler::Reservation> confirmed;
  if (usable) {
    auto c = table_.confirm(scheduler::ReservationId{value.reservation}, now);
    if (c) confirmed = *c;
  }
  if (!confirmed) {
    // The reservation expired or died with a restart: this attempt cannot
    // run here. Tell the holders so the driver places the next one.
    const consensus::Instance* inst = d_.consensus->instance(key);
    if (!inst) return;
    JobView v;
    v.job_id = job;
    v.attempt = attempt;
    v.state = "lost";
    v.executor = d_.self;
    v.message = "attempt " + std::to_string(attempt) + " chosen for " + d_.config->name +
                " but its reservation had expired";
    v.updated_at_us = wall_us;
    spdlog::warn("job {}: {}", job.short_hex(), v.message);
    std::set<NodeId> to(inst->spec.replicas.begin(), inst->spec.replicas.end());
    to.insert(inst->spec.origin);
    to.erase(d_.self);
    JobMessage m;
    m.kind = JobMessageKind::kUpdate;
    m.job_id = job;
    m.attempt = attempt;
    m.jobs.push_back(v);
    for (const auto& id : to) send(id, m);
    apply_update(v, wall_us);
    if (usable) pending_runs_.erase(pending);
    return;
  }
  PendingRun run = std::move(pending->second);
  pending_runs_.erase(pending);
  Record& r = jobs_[job];
  if (r.view.attempt == 0 || existing == jobs_.end()) {
    r.spec = run.spec;
    r.origin = run.origin;
    r.replicas = run.replicas;
    r.view.job_id = job;
    r.view.name = run.spec.name;
    r.view.origin = run.origin;
    r.view.submitted_at_us = run.spec.submitted_at_us;
    r.view.command = run.spec.command;
  }
  r.view.attempt = attempt;
  r.view.executor = d_.self;
  r.view.executor_name = d_.config->name;
  r.view.gpu_slots = run.gpu_slots;
  r.view.updated_at_us = wall_us;
  r.reservation = value.reservation;
  capacity_changed_ = true;
  if (cancelled_.count(job) || r.cancel_requested) {
    r.view.state = "cancelled";
    r.view.finished_at_us = wall_us;
    r.view.message = "cancelled before it started";
    (void)table_.release(scheduler::ReservationId{value.reservation});
    persist(r);
    broadcast_update(r);
    return;
  }
  // Placed here; it starts once a majority of the replicas granted the lease.
  r.view.state = "placed";
  r.view.message = "attempt " + std::to_string(attempt) + " placed on " + d_.config->name + ", waiting for its lease";
  persist(r);
  ExecLease& lease = exec_leases_[job];
  lease = ExecLease{};
  lease.attempt = attempt;
  lease.requested_at = now;
  lease.gpu_slots = run.gpu_slots;
  // The first lease round leaves now, before the "placed" record is on
  // disk: the grants come back in a later turn, after this turn's write,
  // and launch() starts the process only once "placed" is durable. If this
  // node dies before that write, nothing ran here and the replicas' grant
  // lapses (lease_ms × 4/3) into the next attempt, as for any executor that
  // stops heartbeating.
  heartbeat({job}, now, wall_us, /*at_once=*/true);
}

// The lease holds: record the start durably, then (flush()) start the process.
void JobManager::launch(Record& r, ExecLease& lease, Instant now, std::int64_t wall_us) {
  lease.started = true;
  if (r.origin == d_.self && r.accepted_at.time_since_epoch().count() != 0) {
    counters_.submit_to_running_ms.observe(std::chrono::duration<double, std::milli>(now - r.accepted_at).count());
  }
  r.view.state = "running";
  r.view.started_at_us = wall_us;
  r.view.updated_at_us = wall_us;
  r.view.message = "running on " + d_.config->name + (lease.gpu_slots.empty() ? "" : " with GPUs " + lease.gpu_slots);
  // The durable "placed" record (executor: this node) already makes a
  // restart report the attempt lost and never run it again (restore()),
  // exactly as the "running" record would. So once "placed" is on disk the
  // process starts, and the holders hear "running", now rather than after
  // this turn's write and fsync: one turn less on every job's submit →
  // running. The "running" record goes with the next write, lazily (no
  // fsync of its own, persist_lazily()): until it is durable a restart
  // reports the attempt lost, as it would anyway.
  const bool placed_durable = dirty_.count(r.view.job_id) == 0 && written_.count(r.view.job_id) == 0;
  ExecRequest req{r.view.job_id, lease.attempt, r.spec, lease.gpu_slots, r.spec.max_run_time_s};
  if (!placed_durable) {
    persist(r);
    out_start_.push_back(std::move(req));
    broadcast_update(r);
    return;
  }
  persist_lazily(r);
  for (const auto& to : holders(r)) d_.send(to, update_message(r.view));
  start_process(req, Status::ok(), now, wall_us);
}

void JobManager::start_process(const ExecRequest& req, const Status& written, Instant now, std::int64_t wall_us) {
  auto it = jobs_.find(req.job);
  auto lease = exec_leases_.find(req.job);
  if (it == jobs_.end() || lease == exec_leases_.end() || lease->second.attempt != req.attempt ||
      it->second.view.attempt != req.attempt || it->second.view.state != "running") {
    return;  // stopped, superseded or cancelled since
  }
  if (it->second.cancel_requested) {
    // Cancelled between the lease and the start (the executor had no
    // process to stop then): never start it; it ends cancelled.
    ExecResult cancelled;
    cancelled.job = req.job;
    cancelled.attempt = req.attempt;
    cancelled.exit_code = 130;
    cancelled.cancelled = true;
    cancelled.reason = "cancelled before it started";
    on_exec_result(cancelled, wall_us);
    return;
  }
  Status started = written.is_ok() ? executor_.start(req, now)
                                   : Status(written.code(), "cannot record the start: " + written.message());
  if (!started.is_ok()) {
    ExecResult failed;
    failed.job = req.job;
    failed.attempt = req.attempt;
    failed.exit_code = 127;
    failed.reason = "could not start: " + started.message();
    on_exec_result(failed, wall_us);
    return;
  }
  ++counters_.attempts_started;
  spdlog::info("job {}: attempt {} started ({} {})", req.job.short_hex(), req.attempt, req.spec.command,
               req.gpu_slots.empty() ? "" : "CUDA_VISIBLE_DEVICES=" + req.gpu_slots);
}

void JobManager::on_exec_result(const ExecResult& res, std::int64_t wall_us) {
  bool lapsed = false;
  if (auto l = exec_leases_.find(res.job); l != exec_leases_.end() && l->second.attempt == res.attempt) {
    lapsed = l->second.lapsed;
    exec_leases_.erase(l);
  }
  auto it = jobs_.find(res.job);
  if (it == jobs_.end()) return;
  Record& r = it->second;
  (void)table_.release(scheduler::ReservationId{r.reservation});
  capacity_changed_ = true;
  freed_ = true;
  if (r.view.attempt != res.attempt) return;
  if (lapsed) {
    report_lost(r, "attempt " + std::to_string(res.attempt) + " on " + d_.config->name +
                       " was stopped: its lease lapsed (no majority of the replicas answered its heartbeats)",
                wall_us);
    return;
  }
  r.view.exit_code = res.exit_code;
  r.view.finished_at_us = wall_us;
  r.view.updated_at_us = wall_us;
  if (res.cancelled || r.cancel_requested) {
    r.view.state = "cancelled";
  } else if (res.exit_code == 0 && !res.timed_out) {
    r.view.state = "finished";
  } else {
    r.view.state = "failed";
  }
  char usage[96];
  std::snprintf(usage, sizeof usage, "; cpu %.2f s, max rss %lld KiB", res.cpu_s, static_cast<long long>(res.max_rss_kb));
  r.view.message = "attempt " + std::to_string(res.attempt) + " on " + d_.config->name + ": " + res.reason + usage;
  spdlog::info("job {}: {}", res.job.short_hex(), r.view.message);
  JobView v = r.view;
  persist(r);
  broadcast_update(r);
  // As a holder too: a failed attempt with retries left becomes the next one.
  if (v.state == "failed") {
    r.view.state = "running";  // let apply_update take the failure path
    apply_update(v, wall_us);
  }
}

// This node's attempt of `r` will not run (any more): tell every holder, and
// take the failover path here too (the next attempt, not counted as a failure).
void JobManager::report_lost(Record& r, const std::string& why, std::int64_t wall_us) {
  JobView v = r.view;
  v.state = "lost";
  v.message = why;
  v.updated_at_us = wall_us;
  spdlog::warn("job {}: {}", r.view.job_id.short_hex(), why);
  for (const auto& to : holders(r)) {
    JobMessage m;
    m.kind = JobMessageKind::kUpdate;
    m.job_id = r.view.job_id;
    m.attempt = v.attempt;
    m.jobs.push_back(v);
    send(to, std::move(m));
  }
  apply_update(v, wall_us);
}

// An attempt placed here that never started (its lease was not granted):
// give its capacity back and report it lost, so the next attempt is placed.
void JobManager::abandon_unstarted(Record& r, const std::string& why, std::int64_t wall_us) {
  (void)table_.release(scheduler::ReservationId{r.reservation});
  capacity_changed_ = true;
  freed_ = true;
  report_lost(r, "attempt " + std::to_string(r.view.attempt) + " was not started on " + d_.config->name + ": " + why,
              wall_us);
}

// ---- leases ----------------------------------------------------------------------

Duration JobManager::lease_duration() const { return std::chrono::milliseconds(d_.config->jobs_lease_ms); }

// A holder is asked to grant (or renew) the lease of `executor` on the
// attempt `v` names. kRefused means the attempt must stop (the job moved on
// here); kAbstained that this node cannot vote on it (it holds no record).
JobManager::LeaseAnswer JobManager::grant_lease(const NodeId& executor, const JobView& v, Instant now) {
  InstanceKey key{v.job_id, Attempt{v.attempt}};
  // Only a holder of the record grants: the grant is remembered across a
  // restart through the record's placed/running state (see restore()).
  auto it = jobs_.find(v.job_id);
  if (it == jobs_.end()) return LeaseAnswer::kAbstained;
  const Record& r = it->second;
  if (r.view.attempt > v.attempt) return LeaseAnswer::kRefused;  // this node moved on to a later attempt
  if (r.view.attempt == v.attempt && job_state_is_final(r.view.state) && !job_state_is_final(v.state)) {
    return LeaseAnswer::kRefused;  // the job ended (cancelled, say) while the executor thinks it runs
  }
  if (auto chosen = d_.consensus->chosen(key); chosen && (!chosen->is_run() || chosen->executor != executor)) {
    return LeaseAnswer::kRefused;  // not what was chosen for this attempt
  }
  // It took part in the next attempt's instance: granting now could let both run.
  if (d_.consensus->instance(InstanceKey{v.job_id, Attempt{v.attempt + 1}})) return LeaseAnswer::kRefused;
  Lease& l = leases_[v.job_id];
  if (l.attempt > v.attempt) return LeaseAnswer::kRefused;
  l.attempt = v.attempt;
  l.heard = now;
  l.open = !(job_state_is_final(v.state) || v.state == "failed" || v.state == "lost");
  return LeaseAnswer::kGranted;
}

// This node learned that `attempt` is placed: until it hears of it, it
// assumes the executor holds a lease from now.
void JobManager::touch_lease(const JobId& job, std::uint32_t attempt, Instant now) {
  Lease& l = leases_[job];
  if (l.attempt >= attempt) return;
  l = Lease{attempt, now, true};
}

void JobManager::close_lease(const JobId& job, std::uint32_t attempt) {
  if (auto it = leases_.find(job); it != leases_.end() && it->second.attempt == attempt) it->second.open = false;
}

bool JobManager::lease_fresh(const Record& r, Instant now) const {
  auto it = leases_.find(r.view.job_id);
  if (it == leases_.end() || it->second.attempt != r.view.attempt || !it->second.open) return false;
  return now < it->second.heard + lease_duration() + lease_duration() / 3;
}

bool JobManager::may_vote(const InstanceKey& key, Instant now) {
  auto it = leases_.find(key.job);
  if (it == leases_.end()) return true;
  const Lease& l = it->second;
  if (!l.open || key.attempt.value <= l.attempt || now >= l.heard + lease_duration() + lease_duration() / 3) return true;
  ++counters_.lease_votes_withheld;
  return false;
}

// One heartbeat round for `jobs` (attempts this node runs or is about to):
// one message per holder, listing the attempts it holds.
void JobManager::heartbeat(const std::vector<JobId>& jobs, Instant now, std::int64_t wall_us, bool at_once) {
  std::uint64_t round = next_round_++;
  rounds_[round] = now;
  while (!rounds_.empty() && rounds_.begin()->second + lease_duration() < now) rounds_.erase(rounds_.begin());
  std::map<NodeId, JobMessage> out;
  for (const auto& id : jobs) {
    auto it = jobs_.find(id);
    auto el = exec_leases_.find(id);
    if (it == jobs_.end() || el == exec_leases_.end()) continue;
    Record& r = it->second;
    for (const auto& to : holders(r)) {
      JobMessage& m = out[to];
      m.kind = JobMessageKind::kHeartbeat;
      m.request_id = round;
      m.jobs.push_back(r.view);
    }
    if (std::find(r.replicas.begin(), r.replicas.end(), d_.self) != r.replicas.end() &&
        grant_lease(d_.self, r.view, now) == LeaseAnswer::kGranted) {
      JobMessage self_ack;
      self_ack.request_id = round;
      JobView granted;
      granted.job_id = id;
      granted.attempt = el->second.attempt;
      granted.lease_granted = true;
      self_ack.jobs.push_back(granted);
      on_heartbeat_ack(d_.self, self_ack, now, wall_us);
    }
  }
  for (auto& [to, m] : out) {
    if (at_once) {
      d_.send(to, std::move(m));
    } else {
      send(to, std::move(m));
    }
  }
}

void JobManager::on_heartbeat(const NodeId& from, const JobMessage& m, Instant now, std::int64_t wall_us) {
  JobMessage ack;
  ack.kind = JobMessageKind::kHeartbeatAck;
  ack.request_id = m.request_id;
  for (const auto& v : m.jobs) {
    if (!v.executor || *v.executor != from) continue;  // an executor speaks only for its own attempts
    JobView a;
    a.job_id = v.job_id;
    a.attempt = v.attempt;
    LeaseAnswer answer = grant_lease(from, v, now);
    a.lease_granted = answer == LeaseAnswer::kGranted;
    if (answer == LeaseAnswer::kRefused) {
      a.state = "refused";
      ++counters_.lease_refusals;
    } else if (a.lease_granted && (v.state == "placed" || v.state == "running")) {
      // On disk before the ack leaves, or already (a "running" over this
      // attempt's durable "placed" goes lazily: a restart assumes the lease
      // on either); repairs a lost update.
      apply_update(v, wall_us);
    }
    ack.jobs.push_back(std::move(a));
  }
  if (!ack.jobs.empty()) send(from, std::move(ack));
}

void JobManager::on_heartbeat_ack(const NodeId& from, const JobMessage& m, Instant now, std::int64_t wall_us) {
  auto round = rounds_.find(m.request_id);
  if (round == rounds_.end()) return;  // older than a lease: it renews nothing
  for (const auto& v : m.jobs) {
    auto el = exec_leases_.find(v.job_id);
    auto it = jobs_.find(v.job_id);
    if (el == exec_leases_.end() || it == jobs_.end() || el->second.attempt != v.attempt || el->second.lapsed) continue;
    Record& r = it->second;
    ExecLease& lease = el->second;
    if (std::find(r.replicas.begin(), r.replicas.end(), from) == r.replicas.end()) continue;
    if (!v.lease_granted && v.state != "refused") continue;  // it abstained: it holds no record
    if (!v.lease_granted) {  // a replica moved on: this attempt must not run (on)
      spdlog::warn("job {}: {} refused the lease of attempt {}; stopping it", v.job_id.short_hex(), node_name(from),
                   v.attempt);
      lease.lapsed = true;
      if (lease.started) {
        executor_.kill(v.job_id, v.attempt);
      } else {
        exec_leases_.erase(el);
        abandon_unstarted(r, "a replica refused its lease (the job moved on)", wall_us);
      }
      continue;
    }
    auto& granted = lease.grants[m.request_id];
    granted.insert(from);
    if (granted.size() * 2 <= r.replicas.size()) continue;
    lease.until = std::max(lease.until, round->second + lease_duration());
    while (!lease.grants.empty() && lease.grants.begin()->first <= m.request_id) lease.grants.erase(lease.grants.begin());
    if (!lease.started) launch(r, lease, now, wall_us);
  }
}

// Executor side, every turn: kill attempts whose lease lapsed, give up on
// starts that got no lease, renew the others every lease/6.
void JobManager::check_exec_leases(Instant now, std::int64_t wall_us) {
  std::vector<JobId> renew;
  std::vector<JobId> unstarted_lapsed;
  for (auto& [id, lease] : exec_leases_) {
    if (lease.lapsed) continue;
    if (lease.started && now >= lease.until) {
      ++counters_.lease_lapses;
      lease.lapsed = true;
      spdlog::warn("job {}: the lease of attempt {} lapsed (no majority of replicas answered); killing it",
                   id.short_hex(), lease.attempt);
      executor_.kill(id, lease.attempt);
    } else if (!lease.started && now >= lease.requested_at + lease_duration()) {
      unstarted_lapsed.push_back(id);
    } else if (!(lease.started && lease.attempt == fault_no_renew_attempt_)) {
      renew.push_back(id);
    }
  }
  for (const auto& id : unstarted_lapsed) {
    exec_leases_.erase(id);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    abandon_unstarted(it->second, "no majority of the replicas granted its lease", wall_us);
  }
  if (renew.empty() || now - last_heartbeat_ < lease_duration() / 6) return;
  last_heartbeat_ = now;
  heartbeat(renew, now, wall_us);
}

void JobManager::apply_update(const JobView& v, std::int64_t wall_us) {
  auto it = jobs_.find(v.job_id);
  if (it == jobs_.end()) return;
  Record& r = it->second;
  if (v.attempt < r.view.attempt) {
    ++counters_.stale_updates_refused;
    spdlog::debug("job {}: refused an update of old attempt {} (now {})", v.job_id.short_hex(), v.attempt,
                  r.view.attempt);
    return;
  }
  if (v.attempt > r.view.attempt) fence_local(r, v.attempt);
  if (v.state == "lost" || v.state == "failed" || job_state_is_final(v.state)) {
    close_lease(v.job_id, v.attempt);  // that attempt ended: the next may be chosen at once
  } else if (v.state == "placed" || v.state == "running") {
    touch_lease(v.job_id, v.attempt, last_now_);
  }
  if (job_state_is_final(r.view.state)) return;
  bool changed = false;
  bool lazy = false;
  if (v.attempt == r.view.attempt && (v.state == "lost" || v.state == "failed")) {
    if (v.state == "failed" && !r.cancel_requested) {
      std::uint32_t failures = std::max(r.view.failures, v.failures) + 1;
      if (failures <= r.spec.max_retries) {
        r.view.failures = failures - 1;
        next_attempt(r, "attempt " + std::to_string(v.attempt) + " failed (" + v.message + "); retrying", wall_us, true);
      } else {
        r.view = v;
        r.view.failures = failures;
      }
    } else if (r.cancel_requested) {
      r.view = v;
      r.view.state = "cancelled";
    } else {
      next_attempt(r, v.message, wall_us, false);
    }
    changed = true;
  } else if (v.state != "lost" && job_view_newer(v, r.view)) {
    if (v.state == "running" && r.view.state != "running" && r.origin == d_.self &&
        r.accepted_at.time_since_epoch().count() != 0) {
      counters_.submit_to_running_ms.observe(
          std::chrono::duration<double, std::milli>(last_now_ - r.accepted_at).count());
    }
    // "running" over this attempt's "placed" or "running" needs no fsync
    // (persist_lazily); over anything else (a holder that never heard
    // "placed") it is written synced like every other change.
    lazy = v.state == "running" && v.attempt == r.view.attempt &&
           (r.view.state == "placed" || r.view.state == "running");
    std::uint32_t failures = std::max(r.view.failures, v.failures);
    r.view = v;
    r.view.failures = failures;
    if (r.view.state == "queued") {
      r.phase = Record::Phase::kIdle;
      r.retry_at = Instant();
    }
    changed = true;
  }
  if (!changed) return;
  if (lazy) {
    persist_lazily(r);
    return;
  }
  persist(r);
  if (job_state_is_final(r.view.state)) {
    spdlog::info("job {}: {} ({})", v.job_id.short_hex(), r.view.state, r.view.message);
  }
}

// A newer attempt of the job exists: an older one still running here is
// superseded (its executor was declared dead while it was alive). Stop it,
// so two attempts of a job do not keep running at once.
void JobManager::fence_local(const Record& r, std::uint32_t newer_attempt) {
  if (r.view.executor != d_.self || r.view.attempt >= newer_attempt) return;
  if (!executor_.running(r.view.job_id, r.view.attempt)) return;
  spdlog::warn("job {}: attempt {} is superseded by attempt {}; stopping it here", r.view.job_id.short_hex(),
               r.view.attempt, newer_attempt);
  executor_.kill(r.view.job_id, r.view.attempt);
}

// ---- time ----------------------------------------------------------------------

void JobManager::count_open(Record& r, bool forget) {
  const bool open = !forget && !job_state_is_final(r.view.state);
  const std::optional<NodeId> client = r.origin == d_.self ? std::optional<NodeId>(r.spec.submitter) : std::nullopt;
  if (r.counted_open && (!open || r.counted_origin != r.origin || r.counted_client != client)) {
    auto o = open_by_origin_.find(r.counted_origin);
    assert(o != open_by_origin_.end() && o->second > 0 && "quota: a counted record is in open_by_origin_");
    if (--o->second == 0) open_by_origin_.erase(o);
    if (r.counted_client) {
      auto c = open_by_client_.find(*r.counted_client);
      assert(c != open_by_client_.end() && c->second > 0 && "quota: a counted job is in open_by_client_");
      if (--c->second == 0) open_by_client_.erase(c);
    }
    r.counted_open = false;
  }
  if (open && !r.counted_open) {
    ++open_by_origin_[r.origin];
    if (client) ++open_by_client_[*client];
    r.counted_open = true;
    r.counted_origin = r.origin;
    r.counted_client = client;
  }
}

// Before the scan changes anything: the unfinished records are among the
// active ones, so this walk is what the quota checks used to do per call.
void JobManager::recount_open() {
  std::map<NodeId, std::uint64_t> by_origin, by_client;
  for (const auto& id : active_) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || job_state_is_final(it->second.view.state)) continue;
    const Record& r = it->second;
    ++by_origin[r.origin];
    if (r.origin == d_.self) ++by_client[r.spec.submitter];
  }
  if (by_origin == open_by_origin_ && by_client == open_by_client_) return;
  ++counters_.quota_count_repairs;
  spdlog::error("jobs: BUG: the quota counters drifted from the records ({} origin(s) counted, {} found); repaired",
                open_by_origin_.size(), by_origin.size());
  open_by_origin_.clear();
  open_by_client_.clear();
  for (auto& [id, r] : jobs_) {
    r.counted_open = false;
    if (active_.count(id)) count_open(r);
  }
}

void JobManager::tick(Instant now, std::int64_t wall_us) {
  for (const auto& expired : table_.tick(now)) {
    pending_runs_.erase(expired.id.value);
    capacity_changed_ = true;
    freed_ = true;
  }
  for (const auto& res : executor_.poll(now)) on_exec_result(res, wall_us);
  check_exec_leases(now, wall_us);
  std::vector<std::uint64_t> due;
  last_now_ = now;
  for (const auto& [id, p] : clients_) {
    if (now >= p.deadline) due.push_back(id);
  }
  for (auto id : due) complete(id);
  if (now - last_scan_ < kScanEvery) return;
  last_scan_ = now;
  for (auto it = leases_.begin(); it != leases_.end();) {  // a lapsed lease binds nothing any more
    it = now >= it->second.heard + 2 * lease_duration() ? leases_.erase(it) : std::next(it);
  }
  recount_open();
  std::uint32_t waiting_count = 0;
  Instant oldest_waiting = now;
  for (auto at = active_.begin(); at != active_.end();) {
    auto found = jobs_.find(*at);
    if (found == jobs_.end() || job_state_is_final(found->second.view.state)) {
      at = active_.erase(at);
      continue;
    }
    ++at;
    Record& r = found->second;
    bool driver = is_driver(r);
    if (r.phase == Record::Phase::kReserving && now >= r.phase_deadline) {
      r.refused.insert(r.candidate);
      r.phase = Record::Phase::kIdle;
    }
    if (r.phase == Record::Phase::kProposing && now >= r.phase_deadline) {
      r.phase = Record::Phase::kIdle;
      release_granted(r, now, wall_us);  // never hold capacity for a proposal that stalled
    }
    if (!driver) {
      poll_executor(r, now);
      continue;
    }
    if (waiting(r)) {
      ++waiting_count;
      oldest_waiting = std::min(oldest_waiting, r.waiting_since);
    }
    if (r.view.state == "queued" && r.phase == Record::Phase::kIdle && now >= r.retry_at) {
      if (r.cancel_requested) {
        propose(r, Value::cancel(r.replicas), now);
      } else {
        place(r, now, wall_us);
      }
    } else if ((r.view.state == "placed" || r.view.state == "running") && r.view.executor &&
               *r.view.executor != d_.self && !lease_fresh(r, now)) {
      // Its lease lapsed here: the executor stopped heartbeating (dead, cut
      // off or starved) and has stopped the attempt itself by now.
      next_attempt(r, "executor " + r.view.executor_name +
                          (member_alive(*r.view.executor) ? " stopped renewing its lease" : " is dead"),
                   wall_us, false);
      persist(r);
      broadcast_update(r);
    } else {
      poll_executor(r, now);
    }
  }
  if (waiting_count != waiting_count_) capacity_changed_ = true;  // republish the queue
  waiting_count_ = waiting_count;
  oldest_waiting_since_ = oldest_waiting;
  exchange_work(now, wall_us);
}

// A holder asks the executor of a placed or running attempt for its view
// now and then (request id 0: the answer is applied as an update), which
// repairs a lost update message.
void JobManager::poll_executor(Record& r, Instant now) {
  bool placed = r.view.state == "placed" || r.view.state == "running";
  if (!placed || !r.view.executor || *r.view.executor == d_.self || now - r.last_poll < kPollExecutorEvery) return;
  r.last_poll = now;
  JobMessage q;
  q.kind = JobMessageKind::kQuery;
  q.job_id = r.view.job_id;
  send(*r.view.executor, std::move(q));
}

std::optional<Instant> JobManager::next_wake() const {
  if (has_pending_output()) return last_now_;
  if (executor_.running_count() > 0 || !clients_.empty() || !exec_leases_.empty()) {
    return last_now_ + std::chrono::milliseconds(20);
  }
  if (!active_.empty()) return last_scan_ + kScanEvery;
  return table_.next_expiry();
}

}  // namespace polder::node
