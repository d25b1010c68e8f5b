#include "sim/sched_sim.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <chrono>
#include <ctime>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/rng.h"
#include "scheduler/cost_model.h"
#include "scheduler/link_metrics.h"
#include "scheduler/offload.h"
#include "scheduler/placement.h"
#include "scheduler/reservations.h"
#include "sim/event_queue.h"

namespace polder::sim {

const char* sched_policy_name(SchedPolicy policy) {
  switch (policy) {
    case SchedPolicy::kPolder: return "polder";
    case SchedPolicy::kLeastLoaded: return "least-loaded";
    case SchedPolicy::kRandom: return "random";
    case SchedPolicy::kIdeal: return "ideal";
  }
  return "unknown";
}

Result<SchedPolicy> parse_sched_policy(std::string_view name) {
  for (SchedPolicy p : kSchedPolicies) {
    if (name == sched_policy_name(p)) return p;
  }
  return invalid_argument("unknown policy '" + std::string(name) + "': use polder, least-loaded, random or ideal");
}

namespace {

constexpr std::size_t kTopKMax = 8;
constexpr const char* kGpuType = "gpu";

bool positive(double v) { return std::isfinite(v) && v > 0; }

}  // namespace

Status validate_sched_sim_options(const SchedSimOptions& o) {
  if (!positive(o.gossip_period_s) || !(o.gossip_delay_s >= 0) || !positive(o.exchange_period_s)) {
    return invalid_argument("gossip period and exchange period must be > 0, gossip delay >= 0");
  }
  if (o.top_k == 0 || o.top_k > kTopKMax) return invalid_argument("top_k must be in [1, 8]");
  if (!positive(o.reservation_ttl_s) || o.reservation_ttl_s > 300) return invalid_argument("reservation ttl must be in (0, 300] s");
  if (o.backfill_depth == 0 || o.offload_window == 0) return invalid_argument("backfill depth and offload window must be >= 1");
  return Status::ok();
}

namespace {

using scheduler::Candidate;
using scheduler::CapacityMode;
using scheduler::CostModel;
using scheduler::OffloadPolicy;
using scheduler::Placer;
using scheduler::PlacerConfig;
using scheduler::QueuedJob;
using scheduler::ReservationId;
using scheduler::ReservationTable;

std::int64_t to_us_rounded(double s) { return static_cast<std::int64_t>(std::llround(s * 1e6)); }

// Ids carry their index in the first four bytes: the simulator maps a
// ranked NodeId back to its site without a lookup table.
template <typename Id>
Id index_id(std::uint32_t index, std::uint8_t tag) {
  typename Id::Bytes b{};
  for (int i = 0; i < 4; ++i) b[i] = static_cast<std::uint8_t>(index >> (8 * i));
  b[31] = tag;
  return Id(b);
}

template <typename Id>
std::uint32_t id_index(const Id& id) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{id.bytes()[i]} << (8 * i);
  return v;
}

// The network as the cost model sees it, from one proposer at a time (the
// simulator is single-threaded; set_origin before each ranking).
class SimLinks final : public scheduler::LinkMetrics {
 public:
  static constexpr std::uint32_t kCentral = std::numeric_limits<std::uint32_t>::max();

  explicit SimLinks(const SchedWorkload& w) : w_(&w) {
    for (std::uint32_t i = 0; i < w.sites.size(); ++i) index_.emplace(w.sites[i].name, i);
  }
  void set_origin(std::uint32_t origin) { origin_ = origin; }

  std::optional<double> bandwidth_bps(std::string_view from_site, const NodeRecord& to) const override {
    auto it = index_.find(from_site);
    if (it == index_.end()) return std::nullopt;
    return w_->link(it->second, id_index(to.node_id)).bandwidth_bps;
  }
  // A central scheduler, or the proposer itself, is a microsecond away: the
  // cost model treats 0 as "unmeasured".
  std::optional<double> rtt_ms(const NodeRecord& to) const override {
    const std::uint32_t to_index = id_index(to.node_id);
    if (origin_ == kCentral || origin_ == to_index) return 1e-3;
    return w_->link(origin_, to_index).rtt_ms;
  }

 private:
  const SchedWorkload* w_;
  std::uint32_t origin_ = kCentral;
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Lookups only, never iterated (STYLE.md habit 16); transparent, so a
  // lookup by string_view builds no string.
  std::unordered_map<std::string, std::uint32_t, NameHash, std::equal_to<>> index_;
};

enum Kind : std::uint32_t {
  kArrive,
  kReserveAsk,    // node: asked site, from: job
  kReserveReply,  // node: answering site, from: job
  kDecide,        // node: executor, from: job
  kRelease,       // node: site holding an unused grant, from: job
  kReady,         // node: site where an input finished arriving
  kFinish,        // node: site, from: job
  kGossip,
  kExchange,      // node: site
  kAskWork,       // node: busy peer, from: idle asker
  kMoveArrive,    // node: new executor, from: job
};

enum class Phase : std::uint8_t { kPending, kQueued, kMoving, kRunning, kDone };

struct Reply {
  std::uint32_t site = 0;
  bool granted = false;
  double wait_s = 0;
};

struct JobState {
  Phase phase = Phase::kPending;
  Attempt attempt{0};
  std::uint32_t site = 0;
  std::int64_t ready_us = 0;  // input present at `site` (on the event clock's grid)
  double start_s = -1;  // computation starts
  double finish_s = -1;
  double transfer_s = 0;
  std::uint32_t starts = 0;
  std::optional<Instant> last_moved_at;
  ReservationId allocation;
  std::uint8_t asks = 0, replies = 0;
  std::array<Reply, kTopKMax> reply{};
};

// What a gossip record says about a site.
struct SiteView {
  std::uint32_t free_gpus = 0;
  std::uint32_t queue_length = 0;
  double wait_s = 0;  // fluid estimate for a job that does not fit the free GPUs
};

struct SiteState {
  explicit SiteState(ReservationTable t) : table(std::move(t)) {}
  ReservationTable table;
  std::uint32_t gpus = 0;
  std::uint32_t free_gpus = 0;
  std::vector<std::uint32_t> queue;    // FIFO of assigned jobs not started
  std::vector<std::uint32_t> running;  // jobs holding an allocation here
  std::map<std::uint32_t, ReservationId> grants;  // job -> reservation not yet confirmed
  double sum_gpu_finish_s = 0;  // sum over running of gpus * finish_s
  double gpus_running = 0;
  double queued_gpu_s = 0;      // sum over queue of gpus * run_s
  std::uint32_t queued_gpus = 0;
  SiteView ask_record;          // what this site said about itself when it last asked for work
};

class Timer {
 public:
  explicit Timer(double& total_s) : total_s_(&total_s), start_(std::chrono::steady_clock::now()) {}
  ~Timer() { *total_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

 private:
  double* total_s_;
  std::chrono::steady_clock::time_point start_;
};

class SchedSim {
 public:
  SchedSim(const SchedWorkload& w, SchedPolicy policy, const SchedSimOptions& o, std::uint64_t seed);
  SchedResult run();

 private:
  double now_s() const { return static_cast<double>(events_.now_us()) / 1e6; }
  Instant now() const { return instant_from_us(events_.now_us()); }
  void push(double at_s, Kind kind, std::uint32_t node, std::uint32_t from = 0);
  void handle(const Event& e);
  bool all_done() const { return finished_ == w_.jobs.size(); }

  // Executors.
  double transfer_s(std::uint32_t job, std::uint32_t site) const;
  double running_remaining_gpu_s(const SiteState& s) const;
  double exact_wait_s(std::uint32_t site, std::uint32_t gpus) const;
  SiteView exact_view(std::uint32_t site) const;
  void assign(std::uint32_t job, std::uint32_t site);
  void dispatch(std::uint32_t site);
  void begin_allocation(std::uint32_t job, std::uint32_t site, ReservationId id, double run_start_s);
  void start_now(std::uint32_t job, std::uint32_t site);
  void finish(std::uint32_t job, std::uint32_t site);
  void refresh_free(std::uint32_t site);
  void adjust_free(std::uint32_t site, std::int64_t delta_gpus);
  void change_queued(SiteState& s, std::int64_t delta_gpus);
  void integrate_allocation();

  // Policies.
  void arrive(std::uint32_t job);
  void place_least_loaded(std::uint32_t job);
  void place_random(std::uint32_t job);
  void place_ideal(std::uint32_t job);
  void propose(std::uint32_t job);
  void reserve_ask(std::uint32_t job, std::uint32_t site);
  void reserve_reply(std::uint32_t job);
  void decide(std::uint32_t job, std::uint32_t site);
  void release(std::uint32_t job, std::uint32_t site);

  // Gossip views and work exchange.
  void gossip();
  const std::vector<SiteView>& view();
  void fill_candidates(const std::vector<SiteView>& view, std::uint32_t gpus, std::vector<Candidate>& out) const;
  void exchange(std::uint32_t site);
  void ask_work(std::uint32_t peer, std::uint32_t asker);
  void offload_from(std::uint32_t site, std::span<const Candidate> peers, bool instant);
  void pull_instant(std::uint32_t site);
  void move(std::uint32_t job, std::uint32_t from, std::uint32_t to, bool instant);
  NodeRecord self_record(std::uint32_t site) const;

  SchedResult collect();

  const SchedWorkload& w_;
  SchedPolicy policy_;
  SchedSimOptions o_;
  Rng rng_;
  EventQueue events_;
  SimLinks links_;
  CostModel model_;
  Placer placer_;          // capacity by total: the queue term prices waiting
  Placer offload_placer_;  // capacity by free: a move goes where the job can start
  OffloadPolicy offload_;
  std::vector<JobSpec> specs_;
  std::vector<JobState> jobs_;
  std::vector<SiteState> sites_;
  std::vector<Candidate> candidates_;  // one per site, reused for every ranking
  std::vector<Candidate> answered_;    // the sites that answered a reservation ask
  std::deque<std::pair<double, std::vector<SiteView>>> snapshots_;  // bounded: delay / period + 2
  std::vector<QueuedJob> queued_scratch_;
  std::vector<std::string> operators_;
  std::uint64_t finished_ = 0;
  double alloc_gpus_ = 0, alloc_area_gpu_s_ = 0, alloc_last_s_ = 0;
  double saturated_s_ = 0, saturated_area_gpu_s_ = 0;
  std::int64_t free_gpus_total_ = 0, queued_gpus_total_ = 0;
  SchedResult r_;
};

CostModel make_model(const scheduler::LinkMetrics& links) {
  auto model = CostModel::create(scheduler::CostModelConfig{}, links);
  assert(model.is_ok() && "default cost model config is valid");
  return *model;
}

OffloadPolicy make_offload(const Placer& placer) {
  auto policy = OffloadPolicy::create(scheduler::OffloadConfig{}, placer);
  assert(policy.is_ok() && "default offload config is valid");
  return *policy;
}

SchedSim::SchedSim(const SchedWorkload& w, SchedPolicy policy, const SchedSimOptions& o, std::uint64_t seed)
    : w_(w),
      policy_(policy),
      o_(o),
      rng_(seed ^ 0x7363686564000000ULL),
      links_(w),
      model_(make_model(links_)),
      placer_(PlacerConfig{CapacityMode::kTotal, false, 64}, model_),
      offload_placer_(PlacerConfig{CapacityMode::kFree, false, 64}, model_),
      offload_(make_offload(offload_placer_)) {
  const auto n = static_cast<std::uint32_t>(w.sites.size());
  for (std::uint32_t i = 0; i < n; ++i) {
    scheduler::Capacity capacity;
    capacity.gpu_slot_types.assign(w.sites[i].gpus, kGpuType);
    scheduler::TableLimits limits;
    limits.entries_max = 1u << 20;  // a site may hold many queued grants under heavy load
    auto table = ReservationTable::create(std::move(capacity), limits);
    assert(table.is_ok() && "validated site sizes make valid tables");
    SiteState s(std::move(*table));
    s.gpus = s.free_gpus = w.sites[i].gpus;
    free_gpus_total_ += s.gpus;
    sites_.push_back(std::move(s));
    operators_.push_back("op-" + std::to_string(i));
    Candidate c;
    c.record.node_id = index_id<NodeId>(i, 0xa5);
    c.record.name = w.sites[i].name;
    c.record.operator_name = operators_.back();
    c.record.region = "region";
    c.record.accelerators = {Accelerator{kGpuType, w.sites[i].gpus, w.sites[i].gpus}};
    candidates_.push_back(std::move(c));
  }
  specs_.reserve(w.jobs.size());
  for (const auto& j : w.jobs) {
    JobSpec spec;
    spec.resources = Resources{j.gpus, kGpuType, 0, 0};
    spec.inputs = {DataInput{"in-" + std::to_string(j.id), w.sites[j.input_site].name, j.input_bytes}};
    spec.max_run_time_s = static_cast<std::uint64_t>(std::ceil(j.run_s));
    specs_.push_back(std::move(spec));
  }
  jobs_.resize(w.jobs.size());
  r_.policy = policy;
  r_.jobs = w.jobs.size();
}

void SchedSim::push(double at_s, Kind kind, std::uint32_t node, std::uint32_t from) {
  Event e;
  e.time_us = std::max(events_.now_us(), to_us_rounded(at_s));
  e.node = node;
  e.from = from;
  e.payload = kind;
  e.kind = EventKind::kTick;
  events_.push(e);
}

SchedResult SchedSim::run() {
  const auto wall_start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  if (policy_ == SchedPolicy::kPolder) {
    push(0, kGossip, 0);  // first: a view exists before the first arrival
    if (o_.work_exchange) {
      for (std::uint32_t s = 0; s < sites_.size(); ++s) push(o_.exchange_period_s * (s + 1) / sites_.size(), kExchange, s);
    }
  }
  push(w_.jobs.front().arrival_s, kArrive, 0, 0);
  while (!events_.empty() && r_.events < o_.events_max) {  // bounded: events_max
    const Event e = events_.pop();
    ++r_.events;
    integrate_allocation();
    handle(e);
  }
  r_.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  r_.cpu_s = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  return collect();
}

void SchedSim::handle(const Event& e) {
  switch (static_cast<Kind>(e.payload)) {
    case kArrive: return arrive(e.from);
    case kReserveAsk: return reserve_ask(e.from, e.node);
    case kReserveReply: return reserve_reply(e.from);
    case kDecide: return decide(e.from, e.node);
    case kRelease: return release(e.from, e.node);
    case kReady: return dispatch(e.node);
    case kFinish: return finish(e.from, e.node);
    case kGossip: return gossip();
    case kExchange: return exchange(e.node);
    case kAskWork: return ask_work(e.node, e.from);
    case kMoveArrive: return assign(e.from, e.node);
  }
  assert(false && "every event kind is handled");
}

// ---- executors ----

double SchedSim::transfer_s(std::uint32_t job, std::uint32_t site) const {
  const SchedJob& j = w_.jobs[job];
  if (j.input_site == site) return 0;
  return static_cast<double>(j.input_bytes) * 8.0 / w_.link(j.input_site, site).bandwidth_bps;
}

double SchedSim::running_remaining_gpu_s(const SiteState& s) const {
  return std::max(0.0, s.sum_gpu_finish_s - now_s() * s.gpus_running);
}

// The site's own estimate, what it would gossip: nothing if the job fits
// the free GPUs (backfill starts it), else the fluid time for the work
// running and queued here to drain.
double SchedSim::exact_wait_s(std::uint32_t site, std::uint32_t gpus) const {
  const SiteState& s = sites_[site];
  if (s.free_gpus >= gpus) return 0;
  return (running_remaining_gpu_s(s) + s.queued_gpu_s) / s.gpus;
}

SiteView SchedSim::exact_view(std::uint32_t site) const {
  const SiteState& s = sites_[site];
  return SiteView{s.free_gpus, static_cast<std::uint32_t>(s.queue.size()),
                  (running_remaining_gpu_s(s) + s.queued_gpu_s) / s.gpus};
}

void SchedSim::assign(std::uint32_t job, std::uint32_t site) {
  JobState& js = jobs_[job];
  assert((js.phase == Phase::kPending || js.phase == Phase::kMoving) && "a job is assigned once per attempt");
  const SchedJob& j = w_.jobs[job];
  js.phase = Phase::kQueued;
  js.site = site;
  js.transfer_s = transfer_s(job, site);
  js.ready_us = events_.now_us() + to_us_rounded(js.transfer_s);
  if (j.input_site != site) r_.bytes_moved += j.input_bytes;
  SiteState& s = sites_[site];
  s.queue.push_back(job);
  s.queued_gpu_s += j.gpus * j.run_s;
  change_queued(s, j.gpus);
  if (js.ready_us > events_.now_us()) {
    Event e;
    e.time_us = js.ready_us;
    e.node = site;
    e.payload = kReady;
    events_.push(e);
  }
  dispatch(site);
}

// First-fit backfill in queue order over at most backfill_depth entries.
void SchedSim::dispatch(std::uint32_t site) {
  SiteState& s = sites_[site];
  std::size_t write = 0;
  const std::int64_t now_us = events_.now_us();
  for (std::size_t read = 0; read < s.queue.size(); ++read) {
    const std::uint32_t job = s.queue[read];
    const bool fits = read < o_.backfill_depth && s.free_gpus >= w_.jobs[job].gpus && jobs_[job].ready_us <= now_us;
    if (!fits) {
      s.queue[write++] = job;
      continue;
    }
    s.queued_gpu_s -= w_.jobs[job].gpus * w_.jobs[job].run_s;
    change_queued(s, -static_cast<std::int64_t>(w_.jobs[job].gpus));
    start_now(job, site);
  }
  s.queue.resize(write);
  if (s.queue.empty()) s.queued_gpu_s = 0;  // no drift from float sums
}

void SchedSim::start_now(std::uint32_t job, std::uint32_t site) {
  SiteState& s = sites_[site];
  auto grant = s.table.grant(index_id<JobId>(job, 0x5c), jobs_[job].attempt, specs_[job].resources, now(),
                             Duration(to_us_rounded(o_.reservation_ttl_s)));
  assert(grant.is_ok() && "dispatch starts only jobs that fit the free GPUs");
  auto confirmed = s.table.confirm(grant->id, now());
  assert(confirmed.is_ok() && "a fresh grant confirms");
  (void)confirmed;
  adjust_free(site, -static_cast<std::int64_t>(w_.jobs[job].gpus));
  begin_allocation(job, site, grant->id, now_s());
}

// The checker of invariant 3: sums the GPUs of every job running here,
// independently of the table, at every start.
void SchedSim::begin_allocation(std::uint32_t job, std::uint32_t site, ReservationId id, double run_start_s) {
  SiteState& s = sites_[site];
  JobState& js = jobs_[job];
  const SchedJob& j = w_.jobs[job];
  js.phase = Phase::kRunning;
  js.allocation = id;
  js.start_s = run_start_s;
  js.finish_s = run_start_s + j.run_s;
  if (++js.starts > 1) ++r_.duplicate_runs;
  s.running.push_back(job);
  std::uint64_t held = 0;
  for (std::uint32_t other : s.running) held += w_.jobs[other].gpus;
  if (held > s.gpus) ++r_.overcommit;
  if (!s.table.check_invariants().is_ok()) ++r_.invariant_failures;
  if (s.free_gpus != s.table.free_gpus(kGpuType)) ++r_.invariant_failures;  // the counter tracks the table
  s.sum_gpu_finish_s += j.gpus * js.finish_s;
  s.gpus_running += j.gpus;
  alloc_gpus_ += j.gpus;
  push(js.finish_s, kFinish, site, job);
}

void SchedSim::finish(std::uint32_t job, std::uint32_t site) {
  SiteState& s = sites_[site];
  JobState& js = jobs_[job];
  const SchedJob& j = w_.jobs[job];
  assert(js.phase == Phase::kRunning && js.site == site && "only a running job finishes");
  Status released = s.table.release(js.allocation);
  assert(released.is_ok() && "a running job holds its allocation");
  (void)released;
  js.phase = Phase::kDone;
  ++finished_;
  auto it = std::find(s.running.begin(), s.running.end(), job);
  *it = s.running.back();
  s.running.pop_back();
  s.sum_gpu_finish_s -= j.gpus * js.finish_s;
  s.gpus_running -= j.gpus;
  if (s.running.empty()) s.sum_gpu_finish_s = s.gpus_running = 0;
  alloc_gpus_ -= j.gpus;
  adjust_free(site, j.gpus);
  dispatch(site);
  if (policy_ == SchedPolicy::kIdeal && o_.work_exchange) pull_instant(site);
}

// Hot paths (a grant, a finish) count the change: the table's own count
// scans every GPU slot. begin_allocation() checks the two agree.
void SchedSim::adjust_free(std::uint32_t site, std::int64_t delta_gpus) {
  SiteState& s = sites_[site];
  assert(static_cast<std::int64_t>(s.free_gpus) + delta_gpus >= 0 && "free GPUs never go negative");
  s.free_gpus = static_cast<std::uint32_t>(static_cast<std::int64_t>(s.free_gpus) + delta_gpus);
  free_gpus_total_ += delta_gpus;
}

// Rare paths (an unused grant released, an expired one) read the table.
void SchedSim::refresh_free(std::uint32_t site) {
  SiteState& s = sites_[site];
  const std::uint32_t free_gpus = s.table.free_gpus(kGpuType);
  free_gpus_total_ += static_cast<std::int64_t>(free_gpus) - static_cast<std::int64_t>(s.free_gpus);
  s.free_gpus = free_gpus;
}

void SchedSim::change_queued(SiteState& s, std::int64_t delta_gpus) {
  s.queued_gpus = static_cast<std::uint32_t>(static_cast<std::int64_t>(s.queued_gpus) + delta_gpus);
  queued_gpus_total_ += delta_gpus;
}

// Called before each event: the state is constant between events, so the
// integral is exact. Allocation counts over [first arrival, last arrival],
// the window in which work keeps coming (the drain at the end does not
// count); "saturated" is the part of it in which the GPUs asked for by
// queued jobs are at least the free GPUs, so a scheduler that moved work
// perfectly would leave none idle.
void SchedSim::integrate_allocation() {
  const double from = std::max(alloc_last_s_, w_.jobs.front().arrival_s);
  const double to = std::min(now_s(), w_.jobs.back().arrival_s);
  alloc_last_s_ = now_s();
  if (to <= from) return;
  alloc_area_gpu_s_ += alloc_gpus_ * (to - from);
  if (queued_gpus_total_ >= free_gpus_total_) {
    saturated_s_ += to - from;
    saturated_area_gpu_s_ += alloc_gpus_ * (to - from);
  }
}

// ---- policies ----

void SchedSim::arrive(std::uint32_t job) {
  if (job + 1 < w_.jobs.size()) push(w_.jobs[job + 1].arrival_s, kArrive, 0, job + 1);
  ++r_.placements;
  switch (policy_) {
    case SchedPolicy::kLeastLoaded: return place_least_loaded(job);
    case SchedPolicy::kRandom: return place_random(job);
    case SchedPolicy::kIdeal: return place_ideal(job);
    case SchedPolicy::kPolder: return propose(job);
  }
}

void SchedSim::place_least_loaded(std::uint32_t job) {
  std::uint32_t best = 0;
  double best_load = std::numeric_limits<double>::infinity();
  {
    Timer timer(r_.placement_wall_s);
    for (std::uint32_t i = 0; i < sites_.size(); ++i) {
      const SiteState& s = sites_[i];
      if (s.gpus < w_.jobs[job].gpus) continue;
      const double load = static_cast<double>(s.gpus - s.free_gpus + s.queued_gpus) / s.gpus;
      if (load < best_load) best_load = load, best = i;
    }
  }
  assert(std::isfinite(best_load) && "every job fits some site");
  assign(job, best);
}

void SchedSim::place_random(std::uint32_t job) {
  std::uint32_t chosen = 0;
  {
    Timer timer(r_.placement_wall_s);
    std::uint32_t feasible = 0;
    for (const auto& s : sites_) feasible += s.gpus >= w_.jobs[job].gpus;
    std::uint64_t pick = rng_.uniform(feasible);
    for (std::uint32_t i = 0; i < sites_.size(); ++i) {
      if (sites_[i].gpus < w_.jobs[job].gpus) continue;
      if (pick-- == 0) {
        chosen = i;
        break;
      }
    }
  }
  assign(job, chosen);
}

void SchedSim::fill_candidates(const std::vector<SiteView>& view, std::uint32_t gpus, std::vector<Candidate>& out) const {
  for (std::uint32_t i = 0; i < view.size(); ++i) {
    NodeRecord& r = out[i].record;
    r.accelerators[0].free = view[i].free_gpus;
    r.queue_length = view[i].queue_length;
    const double wait_s = view[i].free_gpus >= gpus ? 0.0 : view[i].wait_s;
    r.expected_wait_ms = static_cast<std::uint64_t>(std::llround(wait_s * 1000));
  }
}

void SchedSim::place_ideal(std::uint32_t job) {
  std::uint32_t best = 0;
  {
    Timer timer(r_.placement_wall_s);
    std::vector<SiteView> exact;
    for (std::uint32_t i = 0; i < sites_.size(); ++i) exact.push_back(exact_view(i));
    fill_candidates(exact, w_.jobs[job].gpus, candidates_);
    links_.set_origin(SimLinks::kCentral);
    auto placement = placer_.rank(
        scheduler::PlacementRequest{index_id<JobId>(job, 0x5c), &specs_[job], "central", 1, w_.jobs[job].run_s},
        candidates_);
    assert(placement.is_ok() && !placement->ranked.empty() && "every job fits some site");
    best = id_index(placement->ranked.front().node);
  }
  assign(job, best);
}

// The proposer at the origin ranks on its stale view and asks the best few.
void SchedSim::propose(std::uint32_t job) {
  const SchedJob& j = w_.jobs[job];
  JobState& js = jobs_[job];
  {
    Timer timer(r_.placement_wall_s);
    fill_candidates(view(), j.gpus, candidates_);
    links_.set_origin(j.origin);
    auto placement = placer_.rank(scheduler::PlacementRequest{index_id<JobId>(job, 0x5c), &specs_[job],
                                                              operators_[j.origin], o_.top_k, j.run_s},
                                  candidates_);
    assert(placement.is_ok() && !placement->ranked.empty() && "every job fits some site");
    js.asks = static_cast<std::uint8_t>(placement->ranked.size());
    for (std::size_t k = 0; k < placement->ranked.size(); ++k) js.reply[k].site = id_index(placement->ranked[k].node);
  }
  for (std::size_t k = 0; k < js.asks; ++k) {
    const std::uint32_t site = js.reply[k].site;
    push(now_s() + w_.link(j.origin, site).rtt_ms / 2000.0, kReserveAsk, site, job);
  }
}

// The executor grants only what is free now; otherwise it answers its wait.
void SchedSim::reserve_ask(std::uint32_t job, std::uint32_t site) {
  JobState& js = jobs_[job];
  SiteState& s = sites_[site];
  Reply* reply = nullptr;
  for (std::size_t k = 0; k < js.asks; ++k) {
    if (js.reply[k].site == site) reply = &js.reply[k];
  }
  assert(reply != nullptr && "an ask comes from a ranking that named this site");
  reply->granted = false;
  if (s.free_gpus >= w_.jobs[job].gpus) {
    Timer timer(r_.placement_wall_s);
    auto grant = s.table.grant(index_id<JobId>(job, 0x5c), js.attempt, specs_[job].resources, now(),
                               Duration(to_us_rounded(o_.reservation_ttl_s)));
    if (grant.is_ok()) {
      reply->granted = true;
      s.grants.emplace(job, grant->id);
      adjust_free(site, -static_cast<std::int64_t>(w_.jobs[job].gpus));
    }
  }
  r_.reservations_granted += reply->granted;
  r_.reservations_refused += !reply->granted;
  reply->wait_s = reply->granted ? 0.0 : exact_wait_s(site, w_.jobs[job].gpus);
  push(now_s() + w_.link(w_.jobs[job].origin, site).rtt_ms / 2000.0, kReserveReply, site, job);
}

// All answers in: rank them again with what the executors said, keep the
// best, release the other grants, and run consensus on the choice.
void SchedSim::reserve_reply(std::uint32_t job) {
  JobState& js = jobs_[job];
  const SchedJob& j = w_.jobs[job];
  if (++js.replies < js.asks) return;
  std::uint32_t best = 0;
  {
    Timer timer(r_.placement_wall_s);
    answered_.resize(js.asks);  // copy-assigning records reuses their buffers: no allocation
    for (std::size_t k = 0; k < js.asks; ++k) {
      answered_[k] = candidates_[js.reply[k].site];
      answered_[k].record.expected_wait_ms = static_cast<std::uint64_t>(std::llround(js.reply[k].wait_s * 1000));
    }
    links_.set_origin(j.origin);
    auto placement = placer_.rank(
        scheduler::PlacementRequest{index_id<JobId>(job, 0x5c), &specs_[job], operators_[j.origin], 1, j.run_s},
        std::span<const Candidate>(answered_.data(), js.asks));
    assert(placement.is_ok() && !placement->ranked.empty() && "the asked sites were feasible");
    best = id_index(placement->ranked.front().node);
  }
  for (std::size_t k = 0; k < js.asks; ++k) {
    const Reply& reply = js.reply[k];
    if (reply.granted && reply.site != best) push(now_s() + w_.link(j.origin, reply.site).rtt_ms / 2000.0, kRelease, reply.site, job);
  }
  // One RTT of consensus among the replicas, then the executor learns it.
  push(now_s() + 1.5 * w_.link(j.origin, best).rtt_ms / 1000.0, kDecide, best, job);
}

void SchedSim::release(std::uint32_t job, std::uint32_t site) {
  SiteState& s = sites_[site];
  auto it = s.grants.find(job);
  if (it == s.grants.end()) return;  // expired and dropped already
  (void)s.table.release(it->second);  // NotFound when it expired: nothing to free
  s.grants.erase(it);
  refresh_free(site);
  dispatch(site);
}

void SchedSim::decide(std::uint32_t job, std::uint32_t site) {
  SiteState& s = sites_[site];
  auto it = s.grants.find(job);
  if (it != s.grants.end()) {
    const ReservationId id = it->second;
    s.grants.erase(it);
    std::optional<Result<scheduler::Reservation>> confirmed;
    {
      Timer timer(r_.placement_wall_s);
      confirmed = s.table.confirm(id, now());
    }
    if (confirmed->is_ok()) {
      // The GPUs are held from now; the job computes once its input is here.
      JobState& js = jobs_[job];
      js.site = site;
      js.transfer_s = transfer_s(job, site);
      if (w_.jobs[job].input_site != site) r_.bytes_moved += w_.jobs[job].input_bytes;
      begin_allocation(job, site, id, now_s() + js.transfer_s);
      return;
    }
    refresh_free(site);  // expired: queue instead
  }
  assign(job, site);
}

// ---- gossip and work exchange ----

void SchedSim::gossip() {
  std::vector<SiteView> snapshot;
  snapshot.reserve(sites_.size());
  for (std::uint32_t i = 0; i < sites_.size(); ++i) snapshot.push_back(exact_view(i));
  snapshots_.emplace_back(now_s(), std::move(snapshot));
  const std::size_t kept_max = static_cast<std::size_t>(o_.gossip_delay_s / o_.gossip_period_s) + 2;
  while (snapshots_.size() > kept_max) snapshots_.pop_front();
  if (!all_done()) push(now_s() + o_.gossip_period_s, kGossip, 0);
}

// The newest snapshot at least gossip_delay_s old (the oldest one while the
// run is younger than the delay).
const std::vector<SiteView>& SchedSim::view() {
  const double seen_before_s = now_s() - o_.gossip_delay_s;
  while (snapshots_.size() >= 2 && snapshots_[1].first <= seen_before_s) snapshots_.pop_front();
  assert(!snapshots_.empty() && "the first gossip round runs at time 0");
  return snapshots_.front().second;
}

NodeRecord SchedSim::self_record(std::uint32_t site) const {
  NodeRecord r = candidates_[site].record;
  const SiteView v = exact_view(site);
  r.accelerators[0].free = v.free_gpus;
  r.queue_length = v.queue_length;
  r.expected_wait_ms = static_cast<std::uint64_t>(std::llround(v.wait_s * 1000));
  return r;
}

void SchedSim::exchange(std::uint32_t site) {
  if (all_done()) return;
  push(now_s() + o_.exchange_period_s, kExchange, site);
  const std::vector<SiteView>& v = view();
  // Peers that the gossip says could start something now (records with a
  // queue behind their free GPUs price it in expected_wait_ms).
  std::vector<SiteView> peers_view = v;
  for (auto& p : peers_view) p.wait_s = p.queue_length == 0 ? 0.0 : p.wait_s;
  fill_candidates(peers_view, std::numeric_limits<std::uint32_t>::max(), candidates_);
  const SiteState& s = sites_[site];
  if (!s.queue.empty()) {
    offload_from(site, candidates_, false);
    return;
  }
  if (s.free_gpus == 0) return;
  const NodeRecord self = self_record(site);
  if (!offload_.should_ask_for_work(self, candidates_)) return;
  std::uint32_t busiest = site;
  for (std::uint32_t i = 0; i < v.size(); ++i) {
    if (i != site && v[i].queue_length > 0 && (busiest == site || v[i].wait_s > v[busiest].wait_s)) busiest = i;
  }
  if (busiest == site) return;
  sites_[site].ask_record = exact_view(site);
  push(now_s() + w_.link(site, busiest).rtt_ms / 2000.0, kAskWork, busiest, site);
}

// A busy peer answers an idle asker by running its offload policy with the
// asker, as the asker described itself, as the only peer.
void SchedSim::ask_work(std::uint32_t peer, std::uint32_t asker) {
  if (sites_[peer].queue.empty()) return;
  std::vector<Candidate> only{candidates_[asker]};
  const SiteView& v = sites_[asker].ask_record;
  only[0].record.accelerators[0].free = v.free_gpus;
  only[0].record.queue_length = v.queue_length;
  only[0].record.expected_wait_ms = v.queue_length == 0 ? 0 : static_cast<std::uint64_t>(std::llround(v.wait_s * 1000));
  offload_from(peer, only, false);
}

// Runs OffloadPolicy over the back of the site's queue. Each queued job's
// local wait is the fluid time for the work ahead of it to drain (or the
// rest of its input transfer, if longer); its input counts as local, since
// it is here or on its way.
void SchedSim::offload_from(std::uint32_t site, std::span<const Candidate> peers, bool instant) {
  SiteState& s = sites_[site];
  const std::size_t first = s.queue.size() > o_.offload_window ? s.queue.size() - o_.offload_window : 0;
  NodeRecord self = self_record(site);
  queued_scratch_.clear();
  double ahead_gpu_s = running_remaining_gpu_s(s);
  for (std::size_t i = 0; i < s.queue.size(); ++i) {
    const std::uint32_t job = s.queue[i];
    const SchedJob& j = w_.jobs[job];
    if (i >= first) {
      QueuedJob q;
      q.job = index_id<JobId>(job, 0x5c);
      q.attempt = jobs_[job].attempt;
      q.spec = &specs_[job];
      q.submitter_operator = operators_[j.origin];
      q.local_wait_s = std::max(ahead_gpu_s / s.gpus, static_cast<double>(jobs_[job].ready_us - events_.now_us()) / 1e6);
      q.run_s_hint = j.run_s;
      q.last_moved_at = jobs_[job].last_moved_at;
      queued_scratch_.push_back(std::move(q));
      self.datasets.push_back(Dataset{specs_[job].inputs[0].dataset, j.input_bytes});
    }
    ahead_gpu_s += j.gpus * j.run_s;
  }
  std::vector<scheduler::OffloadDecision> decisions;
  {
    Timer timer(r_.offload_wall_s);
    links_.set_origin(site);
    r_.offload_ranks += queued_scratch_.size();
    auto decided = offload_.decide(self, queued_scratch_, peers, this->now());
    assert(decided.is_ok() && "queued jobs carry their specs");
    decisions = std::move(*decided);
  }
  for (const auto& d : decisions) move(id_index(d.job), site, id_index(d.to), instant);
}

void SchedSim::move(std::uint32_t job, std::uint32_t from, std::uint32_t to, bool instant) {
  SiteState& s = sites_[from];
  auto it = std::find(s.queue.begin(), s.queue.end(), job);
  assert(it != s.queue.end() && "an offloaded job is queued where it is offloaded from");
  s.queue.erase(it);
  const SchedJob& j = w_.jobs[job];
  s.queued_gpu_s = s.queue.empty() ? 0.0 : s.queued_gpu_s - j.gpus * j.run_s;
  change_queued(s, -static_cast<std::int64_t>(j.gpus));
  JobState& js = jobs_[job];
  js.phase = Phase::kMoving;
  js.attempt = Attempt{js.attempt.value + 1};  // a move is a new attempt, decided by consensus
  js.last_moved_at = now();
  ++r_.offloads;
  if (instant) return assign(job, to);
  push(now_s() + 1.5 * w_.link(from, to).rtt_ms / 1000.0, kMoveArrive, to, job);
}

// Ideal: GPUs just freed at `site`; pull queued jobs that would start sooner
// here, from every other site, with exact state and no delay.
void SchedSim::pull_instant(std::uint32_t site) {
  for (std::uint32_t peer = 0; peer < sites_.size() && sites_[site].free_gpus > 0; ++peer) {
    if (peer == site || sites_[peer].queue.empty()) continue;
    std::vector<Candidate> only{candidates_[site]};
    only[0].record = self_record(site);
    only[0].record.expected_wait_ms = 0;
    offload_from(peer, only, true);
  }
}

// ---- results ----

SchedResult SchedSim::collect() {
  std::vector<double> jct_s;
  double wait_sum_s = 0, transfer_sum_s = 0;
  for (std::uint32_t i = 0; i < jobs_.size(); ++i) {
    const JobState& js = jobs_[i];
    if (js.phase != Phase::kDone) {
      ++r_.lost_jobs;
      continue;
    }
    jct_s.push_back(js.finish_s - w_.jobs[i].arrival_s);
    wait_sum_s += js.start_s - w_.jobs[i].arrival_s;
    transfer_sum_s += js.transfer_s;
  }
  r_.finished = jct_s.size();
  if (!jct_s.empty()) {
    double sum_s = 0;
    for (double v : jct_s) sum_s += v;
    std::sort(jct_s.begin(), jct_s.end());
    const auto pick = [&](double q) { return jct_s[static_cast<std::size_t>(q * static_cast<double>(jct_s.size() - 1))]; };
    r_.mean_jct_s = sum_s / static_cast<double>(jct_s.size());
    r_.p50_jct_s = pick(0.50);
    r_.p99_jct_s = pick(0.99);
    r_.mean_wait_s = wait_sum_s / static_cast<double>(jct_s.size());
    r_.mean_transfer_s = transfer_sum_s / static_cast<double>(jct_s.size());
  }
  const double window_s = w_.jobs.back().arrival_s - w_.jobs.front().arrival_s;
  r_.gpu_alloc_pct = window_s > 0 ? 100.0 * alloc_area_gpu_s_ / (static_cast<double>(w_.gpus_total()) * window_s) : 0;
  const double gpus_total = static_cast<double>(w_.gpus_total());
  r_.saturated_pct = window_s > 0 ? 100.0 * saturated_s_ / window_s : 0;
  r_.gpu_alloc_saturated_pct = saturated_s_ > 0 ? 100.0 * saturated_area_gpu_s_ / (gpus_total * saturated_s_) : 0;
  r_.placements_per_s = r_.placement_wall_s > 0 ? static_cast<double>(r_.placements) / r_.placement_wall_s : 0;
  // On a loaded machine the process is descheduled inside the timed regions
  // as often as outside: scale by the run's share of a CPU.
  const double cpu_share = r_.wall_s > 0 ? std::min(1.0, r_.cpu_s / r_.wall_s) : 1.0;
  r_.placements_per_cpu_s = cpu_share > 0 ? r_.placements_per_s / cpu_share : 0;
  r_.sim_end_s = now_s();
  return r_;
}

}  // namespace

nlohmann::ordered_json sched_targets_json(const std::vector<SchedResult>& results, double mean_run_s) {
  auto find = [&](SchedPolicy p) -> const SchedResult* {
    for (const auto& r : results) {
      if (r.policy == p) return &r;
    }
    return nullptr;
  };
  nlohmann::ordered_json t = nlohmann::ordered_json::object();
  const SchedResult* polder = find(SchedPolicy::kPolder);
  if (polder == nullptr) return t;
  auto target = [](double value, double goal, bool met) {
    return nlohmann::ordered_json{{"value", value}, {"target", goal}, {"met", met}};
  };
  if (const SchedResult* ll = find(SchedPolicy::kLeastLoaded); ll != nullptr && ll->mean_jct_s > 0) {
    const double below = 100.0 * (1.0 - polder->mean_jct_s / ll->mean_jct_s);
    auto j = target(below, 30.0, below >= 30.0);
    j["bound_pct"] = 100.0 * (1.0 - mean_run_s / ll->mean_jct_s);
    t["mean_jct_below_least_loaded_pct"] = j;
  }
  if (const SchedResult* ideal = find(SchedPolicy::kIdeal); ideal != nullptr && ideal->mean_jct_s > 0) {
    const double above = 100.0 * (polder->mean_jct_s / ideal->mean_jct_s - 1.0);
    t["mean_jct_above_ideal_pct"] = target(above, 10.0, above <= 10.0);
  }
  t["gpu_alloc_saturated_pct"] =
      target(polder->gpu_alloc_saturated_pct, 95.0, polder->gpu_alloc_saturated_pct >= 95.0);
  t["placements_per_s"] = target(polder->placements_per_s, 20000.0, polder->placements_per_s >= 20000.0);
  return t;
}

nlohmann::ordered_json sched_result_json(const SchedResult& r) {
  nlohmann::ordered_json j;
  j["policy"] = sched_policy_name(r.policy);
  j["ok"] = r.ok();
  j["jobs"] = r.jobs;
  j["finished"] = r.finished;
  j["mean_jct_s"] = r.mean_jct_s;
  j["p50_jct_s"] = r.p50_jct_s;
  j["p99_jct_s"] = r.p99_jct_s;
  j["mean_wait_s"] = r.mean_wait_s;
  j["mean_transfer_s"] = r.mean_transfer_s;
  j["gpu_alloc_pct"] = r.gpu_alloc_pct;
  j["saturated_pct"] = r.saturated_pct;
  j["gpu_alloc_saturated_pct"] = r.gpu_alloc_saturated_pct;
  j["bytes_moved"] = r.bytes_moved;
  j["overcommit"] = r.overcommit;
  j["lost_jobs"] = r.lost_jobs;
  j["duplicate_runs"] = r.duplicate_runs;
  j["invariant_failures"] = r.invariant_failures;
  j["placements"] = r.placements;
  j["placements_per_s"] = r.placements_per_s;
  j["offloads"] = r.offloads;
  j["offload_ranks"] = r.offload_ranks;
  j["offload_ranks_per_s"] = r.offload_wall_s > 0 ? static_cast<double>(r.offload_ranks) / r.offload_wall_s : 0.0;
  j["reservations_granted"] = r.reservations_granted;
  j["reservations_refused"] = r.reservations_refused;
  j["events"] = r.events;
  j["sim_end_s"] = r.sim_end_s;
  j["wall_s"] = r.wall_s;
  j["cpu_s"] = r.cpu_s;
  j["placements_per_cpu_s"] = r.placements_per_cpu_s;
  return j;
}

SchedResult run_sched_sim(const SchedWorkload& workload, SchedPolicy policy, const SchedSimOptions& options,
                          std::uint64_t seed) {
  assert(validate_sched_workload(workload).is_ok() && "the caller validates the workload");
  SchedSim sim(workload, policy, options, seed);
  return sim.run();
}

}  // namespace polder::sim
