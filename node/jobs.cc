#include "node/jobs.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
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

// The link view the cost model needs, from gossip: Vivaldi RTTs, bandwidth
// unmeasured (the model's default applies).
class GossipLinks final : public scheduler::LinkMetrics {
 public:
  explicit GossipLinks(const gossip::GossipCore& g) : g_(g) {}
  std::optional<double> bandwidth_bps(std::string_view, const NodeRecord&) const override { return std::nullopt; }
  std::optional<double> rtt_ms(const NodeRecord& to) const override {
    auto rtt = g_.estimated_rtt(to.node_id);
    if (!rtt) return std::nullopt;
    return std::chrono::duration<double, std::milli>(*rtt).count();
  }

 private:
  const gossip::GossipCore& g_;
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

JobManager::JobManager(JobManagerDeps deps, scheduler::ReservationTable table)
    : d_(std::move(deps)),
      table_(std::move(table)),
      executor_(d_.config->jobs_work_dir, d_.config->jobs_log_cap_bytes) {}

JobManager::~JobManager() = default;

Result<std::unique_ptr<JobManager>> JobManager::create(JobManagerDeps deps, Instant now, std::int64_t wall_us) {
  // Reservation ids start above anything handed out before a restart.
  auto table = scheduler::ReservationTable::create(capacity_of(*deps.config), {},
                                                   static_cast<std::uint64_t>(wall_us));
  if (!table) return Status(table.status().code(), "jobs: " + table.status().message());
  std::unique_ptr<JobManager> m(new JobManager(std::move(deps), std::move(*table)));
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

Status JobManager::persist(const Record& r) {
  auto bytes = encode_job_message(record_message(r));
  if (!bytes) return bytes.status();
  return d_.storage->put(Column::kJobs, key_of(r.view.job_id), *bytes, Durability::kSync);
}

Status JobManager::restore(Instant now, std::int64_t wall_us) {
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
    jobs_.emplace(r.view.job_id, std::move(r));
  }
  // Attempts this node was running died with the old process (PDEATHSIG):
  // say so, so the driver starts the next attempt; never run them again.
  for (const auto& id : lost) {
    Record& r = jobs_.at(id);
    JobView v = r.view;
    v.state = "lost";
    v.message = "attempt " + std::to_string(v.attempt) + " was running on " + node_name(d_.self) +
                " when that node restarted";
    v.updated_at_us = wall_us;
    spdlog::warn("job {}: {}", id.short_hex(), v.message);
    apply_update(v, wall_us);
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
    if (auto r = open_gossiped_record(m->record->bytes)) return r->name;
  }
  return id.short_hex();
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

void JobManager::broadcast_update(const Record& r) {
  for (const auto& to : holders(r)) {
    JobMessage m;
    m.kind = JobMessageKind::kUpdate;
    m.job_id = r.view.job_id;
    m.attempt = r.view.attempt;
    m.jobs.push_back(r.view);
    d_.send(to, std::move(m));
  }
}

std::uint32_t JobManager::queue_length() const {
  return static_cast<std::uint32_t>(executor_.running_count() + pending_runs_.size());
}

bool JobManager::take_capacity_changed() {
  bool changed = capacity_changed_;
  capacity_changed_ = false;
  return changed;
}

std::vector<JobView> JobManager::views() const {
  std::vector<JobView> out;
  out.reserve(jobs_.size());
  for (const auto& [id, r] : jobs_) out.push_back(r.view);
  std::sort(out.begin(), out.end(),
            [](const JobView& a, const JobView& b) { return a.submitted_at_us < b.submitted_at_us; });
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
        d_.reply(client, error_of(invalid_argument("cancel needs a job id")));
        return;
      }
      cancel_local(*request.job_id, now, wall_us);
      for (const auto& peer : alive_peers()) {
        JobMessage m;
        m.kind = JobMessageKind::kCancelJob;
        m.job_id = request.job_id;
        d_.send(peer, std::move(m));
      }
      request.kind = JobMessageKind::kStatus;
      fan_out(client, std::move(request), now);
      return;
    }
    case JobMessageKind::kStatus:
    case JobMessageKind::kLogs:
      if (!request.job_id) {
        d_.reply(client, error_of(invalid_argument("this request needs a job id")));
        return;
      }
      fan_out(client, std::move(request), now);
      return;
    case JobMessageKind::kList:
      fan_out(client, std::move(request), now);
      return;
    default:
      d_.reply(client, error_of(invalid_argument("not a client job request")));
  }
}

void JobManager::submit(const ClientRef& client, const NodeId& client_key, JobMessage request, Instant now,
                        std::int64_t wall_us) {
  if (!request.spec) {
    d_.reply(client, error_of(invalid_argument("submit needs a job spec")));
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
    if (!m.record) continue;
    if (auto r = open_gossiped_record(m.record->bytes)) federation.push_back(std::move(*r));
  }
  if (Status s = scheduler::validate_job_for_federation(spec, federation); !s.is_ok()) {
    ++counters_.refused;
    d_.reply(client, error_of(s));
    return;
  }
  auto spec_bytes = encode_job_spec(spec);
  if (!spec_bytes) {
    d_.reply(client, error_of(spec_bytes.status()));
    return;
  }
  JobId::Bytes hash{};
  crypto_generichash(hash.data(), hash.size(), spec_bytes->data(), spec_bytes->size(), nullptr, 0);
  JobId job = *JobId::from_bytes(hash);
  std::size_t count = std::min<std::size_t>(static_cast<std::size_t>(d_.config->jobs_replicas), members.size());
  auto replicas = consensus::rendezvous_replica_set(job, Attempt{1}, members, std::max<std::size_t>(count, 1));
  if (!replicas) {
    d_.reply(client, error_of(replicas.status()));
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
  // Durable before acknowledged: an acknowledged job is never lost.
  if (Status s = persist(r); !s.is_ok()) {
    d_.reply(client, error_of(Status(s.code(), "job not accepted: " + s.message())));
    return;
  }
  JobMessage reply;
  reply.kind = JobMessageKind::kReply;
  reply.job_id = job;
  reply.jobs.push_back(r.view);
  d_.reply(client, std::move(reply));
  ++counters_.submitted;
  spdlog::info("job {} ({}) submitted by {}: replicas {}", job.short_hex(), r.view.name,
               r.spec.submitter.short_hex(), r.replicas.size());
  JobMessage rep = record_message(r);
  for (const auto& id : r.replicas) {
    if (id != d_.self) d_.send(id, rep);
  }
  auto [it, inserted] = jobs_.emplace(job, std::move(r));
  if (inserted) place(it->second, now, wall_us);
}

void JobManager::fan_out(const ClientRef& client, JobMessage request, Instant now) {
  std::uint64_t id = next_request_id_++;
  PendingClient p;
  p.client = client;
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
    d_.send(peer, ask);
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
  JobMessage reply;
  reply.kind = JobMessageKind::kReply;
  reply.job_id = p.job;
  if (p.kind == JobMessageKind::kLogs) {
    if (!p.log_found) {
      d_.reply(p.client, error_of(not_found("no output of job " + p.job->short_hex() +
                                            " on any live node (not started yet, or unknown)")));
      return;
    }
    reply.attempt = p.log_reply.attempt;
    reply.data = std::move(p.log_reply.data);
    reply.offset = p.log_reply.offset;
    reply.done = p.log_reply.done;
    d_.reply(p.client, std::move(reply));
    return;
  }
  if (p.kind != JobMessageKind::kList && p.views.empty()) {
    d_.reply(p.client, error_of(not_found("job " + p.job->hex() + " is unknown to every live node")));
    return;
  }
  for (auto& [id, v] : p.views) {
    if (!p.state_filter.empty() && v.state != p.state_filter) continue;
    if (!p.node_filter.empty() && v.executor_name != p.node_filter &&
        !(v.executor && v.executor->hex().rfind(p.node_filter, 0) == 0)) {
      continue;
    }
    if (reply.jobs.size() >= kListMax) {
      reply.truncated = true;
      break;
    }
    reply.jobs.push_back(std::move(v));
  }
  std::sort(reply.jobs.begin(), reply.jobs.end(),
            [](const JobView& a, const JobView& b) { return a.submitted_at_us < b.submitted_at_us; });
  d_.reply(p.client, std::move(reply));
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
  if (Status s = persist(r); !s.is_ok()) spdlog::error("job {}: {}", job.short_hex(), s.to_string());
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
      }
      return;
    case JobMessageKind::kUpdate:
      for (const auto& v : m.jobs) apply_update(v, wall_us);
      return;
    case JobMessageKind::kQuery: on_query(from, m); return;
    case JobMessageKind::kQueryReply:
      if (m.request_id == 0) {  // the answer to a holder's poll of an executor
        for (const auto& v : m.jobs) apply_update(v, wall_us);
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
      if (m.job_id) cancel_local(*m.job_id, now, wall_us);
      return;
    default:
      spdlog::debug("ignored job message kind {} from {}", static_cast<int>(m.kind), from.short_hex());
  }
}

void JobManager::on_replicate(const NodeId& from, const JobMessage& m, std::int64_t wall_us) {
  if (!m.job_id || !m.spec || !m.origin || m.jobs.size() != 1 || *m.origin != from) return;
  if (std::find(m.replicas.begin(), m.replicas.end(), d_.self) == m.replicas.end()) return;
  if (jobs_.count(*m.job_id)) {
    apply_update(m.jobs[0], wall_us);
    return;
  }
  Record r;
  r.spec = *m.spec;
  r.origin = *m.origin;
  r.replicas = m.replicas;
  r.view = m.jobs[0];
  if (Status s = persist(r); !s.is_ok()) {
    spdlog::error("job {}: cannot store replica record: {}", m.job_id->short_hex(), s.to_string());
    return;
  }
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
  auto res = table_.grant(*m.job_id, Attempt{m.attempt}, m.spec->resources, now,
                          std::chrono::milliseconds(d_.config->jobs_reservation_ttl_ms));
  if (!res) {
    reply.message = res.status().message();
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
  d_.send(from, grant(from, m, now));
}

void JobManager::on_reserve_reply(const NodeId& from, const JobMessage& m, Instant now, std::int64_t wall_us) {
  if (!m.job_id) return;
  auto it = jobs_.find(*m.job_id);
  bool wanted = it != jobs_.end() && it->second.phase == Record::Phase::kReserving && it->second.candidate == from &&
                it->second.view.attempt == m.attempt && it->second.view.state == "queued";
  if (!wanted) {
    if (m.granted) {  // too late or not ours any more: give it back
      JobMessage rel;
      rel.kind = JobMessageKind::kRelease;
      rel.job_id = m.job_id;
      rel.reservation = m.reservation;
      d_.send(from, std::move(rel));
    }
    return;
  }
  Record& r = it->second;
  if (!m.granted) {
    ++counters_.reservations_refused;
    spdlog::debug("job {}: {} refused a reservation: {}", m.job_id->short_hex(), node_name(from), m.message);
    r.refused.insert(from);
    r.phase = Record::Phase::kIdle;
    place(r, now, wall_us);
    return;
  }
  ++counters_.reservations_granted;
  r.granted = m.reservation;
  r.view.gpu_slots = m.gpu_slots;
  spdlog::info("job {}: {} reserved attempt {} (GPUs \"{}\"); proposing it to the replicas", m.job_id->short_hex(),
               node_name(from), m.attempt, m.gpu_slots);
  propose(r, Value::run(from, m.reservation, r.replicas), now);
}

void JobManager::on_query(const NodeId& from, const JobMessage& m) {
  JobMessage reply;
  reply.kind = JobMessageKind::kQueryReply;
  reply.request_id = m.request_id;
  reply.job_id = m.job_id;
  if (m.job_id) {
    if (auto it = jobs_.find(*m.job_id); it != jobs_.end()) reply.jobs.push_back(it->second.view);
  } else {
    for (const auto& [id, r] : jobs_) {
      if (!m.state_filter.empty() && r.view.state != m.state_filter) continue;
      if (reply.jobs.size() >= kListMax) {
        reply.truncated = true;
        break;
      }
      reply.jobs.push_back(r.view);
    }
  }
  if (from == d_.self) {
    on_reply_for_client(from, reply);
  } else {
    d_.send(from, std::move(reply));
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
      }
    }
  }
  if (from == d_.self) {
    on_reply_for_client(from, reply);
  } else {
    d_.send(from, std::move(reply));
  }
}

// ---- driver ------------------------------------------------------------------

void JobManager::place(Record& r, Instant now, std::int64_t wall_us) {
  if (r.phase != Record::Phase::kIdle || r.view.state != "queued" || r.cancel_requested) return;
  GossipLinks links(*d_.gossip);
  auto model = scheduler::CostModel::create({}, links);
  if (!model) return;
  scheduler::Placer placer({.capacity_mode = scheduler::CapacityMode::kFree}, *model);
  std::vector<scheduler::Candidate> candidates;
  for (const auto& m : d_.gossip->members()) {
    if (!(m.state == gossip::MemberState::kAlive) || !m.record) continue;
    if (r.refused.count(m.id)) continue;
    auto rec = open_gossiped_record(m.record->bytes);
    if (!rec) continue;
    if (m.is_self) rec->accelerators = table_.accelerators();  // exact, not gossip-stale
    candidates.push_back({std::move(*rec), {}, 0});
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
    r.retry_at = now + kRetryWait;
    return;
  }
  ++counters_.placements;
  const auto& best = placement->ranked.front();
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
    d_.send(candidate, std::move(m));
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
  spdlog::warn("job {}: {}; attempt {} will be placed", r.view.job_id.short_hex(), why, r.view.attempt);
}

// ---- chosen values and the executor --------------------------------------------

void JobManager::on_chosen(const consensus::ChosenEvent& chosen, Instant now, std::int64_t wall_us) {
  last_now_ = now;
  const JobId& job = chosen.key.job;
  std::uint32_t attempt = chosen.key.attempt.value;
  if (auto it = jobs_.find(job); it != jobs_.end()) {
    Record& r = it->second;
    bool ours = r.phase == Record::Phase::kProposing && r.view.attempt == attempt;
    if (ours && chosen.value.is_run() && (chosen.value.executor != r.candidate || chosen.value.reservation != r.granted)) {
      JobMessage rel;  // another driver's proposal won: free our reservation
      rel.kind = JobMessageKind::kRelease;
      rel.job_id = job;
      rel.reservation = r.granted;
      if (r.candidate == d_.self) {
        on_peer(d_.self, rel, now, wall_us);
      } else {
        d_.send(r.candidate, std::move(rel));
      }
    }
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
      if (Status s = persist(r); !s.is_ok()) spdlog::error("job {}: {}", job.short_hex(), s.to_string());
      spdlog::info("job {}: {}", job.short_hex(), r.view.message);
    }
  }
  if (chosen.value.is_run() && chosen.value.executor == d_.self) start_attempt(chosen.key, chosen.value, now, wall_us);
}

void JobManager::start_attempt(const InstanceKey& key, const Value& value, Instant now, std::int64_t wall_us) {
  const JobId& job = key.job;
  std::uint32_t attempt = key.attempt.value;
  auto existing = jobs_.find(job);
  if (existing != jobs_.end() && existing->second.view.executor == d_.self &&
      (existing->second.view.attempt > attempt ||
       (existing->second.view.attempt == attempt && state_rank(existing->second.view.state) >= state_rank("running")))) {
    return;  // already started (a repeated announcement) or fenced off by a newer attempt
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
    for (const auto& id : to) d_.send(id, m);
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
  r.view.started_at_us = wall_us;
  r.view.updated_at_us = wall_us;
  r.reservation = value.reservation;
  bool cancelled = cancelled_.count(job) || r.cancel_requested;
  if (cancelled) {
    r.view.state = "cancelled";
    r.view.finished_at_us = wall_us;
    r.view.message = "cancelled before it started";
    (void)table_.release(scheduler::ReservationId{value.reservation});
  } else {
    if (r.origin == d_.self && r.accepted_at.time_since_epoch().count() != 0) {
      counters_.submit_to_running_ms.observe(std::chrono::duration<double, std::milli>(now - r.accepted_at).count());
    }
    r.view.state = "running";
    r.view.message = "running on " + d_.config->name + (run.gpu_slots.empty() ? "" : " with GPUs " + run.gpu_slots);
  }
  // Durable before the process starts: a restart never forgets it ran.
  if (Status s = persist(r); !s.is_ok()) {
    spdlog::error("job {}: cannot record the start: {}", job.short_hex(), s.to_string());
    (void)table_.release(scheduler::ReservationId{value.reservation});
    return;
  }
  if (!cancelled) {
    ExecRequest req{job, attempt, r.spec, run.gpu_slots, r.spec.max_run_time_s};
    if (Status s = executor_.start(req, now); !s.is_ok()) {
      ExecResult failed;
      failed.job = job;
      failed.attempt = attempt;
      failed.exit_code = 127;
      failed.reason = "could not start: " + s.message();
      on_exec_result(failed, wall_us);
      return;
    } else {
      ++counters_.attempts_started;
      spdlog::info("job {}: attempt {} started ({} {})", job.short_hex(), attempt, r.spec.command,
                   run.gpu_slots.empty() ? "" : "CUDA_VISIBLE_DEVICES=" + run.gpu_slots);
    }
  }
  capacity_changed_ = true;
  broadcast_update(r);
}

void JobManager::on_exec_result(const ExecResult& res, std::int64_t wall_us) {
  auto it = jobs_.find(res.job);
  if (it == jobs_.end()) return;
  Record& r = it->second;
  (void)table_.release(scheduler::ReservationId{r.reservation});
  capacity_changed_ = true;
  if (r.view.attempt != res.attempt) return;
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
  if (Status s = persist(r); !s.is_ok()) spdlog::error("job {}: {}", res.job.short_hex(), s.to_string());
  broadcast_update(r);
  // As a holder too: a failed attempt with retries left becomes the next one.
  if (v.state == "failed") {
    r.view.state = "running";  // let apply_update take the failure path
    apply_update(v, wall_us);
  }
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
  if (job_state_is_final(r.view.state)) return;
  bool changed = false;
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
  if (Status s = persist(r); !s.is_ok()) spdlog::error("job {}: {}", v.job_id.short_hex(), s.to_string());
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
  executor_.cancel(r.view.job_id, r.view.attempt, last_now_);
}

// ---- time ----------------------------------------------------------------------

void JobManager::tick(Instant now, std::int64_t wall_us) {
  for (const auto& expired : table_.tick(now)) {
    pending_runs_.erase(expired.id.value);
    capacity_changed_ = true;
  }
  for (const auto& res : executor_.poll(now)) on_exec_result(res, wall_us);
  std::vector<std::uint64_t> due;
  last_now_ = now;
  for (const auto& [id, p] : clients_) {
    if (now >= p.deadline) due.push_back(id);
  }
  for (auto id : due) complete(id);
  if (now - last_scan_ < kScanEvery) return;
  last_scan_ = now;
  for (auto& [id, r] : jobs_) {
    if (job_state_is_final(r.view.state)) continue;
    bool driver = is_driver(r);
    if (r.phase == Record::Phase::kReserving && now >= r.phase_deadline) {
      r.refused.insert(r.candidate);
      r.phase = Record::Phase::kIdle;
    }
    if (r.phase == Record::Phase::kProposing && now >= r.phase_deadline) r.phase = Record::Phase::kIdle;
    if (!driver) {
      poll_executor(r, now);
      continue;
    }
    if (r.view.state == "queued" && r.phase == Record::Phase::kIdle && now >= r.retry_at) {
      if (r.cancel_requested) {
        propose(r, Value::cancel(r.replicas), now);
      } else {
        place(r, now, wall_us);
      }
    } else if ((r.view.state == "placed" || r.view.state == "running") && r.view.executor &&
               !member_alive(*r.view.executor)) {
      next_attempt(r, "executor " + r.view.executor_name + " is dead", wall_us, false);
      if (Status s = persist(r); !s.is_ok()) spdlog::error("job {}: {}", id.short_hex(), s.to_string());
      broadcast_update(r);
    } else {
      poll_executor(r, now);
    }
  }
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
  d_.send(*r.view.executor, std::move(q));
}

std::optional<Instant> JobManager::next_wake() const {
  if (executor_.running_count() > 0 || !clients_.empty()) return last_now_ + std::chrono::milliseconds(20);
  for (const auto& [id, r] : jobs_) {
    if (!job_state_is_final(r.view.state)) return last_scan_ + kScanEvery;
  }
  return table_.next_expiry();
}

}  // namespace polder::node
