#include "sim/consensus_campaign.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "consensus/consensus_core.h"
#include "consensus/invariants.h"
#include "consensus/replica_set.h"
#include "consensus/wire.h"
#include "protocol/rng.h"
#include "sim/simulator.h"

namespace polder::sim {
namespace {

using consensus::AgreementChecker;
using consensus::ConsensusCore;
using consensus::DurabilityChecker;
using consensus::InstanceKey;
using consensus::InstanceSpec;
using consensus::Value;

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

struct Proposal {
  NodeId proposer;
  Value value;
  std::int64_t at_us = 0;
};

struct AttemptState {
  InstanceSpec spec;
  std::vector<Proposal> proposals;
  std::int64_t first_propose_us = -1;
  std::int64_t decided_us = -1;
  bool settled = false;  // decided, and the executor learned it (or it was a cancel)
  bool fails = false;    // plan: its run fails, so a new attempt follows
  bool started = false;
};

struct Job {
  JobId id;
  NodeId origin;
  bool contended = false;
  std::vector<AttemptState> attempts;
  std::optional<std::uint32_t> running;  // attempt being executed
  NodeId running_node;
  std::int64_t running_end_us = 0;
  std::optional<std::uint32_t> highest_started;
};

struct TraceEntry {
  std::int64_t t_us = 0;
  EventKind kind = EventKind::kTick;
  std::uint32_t node = 0, from = 0;
  bool dropped = false;
  std::string note;
};

class World;

// Stands in for the node daemon around a ConsensusCore: proposes what the
// job plan says when it is due (again after a restart, as a node would from
// its job records), and ends executions.
class CampaignNode : public Core {
 public:
  CampaignNode(World& world, std::uint32_t index, std::unique_ptr<ConsensusCore> core)
      : world_(world), index_(index), core_(std::move(core)) {}

  Effects receive(const NodeId& from, std::span<const std::uint8_t> bytes, Instant now) override;
  Effects tick(Instant now) override;
  const ConsensusCore& core() const { return *core_; }

 private:
  World& world_;
  std::uint32_t index_;
  std::unique_ptr<ConsensusCore> core_;
  std::vector<char> issued_;  // parallel to the world's proposal list for this node, this life only
};

void merge(Effects& into, Effects&& from) {
  for (auto& p : from.persist) into.persist.push_back(std::move(p));
  for (auto& s : from.send) into.send.push_back(std::move(s));
  for (auto& e : from.events) into.events.push_back(std::move(e));
  if (from.wake_at && (!into.wake_at || *from.wake_at < *into.wake_at)) into.wake_at = from.wake_at;
}

class World {
 public:
  World(const ConsensusCampaignOptions& options, std::uint64_t seed)
      : options_(options), plan_rng_(seed ^ 0x636f6e73656e7375ULL), fault_rng_(seed ^ 0x6661756c74730000ULL) {
    result.seed = seed;
    trace_.resize(options.trace_events);
  }

  const ConsensusCampaignOptions& options() const { return options_; }
  Simulator& sim() { return *sim_; }
  const std::vector<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>>& proposals_of(std::uint32_t node) const {
    return node_proposals_[node];
  }
  AttemptState& attempt(std::uint32_t job, std::uint32_t a) { return jobs_[job].attempts[a]; }
  Job& job(std::uint32_t j) { return jobs_[j]; }
  std::size_t job_count() const { return jobs_.size(); }

  void run();
  void note_acknowledgement(const NodeId& from, std::span<const std::uint8_t> bytes);
  void proposed(const InstanceKey& key, const Value& value) { agreement_.proposed(key, value); }
  void end_run(std::uint32_t j, bool crashed, std::int64_t now_us);
  void violation(const std::string& what);

  ConsensusSeedResult result;

 private:
  void build_plan();
  void add_attempt(std::uint32_t j, std::uint32_t a, std::int64_t at_us);
  void schedule_faults(std::vector<std::pair<std::int64_t, int>>& actions);
  void apply_fault(int action);
  void heal();
  bool all_settled() const;
  void observe(const Simulator& sim, const ProcessedEvent& event);
  void on_core_event(std::uint32_t node, const CoreEvent& event);
  void check_truth(const InstanceSpec& spec, const Value& value);
  void executor_learned(std::uint32_t j, std::uint32_t a, std::uint32_t node);
  const ConsensusCore* core_of(std::uint32_t node) const;
  void record_trace(TraceEntry entry);

  ConsensusCampaignOptions options_;
  Rng plan_rng_;
  Rng fault_rng_;
  std::unique_ptr<Simulator> sim_;
  std::vector<NodeId> members_;  // index order
  std::vector<Job> jobs_;
  std::map<InstanceKey, std::pair<std::uint32_t, std::uint32_t>> index_;
  std::vector<std::vector<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>>> node_proposals_;
  AgreementChecker agreement_;
  DurabilityChecker durability_;
  std::vector<TraceEntry> trace_;
  std::size_t trace_next_ = 0;
  std::uint64_t trace_count_ = 0;
  std::int64_t heal_us_ = 0;
};

// ---- CampaignNode ---------------------------------------------------------------

Effects CampaignNode::receive(const NodeId& from, std::span<const std::uint8_t> bytes, Instant now) {
  world_.note_acknowledgement(from, bytes);
  return core_->receive(from, bytes, now);
}

Effects CampaignNode::tick(Instant now) {
  const std::int64_t now_us = to_us(now);
  Effects effects = core_->tick(now);
  const auto& mine = world_.proposals_of(index_);
  issued_.resize(mine.size(), 0);
  std::int64_t next_us = kNever;
  for (std::size_t i = 0; i < mine.size(); ++i) {  // bounded by this node's proposals
    if (issued_[i]) continue;
    const auto [j, a, p] = mine[i];
    AttemptState& att = world_.attempt(j, a);
    const Proposal& proposal = att.proposals[p];
    if (proposal.at_us > now_us) {
      next_us = std::min(next_us, proposal.at_us);
      continue;
    }
    issued_[i] = 1;
    if (core_->chosen(att.spec.key)) continue;  // a node that knows the outcome does not propose again
    if (att.first_propose_us < 0) att.first_propose_us = now_us;
    world_.proposed(att.spec.key, proposal.value);
    auto proposed = core_->propose(att.spec, proposal.value, now);
    if (!proposed) {
      world_.violation("propose refused at node " + std::to_string(index_) + ": " + proposed.status().to_string());
      continue;
    }
    merge(effects, std::move(proposed).value());
  }
  // The executor: runs end after run_time.
  for (std::uint32_t j = 0; j < world_.job_count(); ++j) {  // bounded by jobs
    Job& job = world_.job(j);
    if (!job.running || job.running_node != core_->self()) continue;
    if (job.running_end_us <= now_us) {
      world_.end_run(j, /*crashed=*/false, now_us);
    } else {
      next_us = std::min(next_us, job.running_end_us);
    }
  }
  // Ends of runs and newly planned attempts are also noticed on a coarse beat.
  next_us = std::min(next_us, now_us + world_.options().rtt_us * 2);
  if (!effects.wake_at || to_us(*effects.wake_at) > next_us) effects.wake_at = instant_from_us(next_us);
  return effects;
}

// ---- World: plan ------------------------------------------------------------------

void World::build_plan() {
  for (std::uint32_t i = 0; i < options_.nodes; ++i) members_.push_back(sim_node_id(i));
  node_proposals_.resize(options_.nodes);
  jobs_.resize(options_.jobs);
  for (std::uint32_t j = 0; j < options_.jobs; ++j) {  // bounded by jobs
    JobId::Bytes bytes;
    for (std::size_t k = 0; k < bytes.size(); k += 8) {
      const std::uint64_t r = plan_rng_.next();
      std::memcpy(bytes.data() + k, &r, 8);
    }
    jobs_[j].id = JobId(bytes);
    jobs_[j].origin = members_[plan_rng_.uniform(options_.nodes)];
    jobs_[j].contended = plan_rng_.chance(options_.contended_fraction);
    add_attempt(j, 0, static_cast<std::int64_t>(plan_rng_.uniform(static_cast<std::uint64_t>(options_.submit_window_us))));
  }
}

void World::add_attempt(std::uint32_t j, std::uint32_t a, std::int64_t at_us) {
  Job& job = jobs_[j];
  assert(job.attempts.size() == a);
  AttemptState att;
  att.spec.key = InstanceKey{job.id, Attempt{a}};
  att.spec.origin = job.origin;
  const Value* previous = a > 0 ? agreement_.chosen(InstanceKey{job.id, Attempt{a - 1}}) : nullptr;
  if (previous != nullptr && previous->names_next_replicas()) {
    att.spec.replicas = previous->next_replicas;  // decided as part of attempt a-1
  } else {
    att.spec.replicas = *consensus::rendezvous_replica_set(job.id, Attempt{a}, members_, options_.replicas);
  }
  auto next = *consensus::rendezvous_replica_set(job.id, Attempt{a + 1}, members_, options_.replicas);
  att.fails = plan_rng_.chance(options_.failing_fraction);
  const auto executor = [&] { return members_[plan_rng_.uniform(options_.nodes)]; };
  att.proposals.push_back({job.origin, Value::run(executor(), plan_rng_.next(), next), at_us});
  if (job.contended) {
    // A replica other than the origin (when the set has one).
    const std::size_t pick = plan_rng_.uniform(att.spec.replicas.size());
    NodeId contender = att.spec.replicas[pick];
    if (contender == job.origin) contender = att.spec.replicas[(pick + 1) % att.spec.replicas.size()];
    Value value = plan_rng_.chance(0.25) ? Value::cancel(next) : Value::run(executor(), plan_rng_.next(), next);
    const std::int64_t skew_us = static_cast<std::int64_t>(plan_rng_.uniform(static_cast<std::uint64_t>(options_.rtt_us / 2 + 1)));
    att.proposals.push_back({contender, std::move(value), at_us + skew_us});
  }
  job.attempts.push_back(std::move(att));
  const AttemptState& stored = job.attempts.back();
  index_[stored.spec.key] = {j, a};
  for (std::uint32_t p = 0; p < stored.proposals.size(); ++p) {
    const auto node = sim_->index_of(stored.proposals[p].proposer);
    node_proposals_[*node].emplace_back(j, a, p);
  }
  ++result.instances;
}

// ---- World: faults ------------------------------------------------------------------

enum FaultAction : int { kCrashOne = 1, kPartition = 2 };

void World::schedule_faults(std::vector<std::pair<std::int64_t, int>>& actions) {
  const ConsensusFaults& f = options_.faults;
  if (f.crash) {
    for (std::int64_t t = 200'000 + static_cast<std::int64_t>(fault_rng_.uniform(400'000)); t < heal_us_;
         t += 200'000 + static_cast<std::int64_t>(fault_rng_.uniform(600'000))) {
      actions.emplace_back(t, kCrashOne);
    }
  }
  if (f.partition) {
    for (std::int64_t t = 300'000 + static_cast<std::int64_t>(fault_rng_.uniform(500'000)); t < heal_us_;
         t += 500'000 + static_cast<std::int64_t>(fault_rng_.uniform(1'000'000))) {
      actions.emplace_back(t, kPartition);
    }
  }
  std::sort(actions.begin(), actions.end());
  if (f.slow_disk) {
    for (const NodeId& id : members_) {
      if (!fault_rng_.chance(1.0 / 3.0)) continue;
      DiskOptions disk;
      disk.write_delay_us = 500 + static_cast<std::int64_t>(fault_rng_.uniform(20'000));
      (void)sim_->set_disk_options(id, disk);
    }
  }
}

void World::apply_fault(int action) {
  Simulator& sim = *sim_;
  if (action == kCrashOne) {
    std::uint32_t down = 0;
    for (const NodeId& id : members_) down += sim.is_up(id) ? 0 : 1;
    const NodeId victim = members_[fault_rng_.uniform(options_.nodes)];
    const std::int64_t downtime_us = 100'000 + static_cast<std::int64_t>(fault_rng_.uniform(1'400'000));
    if (down >= options_.nodes / 3 || !sim.is_up(victim)) return;
    (void)sim.crash(victim);
    const std::int64_t back_us = to_us(sim.now()) + downtime_us;
    if (options_.faults.restart && back_us < heal_us_) (void)sim.restart(victim, instant_from_us(back_us));
  } else if (action == kPartition) {
    sim.heal_all();
    if (!fault_rng_.chance(0.7)) return;
    std::vector<NodeId> side_a, side_b;
    const std::uint32_t size_a = 1 + static_cast<std::uint32_t>(fault_rng_.uniform(options_.nodes / 2));
    std::vector<NodeId> shuffled = members_;
    for (std::size_t i = shuffled.size(); i > 1; --i) std::swap(shuffled[i - 1], shuffled[fault_rng_.uniform(i)]);
    side_a.assign(shuffled.begin(), shuffled.begin() + size_a);
    side_b.assign(shuffled.begin() + size_a, shuffled.end());
    (void)sim.partition(side_a, side_b);
  }
}

LinkOptions clean_link(std::int64_t rtt_us) {
  LinkOptions link;
  link.latency_us_base = rtt_us / 2 - rtt_us / 40;  // mean one-way = rtt/2 with the jitter below
  link.jitter_us = rtt_us / 20;
  link.jitter_kind = JitterKind::kUniform;
  return link;
}

void World::heal() {
  Simulator& sim = *sim_;
  sim.heal_all();
  (void)sim.set_default_link(clean_link(options_.rtt_us));
  for (const NodeId& id : members_) {
    if (!sim.is_up(id)) (void)sim.restart(id, sim.now());
  }
}

bool World::all_settled() const {
  for (const Job& job : jobs_) {
    if (job.running) return false;
    for (const AttemptState& att : job.attempts) {
      if (!att.settled) return false;
    }
  }
  return true;
}

// ---- World: run -----------------------------------------------------------------------

void World::run() {
  SimOptions sim_options;
  sim_options.seed = result.seed;
  sim_options.network.default_link = clean_link(options_.rtt_us);
  const ConsensusFaults& f = options_.faults;
  if (f.loss) sim_options.network.default_link.loss_probability = 0.05;
  if (f.dup) sim_options.network.default_link.duplicate_probability = 0.05;
  if (f.reorder) {
    sim_options.network.default_link.latency_us_base = options_.rtt_us / 4;
    sim_options.network.default_link.jitter_us = options_.rtt_us / 4;
    sim_options.network.default_link.jitter_kind = JitterKind::kExponential;
  }
  World* world = this;
  sim_ = std::make_unique<Simulator>(sim_options, [world](const NodeId& self, const DurableRecords& durable,
                                                          std::uint64_t seed) -> std::unique_ptr<Core> {
    consensus::ConsensusOptions o;
    o.rtt_us = world->options().rtt_us;
    auto core = ConsensusCore::create(self, o, durable, seed);
    assert(core.is_ok() && "a consensus core failed to restore from its own disk");
    if (!core.is_ok()) return nullptr;
    const auto index = world->sim().index_of(self);
    return std::make_unique<CampaignNode>(*world, *index, std::move(core).value());
  });
  sim_->set_observer([this](const Simulator& sim, const ProcessedEvent& e) { observe(sim, e); });
  sim_->set_core_event_sink([this](const Simulator&, std::uint32_t node, const CoreEvent& e) { on_core_event(node, e); });

  heal_us_ = f.crash || f.restart || f.partition || f.loss || f.dup || f.reorder || f.slow_disk ? options_.fault_period_us : 0;
  // Nodes join first so proposals can resolve node indices; the plan adds
  // no events, so the first ticks see it.
  members_.clear();
  for (std::uint32_t i = 0; i < options_.nodes; ++i) {
    (void)sim_->add_node(sim_node_id(i));
  }
  build_plan();
  std::vector<std::pair<std::int64_t, int>> actions;
  schedule_faults(actions);
  for (const auto& [at_us, action] : actions) {  // bounded by the fault period
    if (!sim_->run_until(instant_from_us(at_us)).is_ok()) violation("livelock before " + std::to_string(at_us) + " us");
    apply_fault(action);
    if (result.violations > 0) break;
  }
  if (!sim_->run_until(instant_from_us(std::max(heal_us_, to_us(sim_->now())))).is_ok()) violation("livelock before heal");
  heal();
  const std::int64_t deadline_us = std::max(heal_us_, options_.submit_window_us) + options_.liveness_bound_us;
  while (to_us(sim_->now()) < deadline_us && result.violations == 0) {  // bounded by the deadline
    const std::int64_t step_us = std::min(deadline_us, to_us(sim_->now()) + 250'000);
    if (!sim_->run_until(instant_from_us(step_us)).is_ok()) violation("livelock after heal");
    if (to_us(sim_->now()) >= options_.submit_window_us && all_settled()) break;
  }
  for (std::uint32_t i = 0; i < options_.nodes && result.violations == 0; ++i) {
    if (const ConsensusCore* core = core_of(i)) {
      Status s = durability_.check(*core);
      if (s.is_ok()) s = consensus::check_core(*core);
      if (!s.is_ok()) violation(s.message());
    }
  }
  for (const Job& job : jobs_) {
    for (const AttemptState& att : job.attempts) {
      if (att.decided_us >= 0) ++result.decided;
      if (!att.settled) ++result.undecided_after_heal;
    }
  }
  if (result.undecided_after_heal > 0 && result.violations == 0) {
    violation("liveness: " + std::to_string(result.undecided_after_heal) + " instances undecided " +
              std::to_string(options_.liveness_bound_us / 1000) + " ms after the heal");
  }
  const SimCounters& c = sim_->counters();
  result.events = c.events_processed;
  result.messages_sent = c.messages_sent;
}

// ---- World: observation ----------------------------------------------------------------

const ConsensusCore* World::core_of(std::uint32_t node) const {
  const auto* wrapper = dynamic_cast<const CampaignNode*>(sim_->core_at(node));
  return wrapper ? &wrapper->core() : nullptr;
}

void World::record_trace(TraceEntry entry) {
  if (trace_.empty()) return;
  trace_[trace_next_] = std::move(entry);
  trace_next_ = (trace_next_ + 1) % trace_.size();
  ++trace_count_;
}

void World::violation(const std::string& what) {
  if (result.violations++ > 0) return;
  result.violation = what;
  const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(trace_count_, trace_.size()));
  for (std::size_t i = 0; i < n; ++i) {
    const TraceEntry& e = trace_[(trace_next_ + trace_.size() - n + i) % trace_.size()];
    std::ostringstream line;
    line << "t=" << e.t_us << "us " << event_kind_name(e.kind) << " node=" << e.node;
    if (e.kind == EventKind::kDeliver) line << " from=" << e.from << (e.dropped ? " dropped" : "");
    if (!e.note.empty()) line << " " << e.note;
    result.trace.push_back(line.str());
  }
}

void World::note_acknowledgement(const NodeId& from, std::span<const std::uint8_t> bytes) {
  auto message = consensus::decode_message(bytes);
  if (!message) {
    ++result.malformed;
    return;
  }
  if (const auto* p = std::get_if<consensus::Promise>(&*message)) {
    durability_.acknowledged(from, p->key, p->ballot, false);
  } else if (const auto* a = std::get_if<consensus::Accepted>(&*message)) {
    durability_.acknowledged(from, a->key, a->ballot, true);
  }
}

void World::observe(const Simulator& sim, const ProcessedEvent& e) {
  record_trace({to_us(e.time), e.kind, e.node, e.from, e.dropped, {}});
  if (e.kind == EventKind::kCrash) {
    for (std::uint32_t j = 0; j < jobs_.size(); ++j) {  // the executor's process died with its node
      if (jobs_[j].running && jobs_[j].running_node == members_[e.node]) end_run(j, /*crashed=*/true, to_us(e.time));
    }
    return;
  }
  const ConsensusCore* core = core_of(e.node);
  if (core == nullptr) return;
  if (e.kind == EventKind::kRestart) {
    const Status s = durability_.check(*core);
    if (!s.is_ok()) violation(s.message());
  }
  if (options_.check_every_event) {
    const Status s = consensus::check_core(*core);
    if (!s.is_ok()) violation(s.message());
  }
}

void World::on_core_event(std::uint32_t node, const CoreEvent& event) {
  auto chosen = consensus::parse_chosen_event(event);
  if (!chosen) {
    violation("unreadable core event at node " + std::to_string(node) + ": " + chosen.status().message());
    return;
  }
  const std::int64_t now_us = to_us(sim_->now());
  record_trace({now_us, EventKind::kTick, node, node, false,
                "chosen " + chosen->key.to_string() + " = " + chosen->value.to_string()});
  auto it = index_.find(chosen->key);
  if (it == index_.end()) {
    violation("chosen event for an instance nobody proposed: " + chosen->key.to_string());
    return;
  }
  const auto [j, a] = it->second;
  AttemptState& att = jobs_[j].attempts[a];
  const Status s = agreement_.learned(chosen->key, chosen->value, "node " + std::to_string(node));
  if (!s.is_ok()) {
    violation(s.message());
    return;
  }
  if (att.decided_us < 0) {
    att.decided_us = now_us;
    result.latencies_rtt.push_back(static_cast<double>(now_us - att.first_propose_us) /
                                   static_cast<double>(options_.rtt_us));
    std::uint32_t ballots = 0;
    for (std::uint32_t i = 0; i < options_.nodes; ++i) {
      if (const ConsensusCore* core = core_of(i)) {
        if (const auto* inst = core->instance(chosen->key)) ballots += inst->proposer.ballots_tried();
      }
    }
    result.ballots.push_back(ballots);
    check_truth(att.spec, chosen->value);
  }
  if (!chosen->value.is_run()) {
    att.settled = true;  // cancelled: nothing to run
  } else if (chosen->value.executor == members_[node]) {
    executor_learned(j, a, node);
  }
}

// A value announced as chosen must really be held by a majority of the
// replica set (accepted or decided), reading crashed replicas' disks.
void World::check_truth(const InstanceSpec& spec, const Value& value) {
  std::size_t holders = 0;
  for (const NodeId& r : spec.replicas) {
    const std::uint32_t idx = *sim_->index_of(r);
    if (const ConsensusCore* core = core_of(idx)) {
      const auto* inst = core->instance(spec.key);
      if (inst && (inst->learner.chosen() == value || inst->acceptor.accepted_value == value)) ++holders;
      continue;
    }
    const DurableRecords& disk = *sim_->durable(r);
    auto d = disk.find({consensus::kRecordColumn, consensus::record_key(consensus::RecordKind::kDecision, spec.key)});
    if (d != disk.end()) {
      auto rec = consensus::decode_decision_record(d->second);
      if (rec && rec->value == value) ++holders;
      continue;
    }
    auto ar = disk.find({consensus::kRecordColumn, consensus::record_key(consensus::RecordKind::kAcceptor, spec.key)});
    if (ar != disk.end()) {
      auto rec = consensus::decode_acceptor_record(ar->second);
      if (rec && rec->accepted_value == value) ++holders;
    }
  }
  if (holders < consensus::majority(spec.replicas.size())) {
    violation("truth: " + spec.key.to_string() + " announced chosen as " + value.to_string() + " but only " +
              std::to_string(holders) + " replicas hold it");
  }
}

// The executor starts (j, a) only now, on learning it chosen (fencing).
void World::executor_learned(std::uint32_t j, std::uint32_t a, std::uint32_t node) {
  Job& job = jobs_[j];
  AttemptState& att = job.attempts[a];
  att.settled = true;
  if (att.started) return;  // learned again (a restart, a duplicate): the node's job record says it ran
  if (job.highest_started && a < *job.highest_started) {
    ++result.fenced;  // an older attempt: refused
    return;
  }
  if (job.running) {
    violation("fencing: " + att.spec.key.to_string() + " starts on node " + std::to_string(node) + " while attempt " +
              std::to_string(*job.running) + " runs");
    return;
  }
  att.started = true;
  job.running = a;
  job.running_node = members_[node];
  job.running_end_us = to_us(sim_->now()) + options_.run_time_us;
  job.highest_started = a;
  ++result.executions;
}

void World::end_run(std::uint32_t j, bool crashed, std::int64_t now_us) {
  Job& job = jobs_[j];
  assert(job.running);
  const std::uint32_t a = *job.running;
  job.running.reset();
  const bool retry = crashed || job.attempts[a].fails;
  if (retry && a + 1 < options_.attempts_max && job.attempts.size() == a + 1) {
    // The origin proposes the next attempt (a crashed executor is noticed
    // a few round trips later, as a failure detector would).
    add_attempt(j, a + 1, now_us + (crashed ? 5 * options_.rtt_us : 0));
  }
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size()))) - 1;
  return values[std::min(i, values.size() - 1)];
}

}  // namespace

std::string ConsensusFaults::to_string() const {
  std::string s;
  const auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ",";
    s += name;
  };
  add(crash, "crash");
  add(restart, "restart");
  add(partition, "partition");
  add(loss, "loss");
  add(dup, "dup");
  add(reorder, "reorder");
  add(slow_disk, "slow-disk");
  return s.empty() ? "none" : s;
}

Result<ConsensusFaults> parse_consensus_faults(const std::string& list) {
  ConsensusFaults f;
  if (list.empty() || list == "none") return f;
  if (list == "all") return ConsensusFaults{true, true, true, true, true, true, true};
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {  // bounded by the list
    if (item == "crash") f.crash = true;
    else if (item == "restart") f.restart = f.crash = true;
    else if (item == "partition") f.partition = true;
    else if (item == "loss") f.loss = true;
    else if (item == "dup") f.dup = true;
    else if (item == "reorder") f.reorder = true;
    else if (item == "slow-disk") f.slow_disk = true;
    else {
      return invalid_argument("unknown fault '" + item +
                              "'; choose from crash,restart,partition,loss,dup,reorder,slow-disk (or all, none)");
    }
  }
  return f;
}

Result<std::pair<std::uint64_t, std::uint64_t>> parse_seed_range(const std::string& text) {
  const auto dots = text.find("..");
  const std::string a = text.substr(0, dots), b = dots == std::string::npos ? a : text.substr(dots + 2);
  const auto number = [](const std::string& s, std::uint64_t& out) {
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    out = std::stoull(s);
    return true;
  };
  std::uint64_t first = 0, last = 0;
  if (!number(a, first) || !number(b, last)) return invalid_argument("seeds must be A..B or A, got '" + text + "'");
  if (last < first) return invalid_argument("seed range " + text + " is empty");
  if (last - first >= 100'000'000) return invalid_argument("seed range " + text + " holds more than 10^8 seeds");
  return std::make_pair(first, last);
}

Status validate_campaign_options(const ConsensusCampaignOptions& o) {
  if (o.nodes < 3 || o.nodes > 1000) return invalid_argument("--nodes must be 3..1000");
  if (o.replicas < 1 || o.replicas > consensus::kReplicasMax || o.replicas > o.nodes) {
    return invalid_argument("--replicas must be 1..7 and at most --nodes");
  }
  if (o.jobs < 1 || o.jobs > 1'000'000) return invalid_argument("--jobs must be 1..1000000");
  if (o.rtt_us < 100) return invalid_argument("--rtt-ms must be at least 0.1");
  if (o.contended_fraction < 0 || o.contended_fraction > 1) return invalid_argument("--contended must be 0..1");
  if (o.attempts_max < 1 || o.attempts_max > 100) return invalid_argument("attempts_max must be 1..100");
  if (o.submit_window_us < 1 || o.fault_period_us < 0 || o.liveness_bound_us < 1) {
    return invalid_argument("campaign periods must be positive");
  }
  return Status::ok();
}

ConsensusSeedResult run_consensus_seed(const ConsensusCampaignOptions& options, std::uint64_t seed) {
  World world(options, seed);
  world.run();
  return std::move(world.result);
}

ConsensusCampaignResult run_consensus_campaign(const ConsensusCampaignOptions& options) {
  assert(validate_campaign_options(options).is_ok());
  const auto wall_start = std::chrono::steady_clock::now();
  const std::uint64_t count = options.seed_last - options.seed_first + 1;
  std::vector<ConsensusSeedResult> results(count);
  std::atomic<std::uint64_t> next{0};
  const auto worker = [&] {
    for (std::uint64_t i = next++; i < count; i = next++) {  // bounded by count
      results[i] = run_consensus_seed(options, options.seed_first + i);
      results[i].latencies_rtt.shrink_to_fit();
    }
  };
  unsigned threads = options.threads != 0 ? options.threads : std::max(1U, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<std::uint64_t>(threads, count));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();

  ConsensusCampaignResult out;
  std::vector<double> latencies;
  std::vector<std::uint32_t> ballots;
  for (ConsensusSeedResult& r : results) {  // merged in seed order: deterministic
    ++out.seeds;
    out.instances += r.instances;
    out.decided += r.decided;
    out.violations += r.violations;
    out.undecided_after_heal += r.undecided_after_heal;
    out.executions += r.executions;
    out.fenced += r.fenced;
    out.events += r.events;
    out.messages_sent += r.messages_sent;
    latencies.insert(latencies.end(), r.latencies_rtt.begin(), r.latencies_rtt.end());
    ballots.insert(ballots.end(), r.ballots.begin(), r.ballots.end());
    if (r.violations > 0) {
      if (out.failed_seeds.empty()) out.first_failure = r;
      out.failed_seeds.push_back(r.seed);
    }
  }
  out.latency_rtt_p50 = percentile(latencies, 0.50);
  out.latency_rtt_p99 = percentile(latencies, 0.99);
  out.latency_rtt_max = percentile(latencies, 1.0);
  if (!ballots.empty()) {
    const auto within = std::count_if(ballots.begin(), ballots.end(), [](std::uint32_t b) { return b <= 3; });
    out.within_3_ballots_pct = 100.0 * static_cast<double>(within) / static_cast<double>(ballots.size());
    std::vector<double> b(ballots.begin(), ballots.end());
    out.ballots_p99 = static_cast<std::uint32_t>(percentile(b, 0.99));
  }
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return out;
}

nlohmann::ordered_json to_json(const ConsensusCampaignOptions& o, const ConsensusCampaignResult& r) {
  nlohmann::ordered_json j;
  j["command"] = "consensus";
  j["seed_first"] = o.seed_first;
  j["seed_last"] = o.seed_last;
  j["nodes"] = o.nodes;
  j["jobs"] = o.jobs;
  j["replicas"] = o.replicas;
  j["faults"] = o.faults.to_string();
  j["rtt_ms"] = static_cast<double>(o.rtt_us) / 1000.0;
  j["contended_fraction"] = o.contended_fraction;
  j["seeds"] = r.seeds;
  j["instances"] = r.instances;
  j["decided"] = r.decided;
  j["violations"] = r.violations;
  j["undecided_after_heal"] = r.undecided_after_heal;
  j["latency_rtt_p50"] = r.latency_rtt_p50;
  j["latency_rtt_p99"] = r.latency_rtt_p99;
  j["latency_rtt_max"] = r.latency_rtt_max;
  j["within_3_ballots_pct"] = r.within_3_ballots_pct;
  j["ballots_p99"] = r.ballots_p99;
  j["executions"] = r.executions;
  j["fenced"] = r.fenced;
  j["events"] = r.events;
  j["messages_sent"] = r.messages_sent;
  j["wall_s"] = r.wall_s;
  j["failed_seeds"] = r.failed_seeds;
  if (!r.failed_seeds.empty()) {
    j["first_failure"] = {{"seed", r.first_failure.seed},
                          {"violation", r.first_failure.violation},
                          {"trace", r.first_failure.trace}};
  }
  return j;
}

}  // namespace polder::sim
