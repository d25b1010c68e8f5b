#include "sim/gossip_campaign.h"

#include <algorithm>
#include <cstring>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "gossip/gossip_core.h"
#include "gossip/invariants.h"
#include "sim/gossip_geo.h"
#include "sim/gossip_records.h"
#include "sim/parallel_simulator.h"

namespace polder::sim {
namespace {

using gossip::GossipCore;

constexpr double kNotYet = -1.0;

std::int64_t s_to_us(double s) { return static_cast<std::int64_t>(std::llround(s * 1e6)); }

// One change of a core's incarnation, at the virtual time it happened.
struct Life {
  std::int64_t since_us = 0;
  std::uint64_t incarnation = 0;
};

// Per node (index): written only by the thread of the node's partition
// while the simulator runs, read by the host between runs.
struct Meter {
  std::vector<std::uint64_t> bytes_retired;     // sent by cores that have since crashed
  std::vector<std::uint64_t> messages_retired;
  std::vector<GossipCore*> cores;  // null while down
  // Incarnation changes since the host last looked, in time order: a death
  // declared by another node (on another thread, at another point of its
  // window) is judged against the subject's life at the declaration's time.
  std::vector<std::vector<Life>> lives;
  std::vector<std::uint64_t> incarnation_before;  // before lives[n]; kUnknownIncarnation: no core seen yet
};

constexpr std::uint64_t kUnknownIncarnation = std::numeric_limits<std::uint64_t>::max();

// Keeps a typed handle on a core, logs its incarnation changes, and at a
// crash keeps what it sent (the core's own counters: every message it
// sends is counted there, so nothing is summed per call here).
class MeteredCore : public Core {
 public:
  MeteredCore(std::unique_ptr<GossipCore> core, Meter* meter, std::uint32_t index)
      : core_(std::move(core)), meter_(meter), index_(index) {
    meter_->cores[index_] = core_.get();
  }
  ~MeteredCore() override {
    meter_->cores[index_] = nullptr;
    meter_->bytes_retired[index_] += core_->counters().bytes_sent;
    meter_->messages_retired[index_] += core_->counters().messages_sent;
  }
  Effects receive(const NodeId& from, std::span<const std::uint8_t> bytes, Instant now) override {
    return count(core_->receive(from, bytes, now), now);
  }
  Effects tick(Instant now) override { return count(core_->tick(now), now); }
  GossipCore& core() { return *core_; }
  Effects count(Effects effects, Instant now) {
    // Only a refutation raises a running core's incarnation: reading the
    // counter (a hot line) instead of the own member's slot (a cold one in
    // a 640 KB table) saved 5% of a 10,000-node run.
    const std::uint64_t refutations = core_->counters().refutations;
    if (refutations != logged_refutations_ || logged_incarnation_ == kUnknownIncarnation) {
      logged_refutations_ = refutations;
      const std::uint64_t incarnation = core_->incarnation();
      if (incarnation != logged_incarnation_) {
        logged_incarnation_ = incarnation;
        meter_->lives[index_].push_back({to_us(now), incarnation});
      }
    }
    return effects;
  }

 private:
  std::unique_ptr<GossipCore> core_;
  Meter* meter_;
  std::uint32_t index_;
  std::uint64_t logged_incarnation_ = kUnknownIncarnation;
  std::uint64_t logged_refutations_ = 0;
};

// A death some node declared, kept until the host judges it.
struct DeathSeen {
  std::int64_t time_us = 0;
  std::uint32_t observer = 0;
  std::uint32_t subject = 0;
  std::uint64_t incarnation = 0;
};

struct Victim {
  std::uint32_t node = 0;
  double crash_s = 0;
  double restart_s = std::numeric_limits<double>::infinity();
  std::int64_t crash_us = 0;
  std::int64_t restart_us = std::numeric_limits<std::int64_t>::max();
  std::vector<bool> marked;  // by observer node (host thread only)
  std::uint32_t marked_count = 0;
  double all_marked_s = kNotYet;
};

struct Tracked {  // one published record update
  std::uint32_t subject = 0;
  std::uint64_t sequence = 0;
  double published_s = 0;
  std::vector<float> received_s;  // by node; < 0: not yet
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return kNotYet;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size()))) ;
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// "<64 hex id> <incarnation> <sequence>" of the core's events.
bool parse_detail(const std::string& detail, NodeId& id, std::uint64_t& incarnation, std::uint64_t& sequence) {
  if (detail.size() < 66) return false;
  auto parsed = NodeId::from_hex(std::string_view(detail).substr(0, 64));
  if (!parsed) return false;
  id = *parsed;
  char* end = nullptr;
  incarnation = std::strtoull(detail.c_str() + 65, &end, 10);
  sequence = std::strtoull(end, nullptr, 10);
  return true;
}

class Campaign {
 public:
  explicit Campaign(const GossipCampaignOptions& options)
      : options_(options),
        geo_(GeoOptions{options.nodes, 20, options.loss, 0.05, options.slow_fraction, 200'000}, options.seed),
        threads_(campaign_threads(options)),
        config_(campaign_gossip_config(options)) {
    // One verifier (and interning map) per partition thread.
    for (std::uint32_t p = 0; p < threads_; ++p) verifiers_.push_back(std::make_shared<FakeRecordVerifier>());
    assign_regions();
    deaths_.resize(threads_);
    invariants_.assign(threads_, Status::ok());
    meter_.bytes_retired.assign(options.nodes, 0);
    meter_.messages_retired.assign(options.nodes, 0);
    meter_.cores.assign(options.nodes, nullptr);
    meter_.lives.resize(options.nodes);
    meter_.incarnation_before.assign(options.nodes, kUnknownIncarnation);
    for (std::uint32_t i = 0; i < options.nodes; ++i) ids_.push_back(sim_node_id(i));
    sequence_.assign(options.nodes, 1);
    // One list (and one copy of each record) per partition: 10,000 cores
    // each take a reference to every record, and two threads incrementing
    // the same reference counts would bounce their lines between the cores.
    for (std::uint32_t p = 0; p < threads_; ++p) {
      auto members = std::make_shared<gossip::GossipOptions::InitialMembers>();
      members->reserve(options.nodes);
      for (std::uint32_t i = 0; i < options.nodes; ++i) {
        const Bytes record = make_fake_record(ids_[i], 0, 1);
        auto header = verifiers_[p]->peek(record);
        assert(header.is_ok());
        auto verified = verifiers_[p]->verify(record, *header);
        assert(verified.is_ok());
        members->emplace_back(ids_[i], *verified);
      }
      initial_members_.push_back(std::move(members));
    }
    directory_ = std::make_shared<const gossip::MemberDirectory>(ids_);
  }

  GossipCampaignResult run();

 private:
  std::unique_ptr<Core> make_core(const NodeId& self, const DurableRecords& durable, std::uint64_t seed);
  void plan_faults();
  std::uint32_t partition_of(std::uint32_t node) const { return partition_of_region_[geo_.region_index_of(node)]; }
  void assign_regions();
  std::int64_t lookahead_us() const;
  void on_event(std::uint32_t partition, std::uint32_t node, Instant now, const CoreEvent& event);
  void judge_deaths();
  bool falsely_dead_at(std::uint32_t subject, std::int64_t time_us, std::uint64_t incarnation) const;
  void publish_update(ParallelSimulator& sim);
  double vivaldi_error(std::uint64_t seed) const;
  void finish(const ParallelSimulator& sim, GossipCampaignResult& result, double wall_s) const;
  std::size_t member_table_bytes_max() const;
  nlohmann::ordered_json traffic_breakdown(double node_s) const;

  GossipCampaignOptions options_;
  Geography geo_;
  std::uint32_t threads_;
  std::vector<std::uint32_t> partition_of_region_;  // which thread simulates each region
  std::vector<std::shared_ptr<FakeRecordVerifier>> verifiers_;  // by partition
  gossip::GossipConfig config_;
  Meter meter_;
  std::vector<NodeId> ids_;
  // Every node, self included, by partition.
  std::vector<std::shared_ptr<const gossip::GossipOptions::InitialMembers>> initial_members_;
  std::shared_ptr<const gossip::MemberDirectory> directory_;  // the same ids: one member index for all cores
  std::vector<std::uint64_t> sequence_;        // newest published record sequence per node
  std::vector<Victim> victims_;
  std::map<std::uint32_t, std::size_t> victim_of_;  // node -> index in victims_
  std::vector<Tracked> tracked_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::size_t> tracked_of_;
  std::vector<std::vector<DeathSeen>> deaths_;  // by partition, since the host last judged
  std::vector<Status> invariants_;              // by partition
  std::vector<bool> falsely_dead_;
  std::uint64_t false_death_events_ = 0;
  double vivaldi_at_60s_ = kNotYet;
  Rng publish_rng_{0};
  ParallelSimulator* sim_ = nullptr;
  std::unique_ptr<ParallelSimulator> world_;
};

std::unique_ptr<Core> Campaign::make_core(const NodeId& self, const DurableRecords& durable, std::uint64_t seed) {
  const std::uint32_t index = *sim_->index_of(self);
  gossip::GossipOptions o;
  o.config = config_;
  o.verifier = verifiers_[partition_of(index)];  // make_core runs on that partition's thread
  o.expected_members = options_.nodes;
  // A formed federation: every node starts knowing the others (as from a
  // persisted member table) and their first records; one list for all.
  o.shared_initial_members = initial_members_[partition_of(index)];
  o.directory = directory_;
  const bool restarted = !durable.empty();
  o.own_record = make_fake_record(self, 0, restarted ? ++sequence_[index] : sequence_[index]);
  for (std::uint32_t k = 1; k <= 3; ++k) o.config.seeds.push_back(ids_[(index + k * 7919) % options_.nodes]);
  if (!restarted) o.config.seeds.clear();  // at start everyone is already in
  auto core = GossipCore::create(self, std::move(o), durable, seed);
  assert(core.is_ok() && "campaign cores are well configured");
  return std::make_unique<MeteredCore>(std::move(*core), &meter_, index);
}

void Campaign::plan_faults() {
  Rng rng(options_.seed ^ 0x6661756c74730000ULL);
  const auto count = static_cast<std::uint32_t>(
      std::max(3.0, std::round(options_.crash_fraction * static_cast<double>(options_.nodes))));
  const double first_s = options_.warmup_s;
  const double last_s = std::max(first_s, options_.duration_s - 30.0);
  std::vector<bool> chosen(options_.nodes, false);
  for (std::uint32_t c = 0; c < count && c < options_.nodes / 4; ++c) {
    std::uint32_t node;
    do {
      node = static_cast<std::uint32_t>(rng.uniform(options_.nodes));
    } while (chosen[node] || geo_.is_slow(node));  // bounded: at most a quarter are chosen
    chosen[node] = true;
    Victim v;
    v.node = node;
    v.crash_s = first_s + rng.unit() * (last_s - first_s);
    if (options_.restart_after_s > 0) v.restart_s = v.crash_s + options_.restart_after_s;
    v.crash_us = s_to_us(v.crash_s);
    if (std::isfinite(v.restart_s)) v.restart_us = s_to_us(v.restart_s);
    v.marked.assign(options_.nodes, false);
    victim_of_[node] = victims_.size();
    victims_.push_back(std::move(v));
  }
}

// Runs on the thread of `node`'s partition: writes only what belongs to
// `node` (its arrival times) or to the partition (its list of deaths).
void Campaign::on_event(std::uint32_t partition, std::uint32_t node, Instant now, const CoreEvent& event) {
  const bool dead = event.kind == gossip::kEventDead;
  const bool record = event.kind == gossip::kEventRecord;
  if (!dead && !record) return;
  NodeId id;
  std::uint64_t incarnation = 0, sequence = 0;
  if (!parse_detail(event.detail, id, incarnation, sequence)) return;
  // sim_node_id() stores the index in bytes 8..11: no hash lookup per event.
  std::uint32_t index = 0;
  std::memcpy(&index, id.bytes().data() + 8, sizeof index);
  if (index >= options_.nodes || ids_[index] != id) return;
  if (record) {
    auto it = tracked_of_.find({index, sequence});  // the map changes only between runs
    if (it != tracked_of_.end() && tracked_[it->second].received_s[node] < 0) {
      tracked_[it->second].received_s[node] = static_cast<float>(static_cast<double>(to_us(now)) / 1e6);
    }
    return;
  }
  deaths_[partition].push_back({to_us(now), node, index, incarnation});
}

// Was `subject` running, in a life of at most `incarnation`, at `time_us`?
// Then a death declared about it is a false death.
bool Campaign::falsely_dead_at(std::uint32_t subject, std::int64_t time_us, std::uint64_t incarnation) const {
  auto v = victim_of_.find(subject);
  if (v != victim_of_.end()) {
    const Victim& victim = victims_[v->second];
    if (time_us >= victim.crash_us && time_us < victim.restart_us) return false;  // down: a true death
  }
  std::uint64_t current = meter_.incarnation_before[subject];
  for (const Life& life : meter_.lives[subject]) {  // in time order; a handful per second at most
    if (life.since_us > time_us) break;
    current = life.incarnation;
  }
  return current != kUnknownIncarnation && incarnation >= current;
}

// Host thread, after each run: the deaths every partition saw, in an order
// that does not depend on the partitioning — by time, then observer, then
// the observer's own order (one observer's deaths are all in one list, and
// the sort is stable).
void Campaign::judge_deaths() {
  std::vector<DeathSeen> all;
  for (auto& list : deaths_) {
    all.insert(all.end(), list.begin(), list.end());
    list.clear();
  }
  std::stable_sort(all.begin(), all.end(), [](const DeathSeen& a, const DeathSeen& b) {
    return a.time_us != b.time_us ? a.time_us < b.time_us : a.observer < b.observer;
  });
  for (const DeathSeen& d : all) {
    if (falsely_dead_at(d.subject, d.time_us, d.incarnation)) {
      ++false_death_events_;
      falsely_dead_[d.subject] = true;
    }
    auto v = victim_of_.find(d.subject);
    if (v == victim_of_.end()) continue;
    Victim& victim = victims_[v->second];
    const double now_s = static_cast<double>(d.time_us) / 1e6;
    if (now_s < victim.crash_s || now_s >= victim.restart_s || victim.marked[d.observer] ||
        victim_of_.count(d.observer) > 0) {
      continue;
    }
    victim.marked[d.observer] = true;
    if (++victim.marked_count == options_.nodes - victims_.size()) victim.all_marked_s = now_s;
  }
  for (std::uint32_t n = 0; n < options_.nodes; ++n) {
    std::vector<Life>& lives = meter_.lives[n];
    if (lives.empty()) continue;
    meter_.incarnation_before[n] = lives.back().incarnation;
    lives.clear();
  }
}

void Campaign::publish_update(ParallelSimulator& sim) {
  Rng& rng = publish_rng_;
  std::uint32_t subject = 0;
  for (int tries = 0; tries < 100; ++tries) {  // bounded
    subject = static_cast<std::uint32_t>(rng.uniform(options_.nodes));
    if (victim_of_.count(subject) == 0 && sim.is_up(ids_[subject])) break;
  }
  const std::uint64_t sequence = ++sequence_[subject];
  GossipCore* core = meter_.cores[subject];
  if (core == nullptr) return;
  Tracked t;
  t.subject = subject;
  t.sequence = sequence;
  t.published_s = static_cast<double>(to_us(sim.now())) / 1e6;
  t.received_s.assign(options_.nodes, -1.0F);
  t.received_s[subject] = static_cast<float>(t.published_s);
  tracked_of_[{subject, sequence}] = tracked_.size();
  tracked_.push_back(std::move(t));
  const Bytes record = make_fake_record(ids_[subject], 0, sequence);
  Status status = sim.act(ids_[subject], [&](Core& c, Instant now) {
    return static_cast<MeteredCore&>(c).count(static_cast<MeteredCore&>(c).core().set_own_record(record, now), now);
  });
  assert(status.is_ok());
}

double Campaign::vivaldi_error(std::uint64_t seed) const {
  Rng rng(seed);
  std::vector<double> errors;
  constexpr int kPairs = 4000;
  for (int i = 0; i < 4 * kPairs && errors.size() < kPairs; ++i) {  // bounded
    const auto a = static_cast<std::uint32_t>(rng.uniform(options_.nodes));
    const auto b = static_cast<std::uint32_t>(rng.uniform(options_.nodes));
    if (a == b || geo_.is_slow(a) || geo_.is_slow(b)) continue;  // slowness is not distance
    const GossipCore* ca = meter_.cores[a];
    const GossipCore* cb = meter_.cores[b];
    if (ca == nullptr || cb == nullptr) continue;
    const double truth = geo_.rtt_ms(a, b);
    const double estimate = gossip::vivaldi_distance_ms(ca->coordinate(), cb->coordinate());
    errors.push_back(std::fabs(estimate - truth) / truth);
  }
  return percentile(errors, 0.5);
}

// Per node-second, summed over the cores running at the end (a core that
// crashed took its counters with it): which messages and updates cost what.
nlohmann::ordered_json Campaign::traffic_breakdown(double node_s) const {
  static constexpr const char* kBodies[] = {"gossip", "ping", "ack", "ping_req", "nack", "digest", "digest_reply", "sync"};
  static constexpr const char* kKinds[] = {"", "alive", "suspect", "dead", "left"};
  gossip::GossipCounters sum;
  for (const GossipCore* core : meter_.cores) {
    if (core == nullptr) continue;
    const auto& c = core->counters();
    for (std::size_t i = 0; i < sum.messages_sent_by_body.size(); ++i) {
      sum.messages_sent_by_body[i] += c.messages_sent_by_body[i];
      sum.bytes_sent_by_body[i] += c.bytes_sent_by_body[i];
    }
    for (std::size_t i = 0; i < sum.updates_sent_by_kind.size(); ++i) sum.updates_sent_by_kind[i] += c.updates_sent_by_kind[i];
    sum.suspicions += c.suspicions;
    sum.refutations += c.refutations;
    sum.probes += c.probes;
    sum.probes_indirect += c.probes_indirect;
    sum.push_pulls += c.push_pulls;
  }
  nlohmann::ordered_json j;
  for (std::size_t i = 0; i < sum.messages_sent_by_body.size(); ++i) {
    j[std::string("msgs_") + kBodies[i]] = static_cast<double>(sum.messages_sent_by_body[i]) / node_s;
    j[std::string("kbit_") + kBodies[i]] = static_cast<double>(sum.bytes_sent_by_body[i]) * 8.0 / 1000.0 / node_s;
  }
  for (std::size_t i = 1; i < sum.updates_sent_by_kind.size(); ++i) {
    j[std::string("updates_") + kKinds[i]] = static_cast<double>(sum.updates_sent_by_kind[i]) / node_s;
  }
  j["suspicions"] = static_cast<double>(sum.suspicions) / node_s;
  j["refutations"] = static_cast<double>(sum.refutations) / node_s;
  j["probes"] = static_cast<double>(sum.probes) / node_s;
  j["probes_indirect"] = static_cast<double>(sum.probes_indirect) / node_s;
  j["push_pulls"] = static_cast<double>(sum.push_pulls) / node_s;
  return j;
}

// Reads every member of every table (10 GB at 10,000 nodes): on every
// simulator thread, each over a range of nodes; the simulator is idle.
std::size_t Campaign::member_table_bytes_max() const {
  std::vector<std::size_t> max_by_thread(threads_, 0);
  auto scan = [&](std::uint32_t t) {
    for (std::uint32_t n = t; n < options_.nodes; n += threads_) {
      if (const GossipCore* core = meter_.cores[n]; core != nullptr) {
        max_by_thread[t] = std::max(max_by_thread[t], core->table().memory_bytes());
      }
    }
  };
  std::vector<std::thread> helpers;
  for (std::uint32_t t = 1; t < threads_; ++t) helpers.emplace_back(scan, t);
  scan(0);
  for (std::thread& h : helpers) h.join();
  return *std::max_element(max_by_thread.begin(), max_by_thread.end());
}

void Campaign::finish(const ParallelSimulator& sim, GossipCampaignResult& result, double wall_s) const {
  const double duration_s = options_.duration_s;
  std::vector<double> converge;
  for (const Tracked& t : tracked_) {
    if (t.published_s + 10.0 > duration_s) continue;
    std::vector<double> latencies;
    std::size_t eligible = 0;
    for (std::uint32_t n = 0; n < options_.nodes; ++n) {
      if (n == t.subject || victim_of_.count(n) > 0) continue;
      ++eligible;
      if (t.received_s[n] >= 0) latencies.push_back(static_cast<double>(t.received_s[n]) - t.published_s);
    }
    const auto need = static_cast<std::size_t>(std::ceil(0.9999 * static_cast<double>(eligible)));
    if (latencies.size() < need || need == 0) {
      ++result.updates_not_converged;
      continue;
    }
    std::nth_element(latencies.begin(), latencies.begin() + static_cast<std::ptrdiff_t>(need - 1), latencies.end());
    converge.push_back(latencies[need - 1]);
  }
  std::vector<double> detect;
  for (const Victim& v : victims_) {
    if (v.all_marked_s >= 0) {
      detect.push_back(v.all_marked_s - v.crash_s);
    } else if (v.crash_s + 30.0 <= duration_s) {
      ++result.undetected;
    }
  }
  std::uint64_t bytes = 0, messages = 0;
  for (std::uint32_t n = 0; n < options_.nodes; ++n) {
    bytes += meter_.bytes_retired[n];
    messages += meter_.messages_retired[n];
    if (const GossipCore* core = meter_.cores[n]; core != nullptr) {
      bytes += core->counters().bytes_sent;
      messages += core->counters().messages_sent;
    }
  }
  const std::size_t table_bytes_max = member_table_bytes_max();
  result.false_deaths = static_cast<std::uint64_t>(std::count(falsely_dead_.begin(), falsely_dead_.end(), true));
  result.converge_p9999_s = percentile(converge, 0.5);
  result.detect_p50_s = percentile(detect, 0.5);
  result.detect_p99_s = percentile(detect, 0.99);
  const double node_s = static_cast<double>(options_.nodes) * duration_s;
  const double gossip_interval_s = static_cast<double>(config_.gossip_interval.count()) / 1e6;
  auto& j = result.json;
  j["command"] = "gossip";
  j["ok"] = result.ok;
  if (!result.ok) j["error"] = result.error;
  j["nodes"] = options_.nodes;
  j["loss"] = options_.loss;
  j["seed"] = options_.seed;
  j["slow_frac"] = options_.slow_fraction;
  j["duration_s"] = duration_s;
  j["profile"] = options_.profile;
  j["converge_p9999_s"] = result.converge_p9999_s;
  j["converge_p9999_s_p99"] = percentile(converge, 0.99);
  j["converge_rounds"] = result.converge_p9999_s >= 0 ? result.converge_p9999_s / gossip_interval_s : -1.0;
  j["updates_published"] = tracked_.size();
  j["updates_not_converged"] = result.updates_not_converged;
  j["detect_p50_s"] = result.detect_p50_s;
  j["detect_p99_s"] = result.detect_p99_s;
  j["crashes"] = victims_.size();
  j["crashes_undetected"] = result.undetected;
  j["false_deaths"] = result.false_deaths;
  j["false_death_events"] = false_death_events_;
  j["kbit_per_node_s"] = static_cast<double>(bytes + messages * options_.envelope_overhead_bytes) * 8.0 / 1000.0 / node_s;
  j["payload_kbit_per_node_s"] = static_cast<double>(bytes) * 8.0 / 1000.0 / node_s;
  j["messages_per_node_s"] = static_cast<double>(messages) / node_s;
  j["vivaldi_median_rel_err"] = vivaldi_at_60s_ >= 0 ? vivaldi_at_60s_ : vivaldi_error(options_.seed);
  j["vivaldi_median_rel_err_end"] = vivaldi_error(options_.seed);
  j["member_table_bytes_max"] = table_bytes_max;
  j["traffic"] = traffic_breakdown(node_s);
  j["events"] = sim.counters().events_processed;
  j["messages_delivered"] = sim.counters().messages_delivered;
  j["messages_lost"] = sim.counters().dropped_loss;
  j["trace_hash"] = sim.trace_hash();
  j["wall_s"] = wall_s;
}

std::int64_t Campaign::lookahead_us() const {
  std::int64_t lookahead = std::numeric_limits<std::int64_t>::max();
  for (std::uint32_t a = 0; a < Geography::region_count(); ++a) {
    for (std::uint32_t b = 0; b < Geography::region_count(); ++b) {
      if (partition_of_region_[a] != partition_of_region_[b]) {
        lookahead = std::min(lookahead, geo_.latency_us_min_between(a, b));
      }
    }
  }
  return lookahead == std::numeric_limits<std::int64_t>::max() ? 0 : lookahead;
}

// Which thread simulates which region. Only the wall time depends on it:
// the window is the shortest latency between regions of different threads,
// so two threads split the regions in halves that keep near neighbours
// (eu-west and eu-central, 30 ms apart) together — of every 4:4 split,
// the one whose closest pair across is farthest apart: us-east, us-west,
// eu-west, eu-central against the rest, 53 ms one way at the closest
// instead of 15 ms with regions dealt round robin — a quarter of the
// barriers. More threads: round robin.
void Campaign::assign_regions() {
  const std::uint32_t regions = Geography::region_count();
  partition_of_region_.assign(regions, 0);
  if (threads_ == 1) return;
  for (std::uint32_t r = 0; r < regions; ++r) partition_of_region_[r] = r % threads_;
  if (threads_ != 2) return;
  std::int64_t best = -1;
  std::uint32_t best_mask = 0;
  for (std::uint32_t mask = 0; mask < (1U << regions); ++mask) {  // bounded: 2^8 splits
    if ((mask & 1U) == 0 || static_cast<std::uint32_t>(__builtin_popcount(mask)) != regions / 2) continue;
    std::int64_t closest = std::numeric_limits<std::int64_t>::max();
    for (std::uint32_t a = 0; a < regions; ++a) {
      for (std::uint32_t b = 0; b < regions; ++b) {
        if (((mask >> a) & 1U) != 0 && ((mask >> b) & 1U) == 0) {
          closest = std::min(closest, geo_.latency_us_min_between(a, b));
        }
      }
    }
    if (closest > best) {
      best = closest;
      best_mask = mask;
    }
  }
  for (std::uint32_t r = 0; r < regions; ++r) partition_of_region_[r] = ((best_mask >> r) & 1U) != 0 ? 0 : 1;
}

GossipCampaignResult Campaign::run() {
  GossipCampaignResult result;
  ParallelSimOptions sim_options;
  sim_options.seed = options_.seed;
  sim_options.partitions = threads_;
  sim_options.lookahead_us = lookahead_us();
  publish_rng_ = Rng(options_.seed ^ 0x7075626c69736800ULL);  // "publish"
  auto created = ParallelSimulator::create(
      sim_options,
      [this](const NodeId& self, const DurableRecords& durable, std::uint64_t seed) {
        return make_core(self, durable, seed);
      },
      [this](std::uint32_t from, std::uint32_t to) { return geo_.link(from, to); });
  if (!created) {
    result.ok = false;
    result.error = created.status().to_string();
    return result;
  }
  world_ = std::move(*created);  // lives as long as the campaign: see leak_world_at_end
  ParallelSimulator& sim = *world_;
  sim_ = &sim;
  sim.set_core_event_sink([this](std::uint32_t partition, std::uint32_t node, Instant now, const CoreEvent& e) {
    on_event(partition, node, now, e);
  });
  falsely_dead_.assign(options_.nodes, false);
  if (options_.check_invariants) {
    sim.set_observer([this](std::uint32_t partition, std::uint32_t node, Instant) {
      const GossipCore* core = meter_.cores[node];
      if (core != nullptr && invariants_[partition].is_ok()) invariants_[partition] = gossip::check_invariants(*core);
    });
  }
  for (std::uint32_t i = 0; i < options_.nodes; ++i) {
    Status added = sim.add_node(ids_[i], partition_of(i));
    assert(added.is_ok());
  }
  plan_faults();
  for (const Victim& v : victims_) {
    Status s = sim.crash_at(ids_[v.node], instant_from_us(v.crash_us));
    if (s.is_ok() && std::isfinite(v.restart_s)) s = sim.restart(ids_[v.node], instant_from_us(v.restart_us));
    assert(s.is_ok());
  }
  const auto wall_start = std::chrono::steady_clock::now();
  double owed_updates = 0;
  Status status = Status::ok();
  Status invariant = Status::ok();
  const auto seconds = static_cast<std::int64_t>(std::ceil(options_.duration_s));
  for (std::int64_t t = 1; t <= seconds && status.is_ok() && invariant.is_ok(); ++t) {  // bounded by duration
    const double until_s = std::min(static_cast<double>(t), options_.duration_s);
    status = sim.run_until(instant_from_us(s_to_us(until_s)));
    judge_deaths();
    for (const Status& s : invariants_) {
      if (!s.is_ok() && invariant.is_ok()) invariant = s;
    }
    if (until_s >= 60.0 && vivaldi_at_60s_ < 0) vivaldi_at_60s_ = vivaldi_error(options_.seed);
    if (until_s >= options_.warmup_s && until_s + 10.0 <= options_.duration_s) {
      owed_updates += options_.updates_per_s;
      for (; owed_updates >= 1.0; owed_updates -= 1.0) publish_update(sim);
    }
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  if (!status.is_ok() || !invariant.is_ok()) {
    result.ok = false;
    result.error = !status.is_ok() ? status.to_string() : invariant.to_string();
  }
  finish(sim, result, wall_s);
  sim_ = nullptr;
  return result;
}

}  // namespace

Status validate_gossip_campaign_options(const GossipCampaignOptions& o) {
  if (o.nodes < 4 || o.nodes > 100'000) return invalid_argument("--nodes must be in [4, 100000]");
  if (!(o.loss >= 0 && o.loss < 1)) return invalid_argument("--loss must be in [0, 1)");
  if (!(o.slow_fraction >= 0 && o.slow_fraction <= 0.5)) return invalid_argument("--slow-frac must be in [0, 0.5]");
  if (!(o.duration_s >= 1 && o.duration_s <= 86'400)) return invalid_argument("--duration-s must be in [1, 86400]");
  if (!(o.warmup_s >= 0 && o.warmup_s < o.duration_s)) return invalid_argument("warmup must be shorter than the run");
  if (!(o.crash_fraction >= 0 && o.crash_fraction <= 0.25)) return invalid_argument("--crash-frac must be in [0, 0.25]");
  if (!(o.updates_per_s >= 0 && o.updates_per_s <= 1000)) return invalid_argument("--updates-per-s must be in [0, 1000]");
  if (o.profile != "wan" && o.profile != "lan") return invalid_argument("--profile must be wan or lan");
  if (o.threads > kThreadsMax) return invalid_argument("--threads must be in [0, " + std::to_string(kThreadsMax) + "]");
  return Status::ok();
}

std::uint32_t campaign_threads(const GossipCampaignOptions& options) {
  if (options.threads != 0) return options.threads;
  if (options.nodes < kParallelNodesMin) return 1;
  const unsigned cores = std::max(1U, std::thread::hardware_concurrency());
  return std::min<std::uint32_t>(cores, 2);
}

gossip::GossipConfig campaign_gossip_config(const GossipCampaignOptions& options) {
  return options.profile == "lan" ? gossip::lan_config() : gossip::wan_config();
}

GossipCampaignResult run_gossip_campaign(const GossipCampaignOptions& options) {
  assert(validate_gossip_campaign_options(options).is_ok());
  auto campaign = std::make_unique<Campaign>(options);
  GossipCampaignResult result = campaign->run();
  // Tearing down 10,000 cores is 100 million reference-count releases
  // over 10 GB of member tables, seconds of a run's wall time; a caller
  // about to exit may leave that to the kernel.
  if (options.leak_world_at_end) static_cast<void>(campaign.release());
  return result;
}

}  // namespace polder::sim
