#include "bench/consensus_cluster_member.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "consensus/consensus_core.h"
#include "node/clock.h"
#include "node/core_host.h"
#include "node/storage.h"
#include "node/transport.h"
#include "protocol/codec.h"
#include "protocol/identity.h"

namespace polder::bench {
namespace {

using consensus::ConsensusCore;
using consensus::InstanceKey;
using consensus::InstanceSpec;
using consensus::Value;
using node::CoreHost;

// Bounds of one event-loop turn (STYLE.md habit 6).
constexpr std::size_t kInboundPerTurnMax = 4096;
constexpr std::uint32_t kProposalsPerTurnMax = 4096;
constexpr std::int64_t kPollTimeoutMax_us = 20'000;
// A flush with no persist op reaches its first send in microseconds; one
// that wrote takes at least an fdatasync. Tells the two apart for the profile.
constexpr std::int64_t kCommitSeen_us = 30;

// Job ids encode (driver, sequence) so every member maps a decision back to
// the instance it measured; in contention mode all drivers share driver 0.
JobId job_id(std::uint64_t seq, std::uint8_t driver) {
  JobId::Bytes b{};
  std::memcpy(b.data(), &seq, sizeof seq);
  b[8] = driver;
  b[31] = 0x77;
  return JobId(b);
}

std::uint64_t seq_of(const JobId& job) {
  std::uint64_t seq = 0;
  std::memcpy(&seq, job.bytes().data(), sizeof seq);
  return seq;
}

std::uint8_t driver_of(const JobId& job) { return job.bytes()[8]; }

// CPU time of the calling thread: unlike wall time, not inflated when other
// processes take the core away.
std::int64_t thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

double cpu_seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}

// Time spent in each part of the loop: the harness's own profiler, since
// perf is not available on this machine.
struct LoopProfile {
  std::uint64_t turns = 0;
  std::uint64_t turns_with_inbound = 0;
  std::uint64_t inbound = 0;
  std::uint64_t flushes_with_sends = 0;
  std::int64_t poll_us = 0;     // waiting in and receiving from ZeroMQ
  std::int64_t decode_core_us = 0;  // envelope decode + ConsensusCore::receive/tick/propose/forget
  std::int64_t commit_us = 0;   // flush start -> first send: the synced RocksDB write
  std::uint64_t commits = 0;    // flushes whose commit took > kCommitSeen_us: a synced write happened
  std::int64_t flush_us = 0;    // whole CoreHost::flush: commit + encode/encrypt/send + events
  // Event-loop thread CPU (the rest of the process CPU is ZeroMQ's I/O
  // thread, which does the Curve crypto and the socket calls, and RocksDB's).
  std::int64_t poll_cpu_us = 0;
  std::int64_t decode_core_cpu_us = 0;
  std::int64_t flush_cpu_us = 0;
  std::int64_t commit_cpu_us = 0;  // the RocksDB write's own CPU (memtable, WAL), within flush_cpu_us
};

class Member {
 public:
  explicit Member(const MemberConfig& config) : config_(config) {}
  Status start();
  Status run();
  Status write_result() const;

 private:
  bool is_driver() const;
  // kContention: a member that does not duel proposes uncontended reference instances.
  bool is_reference() const;
  // The driver byte of the job ids this member proposes (and measures).
  std::uint8_t own_driver_byte() const;
  double offered_rate_per_s() const;
  std::uint32_t window() const;  // kThroughput: instances this driver keeps in flight
  InstanceSpec spec_for(std::uint64_t seq) const;
  node::CoreHostOptions host_options() const;
  void propose(std::uint64_t seq, std::int64_t now_us);
  void offer_load(std::int64_t now_us);
  std::int64_t poll_timeout_us(std::int64_t now_us) const;
  void receive(std::int64_t timeout_us);
  void on_chosen(const CoreEvent& event, std::int64_t now_us);

  const MemberConfig& config_;
  node::SystemClock clock_;
  Codec codec_;
  std::unique_ptr<node::Storage> storage_;
  std::unique_ptr<node::Transport> transport_;
  std::unique_ptr<CoreHost> host_;
  ConsensusCore* core_ = nullptr;  // owned by host_
  std::vector<CoreEvent> events_;  // filled by the host's sink during flush()
  std::optional<std::int64_t> first_send_us_;
  std::int64_t first_send_cpu_us_ = 0;

  std::uint64_t next_seq_ = 0;
  std::map<std::uint64_t, std::int64_t> in_flight_;  // seq -> propose time (us)
  std::vector<std::int64_t> latencies_us_;           // decisions learned inside the load window
  std::vector<std::pair<std::uint64_t, std::uint32_t>> ballots_;  // contention: seq -> own ballots tried
  std::uint64_t decided_after_window_ = 0;
  std::uint64_t propose_errors_ = 0;
  LoopProfile profile_;
};

bool Member::is_driver() const {
  return std::find(config_.drivers.begin(), config_.drivers.end(), config_.index) != config_.drivers.end();
}

bool Member::is_reference() const {
  return config_.mode == LoadMode::kContention && !is_driver() && config_.reference_rate_per_s > 0;
}

std::uint8_t Member::own_driver_byte() const {
  const bool duel = config_.mode == LoadMode::kContention && is_driver();
  return static_cast<std::uint8_t>(duel ? 0 : config_.index);
}

double Member::offered_rate_per_s() const {
  return is_reference() ? config_.reference_rate_per_s : config_.rate_per_s;
}

InstanceSpec Member::spec_for(std::uint64_t seq) const {
  const bool duel = config_.mode == LoadMode::kContention && is_driver();
  const int origin = duel ? config_.drivers.front() : config_.index;
  InstanceSpec spec;
  spec.key = InstanceKey{job_id(seq, own_driver_byte()), Attempt{0}};
  spec.replicas = config_.ids;
  std::sort(spec.replicas.begin(), spec.replicas.end());
  spec.origin = config_.ids[static_cast<std::size_t>(origin)];
  return spec;
}

node::CoreHostOptions Member::host_options() const {
  node::CoreHostOptions o;
  o.pipelined = config_.pipelined;
  if (config_.bundle) {
    o.bundle = [](std::span<const Bytes> messages) { return consensus::encode_batch(messages); };
    o.bundle_messages_max = consensus::kBatchMessagesMax;
    o.bundle_bytes_max = consensus::kBatchBytesMax;
  }
  return o;
}

Status Member::start() {
  const std::string base = config_.dir + "/";
  auto identity = Identity::load(base + "key-" + std::to_string(config_.index));
  if (!identity) return identity.status();
  auto storage = node::Storage::open(base + "db-" + std::to_string(config_.index));
  if (!storage) return storage.status();
  storage_ = std::move(*storage);
  node::TransportOptions options;
  options.listen = "tcp://127.0.0.1:" + std::to_string(config_.ports[static_cast<std::size_t>(config_.index)]);
  options.send_hwm = 100'000;  // a burst of 64+ instances must not be dropped at the socket
  options.recv_hwm = 100'000;
  auto transport = node::Transport::create(*identity, options);
  if (!transport) return transport.status();
  transport_ = std::move(*transport);
  for (std::size_t i = 0; i < config_.ids.size(); ++i) {
    if (static_cast<int>(i) == config_.index) continue;
    POLDER_RETURN_IF_ERROR(
        transport_->connect_peer(config_.ids[i], "tcp://127.0.0.1:" + std::to_string(config_.ports[i])));
  }
  consensus::ConsensusOptions copts;
  copts.rtt_us = config_.rtt_us;
  copts.rtt_adaptive = config_.rtt_adaptive;
  copts.retention_us = config_.retention_us;
  auto durable = storage_->load_all(Column::kAcceptor);
  if (!durable) return durable.status();
  auto core = ConsensusCore::create(identity->id(), copts, *durable, 0x5eed0000ULL + static_cast<std::uint64_t>(config_.index));
  if (!core) return core.status();
  core_ = core->get();
  host_ = std::make_unique<CoreHost>(
      "consensus", std::move(*core), identity->id(), *storage_, *transport_, codec_,
      [this](Bytes b) {
        if (!first_send_us_) {
          first_send_us_ = steady_now_us();
          first_send_cpu_us_ = thread_cpu_us();
        }
        return Payload(ConsensusPayload{std::move(b)});
      },
      [this](const CoreEvent& e) { events_.push_back(e); }, host_options());
  return Status::ok();
}

std::uint32_t Member::window() const {
  // The total in-flight window is split over the drivers, the first ones
  // taking the remainder.
  const auto drivers = static_cast<std::uint32_t>(config_.drivers.size());
  const auto rank = static_cast<std::uint32_t>(
      std::find(config_.drivers.begin(), config_.drivers.end(), config_.index) - config_.drivers.begin());
  return config_.concurrency / drivers + (rank < config_.concurrency % drivers ? 1 : 0);
}

void Member::propose(std::uint64_t seq, std::int64_t now_us) {
  // Throughput: "assign job j to node j mod 3". Contention: each proposer
  // names itself, so the two values of every instance differ.
  const std::size_t executor_index = config_.mode == LoadMode::kContention
                                         ? static_cast<std::size_t>(config_.index)
                                         : static_cast<std::size_t>(seq % config_.ids.size());
  const NodeId& executor = config_.ids[executor_index];
  auto effects = core_->propose(spec_for(seq), Value::run(executor, seq + 1), instant_from_us(now_us));
  if (!effects) {
    ++propose_errors_;
    spdlog::error("member {}: propose {} failed: {}", config_.index, seq, effects.status().to_string());
    return;
  }
  in_flight_[seq] = now_us;
  host_->apply(std::move(*effects));
}

// Proposes what the load model asks for by now (bounded per turn).
void Member::offer_load(std::int64_t now_us) {
  if ((!is_driver() && !is_reference()) || now_us < config_.start_us ||
      now_us >= config_.start_us + config_.seconds_us) {
    return;
  }
  std::uint32_t proposed = 0;
  if (config_.mode == LoadMode::kThroughput) {
    while (in_flight_.size() < window() && proposed++ < kProposalsPerTurnMax) propose(next_seq_++, now_us);
    return;
  }
  const double interval_us = 1e6 / offered_rate_per_s();
  while (proposed++ < kProposalsPerTurnMax &&
         config_.start_us + static_cast<std::int64_t>(static_cast<double>(next_seq_) * interval_us) <= now_us) {
    propose(next_seq_++, now_us);
  }
}

std::int64_t Member::poll_timeout_us(std::int64_t now_us) const {
  std::int64_t until = kPollTimeoutMax_us;
  if (auto wake = host_->next_wake()) until = std::min(until, to_us(*wake) - now_us);
  const std::int64_t load_end = config_.start_us + config_.seconds_us;
  if ((is_driver() || is_reference()) && now_us < load_end) {
    if (now_us < config_.start_us) {
      until = std::min(until, config_.start_us - now_us);
    } else if (config_.mode == LoadMode::kThroughput) {
      if (in_flight_.size() < window()) until = 0;
    } else {
      const double interval_us = 1e6 / offered_rate_per_s();
      const auto due = config_.start_us + static_cast<std::int64_t>(static_cast<double>(next_seq_) * interval_us);
      until = std::min(until, due - now_us);
    }
  }
  return std::max<std::int64_t>(until, 0);
}

void Member::receive(std::int64_t timeout_us) {
  const std::int64_t t0 = steady_now_us();
  const std::int64_t c0 = thread_cpu_us();
  // ZeroMQ polls in whole milliseconds: round up so a due timer is not missed
  // by a busy loop, and use 0 only when there is work now.
  const auto timeout = std::chrono::milliseconds((timeout_us + 999) / 1000);
  auto inbound = transport_->poll(timeout, kInboundPerTurnMax, host_->completion_fd());
  const std::int64_t t1 = steady_now_us();
  const std::int64_t c1 = thread_cpu_us();
  profile_.poll_us += t1 - t0;
  profile_.poll_cpu_us += c1 - c0;
  profile_.inbound += inbound.size();
  profile_.turns_with_inbound += inbound.empty() ? 0 : 1;
  const Instant now = clock_.now();
  for (const auto& in : inbound) {
    auto envelope = codec_.decode(in.bytes);
    if (!envelope || envelope->sender != in.from) continue;
    if (auto* c = std::get_if<ConsensusPayload>(&envelope->payload)) host_->deliver(in.from, c->bytes, now);
  }
  profile_.decode_core_us += steady_now_us() - t1;
  profile_.decode_core_cpu_us += thread_cpu_us() - c1;
}

void Member::on_chosen(const CoreEvent& event, std::int64_t now_us) {
  auto chosen = consensus::parse_chosen_event(event);
  if (!chosen) return;
  const std::uint64_t seq = seq_of(chosen->key.job);
  // Another member's instances (the duels, or the reference ones) share sequence numbers.
  auto it = driver_of(chosen->key.job) == own_driver_byte() ? in_flight_.find(seq) : in_flight_.end();
  if (it != in_flight_.end()) {
    if (now_us <= config_.start_us + config_.seconds_us) {
      latencies_us_.push_back(now_us - it->second);
    } else {
      ++decided_after_window_;
    }
    if (config_.mode == LoadMode::kContention && is_driver()) {
      const auto* inst = core_->instance(chosen->key);
      ballots_.emplace_back(seq, inst ? inst->proposer.ballots_tried() : 0);
    }
    in_flight_.erase(it);
  }
  host_->apply(core_->forget(chosen->key.job, instant_from_us(now_us)));
}

Status Member::run() {
  const std::int64_t stop_us = config_.start_us + config_.seconds_us + config_.grace_us;
  for (std::int64_t now_us = steady_now_us(); now_us < stop_us; now_us = steady_now_us()) {
    ++profile_.turns;
    // Timers first, then the messages: what a tick persists (the decision
    // records of instances decided last turn) rides this turn's fsync, and
    // a turn that only delivers Accepted messages writes nothing, so the
    // chosen event it raises does not wait for a disk write.
    // A turn that ticked does not wait in poll: its effects leave now.
    // (--daemon-order ticks after delivering instead, as Daemon::turn does,
    // to measure what the order costs.)
    const auto wake = host_->next_wake();
    const bool tick_due = wake && to_us(*wake) <= now_us;  // no wake: the tick has nothing to do
    if (!config_.daemon_order) host_->tick_if_due(instant_from_us(now_us));
    receive(tick_due ? 0 : poll_timeout_us(now_us));
    const std::int64_t t0 = steady_now_us();
    const std::int64_t c0 = thread_cpu_us();
    // Pipelined: what became durable while we waited leaves now.
    POLDER_RETURN_IF_ERROR(host_->complete(clock_.wall_us()));
    host_->deliver_loopback(instant_from_us(t0));
    if (config_.daemon_order) host_->tick_if_due(instant_from_us(t0));
    offer_load(t0);
    const std::int64_t t1 = steady_now_us();
    const std::int64_t c1 = thread_cpu_us();
    first_send_us_.reset();
    POLDER_RETURN_IF_ERROR(host_->flush(clock_.wall_us()));
    const std::int64_t t2 = steady_now_us();
    const std::int64_t c2 = thread_cpu_us();
    profile_.decode_core_cpu_us += c1 - c0;
    profile_.flush_cpu_us += c2 - c1;
    profile_.decode_core_us += t1 - t0;
    profile_.flush_us += t2 - t1;
    if (first_send_us_) {
      ++profile_.flushes_with_sends;
      profile_.commit_us += *first_send_us_ - t1;
      profile_.commits += *first_send_us_ - t1 > kCommitSeen_us ? 1 : 0;
      profile_.commit_cpu_us += first_send_cpu_us_ - c1;
    }
    std::vector<CoreEvent> events;
    events.swap(events_);
    for (const auto& e : events) {
      if (e.kind == consensus::kChosenEventKind) on_chosen(e, t2);
    }
  }
  POLDER_RETURN_IF_ERROR(host_->drain(clock_.wall_us()));
  return storage_->close();
}

Status Member::write_result() const {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  nlohmann::ordered_json j;
  j["index"] = config_.index;
  j["driver"] = is_driver();
  j["reference"] = is_reference();
  j["proposed"] = next_seq_;
  j["latencies_us"] = latencies_us_;
  j["decided_after_window"] = decided_after_window_;
  j["undecided_at_end"] = in_flight_.size();
  j["propose_errors"] = propose_errors_;
  j["ballots"] = ballots_;
  const auto& c = core_->counters();
  j["core"] = {{"decided", c.decided},           {"fast_proposals", c.fast_proposals},
               {"prepares_started", c.prepares_started}, {"takeovers", c.takeovers},
               {"messages_received", c.messages_received}, {"announcements", c.announcements},
               {"instances_left", core_->instances().size()},
               {"rtt_unit_us_at_end", core_->rtt_unit_us()}};
  const auto& t = transport_->counters();
  j["transport"] = {{"sent", t.sent}, {"received", t.received}, {"dropped_send_full", t.dropped_send_full},
                    {"dropped_unknown_peer", t.dropped_unknown_peer}};
  j["loop"] = {{"turns", profile_.turns},
               {"turns_with_inbound", profile_.turns_with_inbound},
               {"inbound", profile_.inbound},
               {"flushes_with_sends", profile_.flushes_with_sends},
               {"poll_s", static_cast<double>(profile_.poll_us) * 1e-6},
               {"decode_core_s", static_cast<double>(profile_.decode_core_us) * 1e-6},
               {"commit_s", static_cast<double>(profile_.commit_us) * 1e-6},
               {"commits", profile_.commits},
               {"pipelined", config_.pipelined},
               {"synced_writes", host_->writes()},
               {"messages_bundled", host_->messages_bundled()},
               {"commit_ms_avg", profile_.commits ? static_cast<double>(profile_.commit_us) / 1e3 /
                                                        static_cast<double>(profile_.commits) : 0.0},
               {"flush_s", static_cast<double>(profile_.flush_us) * 1e-6},
               {"poll_cpu_s", static_cast<double>(profile_.poll_cpu_us) * 1e-6},
               {"decode_core_cpu_s", static_cast<double>(profile_.decode_core_cpu_us) * 1e-6},
               {"flush_cpu_s", static_cast<double>(profile_.flush_cpu_us) * 1e-6},
               {"commit_cpu_s", static_cast<double>(profile_.commit_cpu_us) * 1e-6},
               {"cpu_user_s", cpu_seconds(usage.ru_utime)},
               {"cpu_sys_s", cpu_seconds(usage.ru_stime)},
               {"ctx_switches_voluntary", usage.ru_nvcsw},
               {"ctx_switches_involuntary", usage.ru_nivcsw}};
  const std::string path = config_.dir + "/result-" + std::to_string(config_.index) + ".json";
  std::ofstream out(path + ".tmp");
  out << j.dump() << "\n";
  out.close();
  if (!out) return unavailable("cannot write " + path);
  if (std::rename((path + ".tmp").c_str(), path.c_str()) != 0) return unavailable("cannot rename to " + path);
  return Status::ok();
}

}  // namespace

std::int64_t steady_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Status run_member(const MemberConfig& config) {
  spdlog::set_level(spdlog::level::warn);
  Member member(config);
  POLDER_RETURN_IF_ERROR(member.start());
  POLDER_RETURN_IF_ERROR(member.run());
  return member.write_result();
}

}  // namespace polder::bench
