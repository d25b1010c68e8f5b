#include "node/daemon.h"

#include "consensus/wire.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

#include "node/job_auth.h"
#include "node/job_outbox.h"
#include "node/record_verifier.h"
#include "node/vote_filter.h"
#include "protocol/revocation.h"

namespace polder::node {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kMaxMessagesPerPoll = 256;
constexpr auto kPollTimeoutMax = 100ms;
constexpr auto kLeaveGrace = 500ms;  // keep gossiping the leave this long
constexpr std::string_view kMetaNodeIdKey = "node_id";
constexpr std::string_view kMetaRevocationPrefix = "revocation/";  // + revoked key hex: the SignedRecord
constexpr auto kRevocationPushEvery = 5s;
constexpr std::string_view kMetaReplayPrefix = "replay/peer/";  // + sender key hex: 8 bytes, highest number seen
// After a crash, senders are refused below (start - this): what a member
// sends is numbered no lower than its clock, so this much skew is allowed.
constexpr std::int64_t kPeerClockSkewUs = 300'000'000;
// One reply holds this many members (each ~0.5 KiB, well under 1 MiB).
constexpr std::size_t kMembersPerReplyMax = 1000;

// The data dir belongs to one key: refuse to run a different key over it.
Status check_data_dir_owner(Storage& storage, const NodeId& self, const std::string& dir) {
  auto stored = storage.get(Column::kMeta, kMetaNodeIdKey);
  if (!stored) return stored.status();
  if (!stored->has_value()) {
    return storage.put(Column::kMeta, kMetaNodeIdKey, self.span(), Durability::kSync);
  }
  auto owner = NodeId::from_bytes(**stored);
  if (!owner) return data_loss("storage " + dir + " has a corrupt node_id record");
  if (*owner != self) {
    return failed_precondition("storage " + dir + " belongs to node " + owner->short_hex() + ", not to this key (" +
                               self.short_hex() + "); use the right key_file or a fresh data_dir");
  }
  return Status::ok();
}

// "<64 hex id> <incarnation> <sequence>" -> id.
std::optional<NodeId> event_subject(const CoreEvent& event) {
  std::istringstream in(event.detail);
  std::string hex;
  in >> hex;
  auto id = NodeId::from_hex(hex);
  if (!id) return std::nullopt;
  return *id;
}

// The [gossip] profile with the config's overrides applied.
Result<gossip::GossipConfig> gossip_config_from(const NodeConfig& c) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  gossip::GossipConfig g = c.gossip_profile == "wan" ? gossip::wan_config() : gossip::lan_config();
  if (c.gossip_probe_interval_ms) {
    // A probe must end within its protocol period (SWIM): the deadline follows.
    g.probe_interval = milliseconds(*c.gossip_probe_interval_ms);
    g.probe_deadline = g.probe_interval;
    g.probe_timeout = std::min(g.probe_timeout, g.probe_deadline / 2);
  }
  if (c.gossip_probe_timeout_ms) g.probe_timeout = milliseconds(*c.gossip_probe_timeout_ms);
  if (c.gossip_suspicion_mult) g.suspicion_mult = *c.gossip_suspicion_mult;
  if (c.gossip_interval_ms) g.gossip_interval = milliseconds(*c.gossip_interval_ms);
  if (c.gossip_fanout) g.gossip_fanout = static_cast<std::uint32_t>(*c.gossip_fanout);
  if (c.gossip_retransmit_mult) g.retransmit_mult = *c.gossip_retransmit_mult;
  if (c.gossip_push_pull_interval_s) g.push_pull_interval = seconds(*c.gossip_push_pull_interval_s);
  if (c.gossip_dead_reap_after_s) g.dead_reap_after = seconds(*c.gossip_dead_reap_after_s);
  Status valid = gossip::validate_gossip_config(g);
  if (!valid.is_ok()) return invalid_argument(c.config_path + ": [gossip]: " + valid.message());
  return g;
}

}  // namespace

Daemon::Daemon(NodeConfig config, Identity identity, std::unique_ptr<Clock> clock)
    : config_(std::move(config)),
      identity_(std::move(identity)),
      clock_(std::move(clock)),
      codec_(CodecLimits{.max_message_bytes = config_.max_message_bytes}),
      started_at_(clock_->now()),
      peer_limits_(RateLimits{static_cast<double>(config_.limits_peer_messages_per_s),
                              static_cast<double>(config_.limits_peer_bytes_per_s),
                              std::chrono::seconds(config_.limits_ban_s)}),
      client_limits_(RateLimits{static_cast<double>(config_.limits_client_messages_per_s),
                                static_cast<double>(config_.limits_client_bytes_per_s),
                                std::chrono::seconds(config_.limits_ban_s)}) {}

Daemon::~Daemon() = default;

Result<std::unique_ptr<Daemon>> Daemon::start(const NodeConfig& config, std::unique_ptr<Clock> clock,
                                              const std::string& invitation_file) {
  auto identity = Identity::load(config.key_file);
  if (!identity) return Status(identity.status().code(), "node key: " + identity.status().message());
  std::unique_ptr<Daemon> d(new Daemon(config, std::move(*identity), std::move(clock)));
  d->peer_message_id_ = static_cast<std::uint64_t>(std::max<std::int64_t>(d->clock_->wall_us(), 1));

  auto storage = Storage::open(config.data_dir);
  if (!storage) return storage.status();
  d->storage_ = std::move(*storage);
  POLDER_RETURN_IF_ERROR(finish_key_rotation(d->config_, *d->storage_, d->identity_));
  POLDER_RETURN_IF_ERROR(check_data_dir_owner(*d->storage_, d->id(), config.data_dir));
  // The own invitation first: it may name members and founders.
  POLDER_RETURN_IF_ERROR(d->load_own_invitation(invitation_file));
  d->revocations_ = std::make_unique<RevocationList>(d->config_.founders);
  POLDER_RETURN_IF_ERROR(d->load_revocations());
  POLDER_RETURN_IF_ERROR(d->load_replay_windows());
  POLDER_RETURN_IF_ERROR(d->load_invitations());

  TransportOptions topts;
  topts.listen = config.listen;
  topts.client_listen = config.client_listen;
  topts.send_hwm = config.send_hwm;
  topts.recv_hwm = config.send_hwm;
  topts.reconnect_ivl_ms = config.reconnect_ivl_ms;
  topts.max_message_bytes = static_cast<std::int64_t>(config.max_message_bytes);
  auto transport = Transport::create(d->identity_, topts);
  if (!transport) return transport.status();
  d->transport_ = std::move(*transport);

  for (const auto& key : d->config_.members) d->transport_->allow_peer(key);
  for (const auto* entry : d->invitations_->entries()) {
    d->transport_->allow_peer(entry->invitation.invitee);
    if (!entry->redeemed) continue;
    if (const auto& old_key = entry->invitation.replaces; old_key && *old_key != d->id()) d->cut_off(*old_key);
  }
  for (const auto& key : config.authorized_keys) d->transport_->allow_client(key);
  for (const auto& record : d->revocations_->records()) {
    if (auto r = open_revocation(record)) d->cut_off(r->revoked);
  }
  for (const auto& seed : d->config_.seeds) {
    if (seed.key == d->id() || d->revocations_->revoked(seed.key)) continue;
    POLDER_RETURN_IF_ERROR(d->transport_->connect_peer(seed.key, seed.address));
  }
  POLDER_RETURN_IF_ERROR(d->start_gossip());
  POLDER_RETURN_IF_ERROR(d->start_consensus());
  POLDER_RETURN_IF_ERROR(d->start_jobs());
  d->event_ring_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(200);
  d->event_ring_->set_level(spdlog::level::info);
  d->event_ring_->set_pattern("%H:%M:%S %l %v");
  spdlog::default_logger()->sinks().push_back(d->event_ring_);
  if (!config.http_listen.empty()) {
    d->http_ = std::make_unique<HttpServer>();
    if (Status s = d->http_->start(config.http_listen); !s.is_ok()) {
      // Observability must not take the node down: say so loudly and go on.
      spdlog::error("{}; /metrics, /healthz and the dashboard are off", s.message());
      d->http_.reset();
    } else {
      spdlog::info("http: metrics, health and dashboard on http://{}/", config.http_listen);
    }
  }
  spdlog::info("node {} ({}) listening for peers on {} and clients on {}; {} seed peer(s), {} member key(s), "
               "{} client key(s); gossip incarnation {}",
               config.name, d->id().short_hex(), config.listen, config.client_listen, d->config_.seeds.size(),
               d->config_.members.size() + d->invitations_->size(), config.authorized_keys.size(), d->gossip_->incarnation());
  return d;
}

NodeRecord Daemon::own_record() const {
  NodeRecord r;
  r.node_id = id();
  r.incarnation = gossip_ ? gossip_->incarnation() : 0;
  // Wall-clock µs: a restarted node's records are newer than its old ones.
  r.sequence = static_cast<std::uint64_t>(clock_->wall_us());
  r.name = config_.name;
  r.operator_name = config_.operator_name;
  r.region = config_.region;
  r.address = config_.advertise.empty() ? config_.listen : config_.advertise;
  if (jobs_) {
    r.accelerators = jobs_->accelerators();
    r.queue_length = jobs_->queue_length();
    r.expected_wait_ms = jobs_->expected_wait_ms();
  } else {
    for (const auto& gpu : config_.gpus) r.accelerators.push_back({gpu.type, gpu.count, gpu.count});
  }
  r.cpus = config_.cpus;
  r.memory_bytes = config_.memory_bytes;
  if (gossip_) {
    for (const auto& [peer, bps] : gossip_->measured_links()) {
      if (r.links.size() >= kRecordLinksMax) break;
      r.links.push_back({peer, bps});
    }
  }
  return r;
}

Status Daemon::start_gossip() {
  auto config = gossip_config_from(config_);
  if (!config) return config.status();
  gossip::GossipOptions options;
  options.config = *config;
  options.verifier = std::make_shared<Ed25519RecordVerifier>([this](const NodeId& key) -> std::optional<std::string> {
    const auto* entry = invitations_ ? invitations_->find(key) : nullptr;
    if (!entry) return std::nullopt;
    return entry->invitation.operator_name;
  });
  options.admit = [this](const NodeId& key) { return transport_->peer_allowed(key); };
  for (const auto& seed : config_.seeds) {
    if (seed.key != id()) options.initial_members.emplace_back(seed.key, nullptr);
  }
  auto durable = storage_->load_all(Column::kMeta);
  if (!durable) return durable.status();
  auto core = gossip::GossipCore::create(id(), std::move(options), *durable, clock_->wall_us() ^ 0x9e3779b97f4a7c15ULL);
  if (!core) return Status(core.status().code(), "gossip: " + core.status().message());
  gossip_ = core->get();
  gossip_host_ = std::make_unique<CoreHost>(
      "gossip", std::move(*core), id(), *storage_, *transport_, codec_,
      [](Bytes b) { return Payload(GossipPayload{std::move(b)}); },
      [this](const CoreEvent& e) { on_gossip_event(e); });
  gossip_host_->use_message_ids(&peer_message_id_);
  auto record = seal_gossiped_record(identity_, own_record());
  if (!record) return record.status();
  Status published;
  gossip_host_->apply(gossip_->set_own_record(*record, clock_->now(), &published));
  if (!published.is_ok()) return Status(published.code(), "gossip: own record refused: " + published.message());
  return Status::ok();
}

Status Daemon::start_consensus() {
  auto durable = storage_->load_all(Column::kAcceptor);
  if (!durable) return durable.status();
  consensus::ConsensusOptions options;
  // The timeout unit must cover a loaded node's decision time (two fsyncs
  // and queueing), not just the wire RTT, or proposers duel and take over
  // needlessly under load (measured by bench/consensus_cluster).
  options.rtt_us = 50'000;
  auto core = consensus::ConsensusCore::create(id(), options, *durable, clock_->wall_us() ^ 0x51ed270b27a1c5e3ULL);
  if (!core) return Status(core.status().code(), "consensus: " + core.status().message());
  consensus_ = core->get();
  // Pipelined group commit and one envelope per peer per flush, as measured
  // by bench/consensus_cluster (docs/benchmarks.md); turn() keeps the job
  // records' durability ahead of what depends on them.
  CoreHostOptions host_options;
  host_options.pipelined = true;
  host_options.bundle = [](std::span<const Bytes> messages) { return consensus::encode_batch(messages); };
  host_options.bundle_messages_max = consensus::kBatchMessagesMax;
  host_options.bundle_bytes_max = std::min<std::size_t>(consensus::kBatchBytesMax, config_.max_message_bytes / 2);
  consensus_host_ = std::make_unique<CoreHost>(
      "consensus", std::move(*core), id(), *storage_, *transport_, codec_,
      [](Bytes b) { return Payload(ConsensusPayload{std::move(b)}); },
      [this](const CoreEvent& e) { on_consensus_event(e); }, std::move(host_options));
  consensus_host_->use_message_ids(&peer_message_id_);
  if (!durable->empty()) spdlog::info("consensus: restored {} acceptor record(s)", durable->size());
  return Status::ok();
}

Status Daemon::start_jobs() {
  JobManagerDeps deps;
  deps.self = id();
  deps.config = &config_;
  deps.storage = storage_.get();
  deps.gossip = gossip_;
  deps.consensus = consensus_;
  deps.consensus_host = consensus_host_.get();
  deps.send = [this](const NodeId& to, JobMessage m) { send_job(to, std::move(m)); };
  deps.reply = [this](const ClientRef& c, Payload p) { reply_client(c, std::move(p)); };
  auto jobs = JobManager::create(std::move(deps), clock_->now(), clock_->wall_us());
  if (!jobs) return jobs.status();
  jobs_ = std::move(*jobs);
  return Status::ok();
}

// Job messages wait in job_outbox_ until turn() releases them (after the
// records they depend on are durable, as before); then each peer's leave as
// one envelope, a JobBatch (a lone message as itself): one encryption and one
// ZMQ message per peer instead of one per message.
void Daemon::send_job(const NodeId& to, JobMessage message) { job_outbox_.emplace_back(to, std::move(message)); }

void Daemon::send_job_outbox() {
  if (job_outbox_.empty()) return;
  std::vector<std::pair<NodeId, JobMessage>> outbox;
  outbox.swap(job_outbox_);
  for (auto& bundle : bundle_by_peer(std::move(outbox), kJobBatchMessagesMax)) {
    send_job_messages(bundle.to, std::move(bundle.messages));
  }
}

// One envelope, or its halves when over max_message_bytes (node/job_outbox.h).
void Daemon::send_job_messages(const NodeId& to, std::vector<JobMessage> messages) {
  auto encoded = encode_bundle(std::move(messages), codec_, [&](Payload p) { return envelope(std::move(p), 0); });
  for (const auto& refused : encoded.refused) spdlog::error("cannot encode a job message: {}", refused.to_string());
  for (auto& e : encoded.envelopes) {
    ++job_envelopes_sent_;
    job_messages_sent_ += e.messages;
    Status s = transport_->send_to_peer(to, e.bytes);
    if (!s.is_ok()) spdlog::debug("{} job message(s) to {}: {}", e.messages, to.short_hex(), s.message());
  }
}

void Daemon::reply_client(const ClientRef& client, Payload payload) {
  auto bytes = codec_.encode(envelope(std::move(payload), client.message_id));
  if (!bytes) {
    spdlog::error("cannot encode reply: {}", bytes.status().to_string());
    bytes = codec_.encode(envelope(ErrorReply{static_cast<std::uint16_t>(bytes.status().code()),
                                              "reply too large: " + bytes.status().message()},
                                   client.message_id));
    if (!bytes) return;
  }
  Status sent = transport_->reply_to_client(client.routing_id, *bytes);
  if (!sent.is_ok()) spdlog::debug("client reply: {}", sent.to_string());
}

void Daemon::on_consensus_event(const CoreEvent& event) {
  auto chosen = consensus::parse_chosen_event(event);
  if (!chosen) return;
  jobs_->on_chosen(*chosen, clock_->now(), clock_->wall_us());
}

void Daemon::publish_own_record(Instant now) {
  constexpr auto kRepublishMin = std::chrono::milliseconds(250);
  if (now - record_published_at_ < kRepublishMin) return;
  const bool links_changed = gossip_->take_links_changed();
  if (!jobs_->take_capacity_changed() && !links_changed) return;
  record_published_at_ = now;
  auto record = seal_gossiped_record(identity_, own_record());
  if (!record) return;
  Status published;
  gossip_host_->apply(gossip_->set_own_record(*record, now, &published));
  if (!published.is_ok()) spdlog::warn("own record refused: {}", published.message());
}

void Daemon::publish_snapshot(Instant now) {
  constexpr auto kEvery = std::chrono::milliseconds(500);
  if (!http_ || now - snapshot_at_ < kEvery) return;
  snapshot_at_ = now;
  Snapshot s;
  s.metrics = metrics_text();
  s.nodes_json = nodes_json();
  s.jobs_json = jobs_json();
  nlohmann::json events = nlohmann::json::array();
  for (auto& line : event_ring_->last_formatted()) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    events.push_back(line);
  }
  s.events_json = nlohmann::json{{"events", events}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  http_->publish(std::move(s));
}

std::string Daemon::metrics_text() const {
  std::string out;
  auto metric = [&out](const std::string& name, const std::string& type, const std::string& help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto sample = [&out](const std::string& name, const std::string& labels, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + buf + "\n";
  };
  std::map<std::string, std::size_t> by_state{{"alive", 0}, {"suspect", 0}, {"dead", 0}, {"left", 0}};
  for (const auto& m : gossip_->members()) ++by_state[gossip::member_state_name(m.state)];
  metric("polder_members", "gauge", "Members of the federation as this node sees them, by state.");
  for (const auto& [state, n] : by_state) sample("polder_members", "state=\"" + state + "\"", static_cast<double>(n));
  const auto& g = gossip_->counters();
  metric("polder_gossip_messages_total", "counter", "Gossip messages sent and received.");
  sample("polder_gossip_messages_total", "direction=\"sent\"", static_cast<double>(g.messages_sent));
  sample("polder_gossip_messages_total", "direction=\"received\"", static_cast<double>(g.messages_received));
  metric("polder_gossip_bytes_total", "counter", "Gossip bytes sent and received.");
  sample("polder_gossip_bytes_total", "direction=\"sent\"", static_cast<double>(g.bytes_sent));
  sample("polder_gossip_bytes_total", "direction=\"received\"", static_cast<double>(g.bytes_received));
  metric("polder_gossip_probes_total", "counter", "SWIM probes, indirect probes and failed probes.");
  sample("polder_gossip_probes_total", "kind=\"direct\"", static_cast<double>(g.probes));
  sample("polder_gossip_probes_total", "kind=\"indirect\"", static_cast<double>(g.probes_indirect));
  sample("polder_gossip_probes_total", "kind=\"failed\"", static_cast<double>(g.probes_failed));
  metric("polder_gossip_suspicions_total", "counter", "Members this node started to suspect.");
  sample("polder_gossip_suspicions_total", "", static_cast<double>(g.suspicions));
  metric("polder_gossip_records_rejected_total", "counter", "Capacity records dropped, by reason.");
  sample("polder_gossip_records_rejected_total", "reason=\"bad_signature\"", static_cast<double>(g.records_bad_signature));
  sample("polder_gossip_records_rejected_total", "reason=\"foreign\"", static_cast<double>(g.records_foreign));
  sample("polder_gossip_records_rejected_total", "reason=\"oversized\"", static_cast<double>(g.records_oversized));
  sample("polder_gossip_records_rejected_total", "reason=\"replayed\"", static_cast<double>(g.records_replayed));
  const auto& c = consensus_->counters();
  metric("polder_consensus_decisions_total", "counter", "Instances this node learned chosen.");
  sample("polder_consensus_decisions_total", "", static_cast<double>(c.decided));
  metric("polder_consensus_instances", "gauge", "Paxos instances held in memory.");
  sample("polder_consensus_instances", "", static_cast<double>(consensus_->instances().size()));
  metric("polder_consensus_ignored_total", "counter", "Consensus messages ignored, by reason.");
  sample("polder_consensus_ignored_total", "reason=\"malformed\"", static_cast<double>(c.malformed_dropped));
  sample("polder_consensus_ignored_total", "reason=\"non_member\"", static_cast<double>(c.non_member_ignored));
  sample("polder_consensus_ignored_total", "reason=\"bad_ballot\"", static_cast<double>(c.bad_ballot_ignored));
  const auto& j = jobs_->counters();
  auto histogram = [&](const std::string& name, const std::string& help, const LatencyHistogram& h) {
    metric(name, "histogram", help);
    for (std::size_t i = 0; i < std::size(LatencyHistogram::kBucketsMs); ++i) {
      char le[32];
      std::snprintf(le, sizeof le, "%g", LatencyHistogram::kBucketsMs[i] / 1000.0);
      sample(name + "_bucket", std::string("le=\"") + le + "\"", static_cast<double>(h.counts[i]));
    }
    sample(name + "_bucket", "le=\"+Inf\"", static_cast<double>(h.total));
    sample(name + "_sum", "", h.sum_ms / 1000.0);
    sample(name + "_count", "", static_cast<double>(h.total));
  };
  histogram("polder_consensus_decision_seconds", "Propose to chosen, for this node's proposals.", j.decision_ms);
  histogram("polder_job_submit_to_running_seconds", "Submit acknowledged to running, for jobs submitted here.",
            j.submit_to_running_ms);
  std::map<std::string, std::size_t> jobs_by_state{{"queued", 0}, {"placed", 0}, {"running", 0},
                                                    {"finished", 0}, {"failed", 0}, {"cancelled", 0}};
  for (const auto& [state, n] : jobs_->counts_by_state()) jobs_by_state[state] = n;
  metric("polder_jobs", "gauge", "Jobs this node holds (as origin, replica or executor), by state.");
  for (const auto& [state, n] : jobs_by_state) sample("polder_jobs", "state=\"" + state + "\"", static_cast<double>(n));
  metric("polder_jobs_events_total", "counter", "Job lifecycle events at this node.");
  sample("polder_jobs_events_total", "event=\"submitted\"", static_cast<double>(j.submitted));
  sample("polder_jobs_events_total", "event=\"refused\"", static_cast<double>(j.refused));
  sample("polder_jobs_events_total", "event=\"attempt_started\"", static_cast<double>(j.attempts_started));
  sample("polder_jobs_events_total", "event=\"failover\"", static_cast<double>(j.failovers));
  sample("polder_jobs_events_total", "event=\"retry\"", static_cast<double>(j.retries));
  sample("polder_jobs_events_total", "event=\"stale_update_refused\"", static_cast<double>(j.stale_updates_refused));
  sample("polder_jobs_events_total", "event=\"offload\"", static_cast<double>(j.offloads));
  sample("polder_jobs_events_total", "event=\"lease_vote_withheld\"", static_cast<double>(j.lease_votes_withheld));
  sample("polder_jobs_events_total", "event=\"lease_refused\"", static_cast<double>(j.lease_refusals));
  sample("polder_jobs_events_total", "event=\"lease_lapsed\"", static_cast<double>(j.lease_lapses));
  sample("polder_jobs_events_total", "event=\"unauthorized_refused\"", static_cast<double>(j.unauthorized));
  sample("polder_jobs_events_total", "event=\"peer_quota_refused\"", static_cast<double>(j.peer_quota_refused));
  sample("polder_jobs_events_total", "event=\"replayed_submit\"", static_cast<double>(j.replayed_submits));
  sample("polder_jobs_events_total", "event=\"quota_count_repair\"", static_cast<double>(j.quota_count_repairs));
  sample("polder_jobs_events_total", "event=\"admission_refused\"", static_cast<double>(j.admission_refused));
  metric("polder_jobs_offers_total", "counter", "Work offers (free capacity offered to drivers of waiting jobs).");
  sample("polder_jobs_offers_total", "direction=\"sent\"", static_cast<double>(j.offers_sent));
  sample("polder_jobs_offers_total", "direction=\"received\"", static_cast<double>(j.offers_received));
  sample("polder_jobs_offers_total", "direction=\"ignored\"", static_cast<double>(j.offers_ignored));
  metric("polder_job_messages_sent_total", "counter",
         "Node-to-node job messages sent, and the envelopes they left in (one per peer per release, node/daemon.cc).");
  sample("polder_job_messages_sent_total", "what=\"messages\"", static_cast<double>(job_messages_sent_));
  sample("polder_job_messages_sent_total", "what=\"envelopes\"", static_cast<double>(job_envelopes_sent_));
  metric("polder_job_record_writes_total", "counter", "Synced batches of job records (one fsync each).");
  sample("polder_job_record_writes_total", "", static_cast<double>(j.record_writes));
  metric("polder_job_records_written_total", "counter", "Job records written in those batches.");
  sample("polder_job_records_written_total", "", static_cast<double>(j.records_written));
  metric("polder_job_lazy_record_writes_total", "counter",
         "Batches of only \"running\" job records, written with no fsync of their own (made durable by the next one).");
  sample("polder_job_lazy_record_writes_total", "", static_cast<double>(j.lazy_record_writes));
  metric("polder_job_lazy_records_written_total", "counter", "Job records written in those batches.");
  sample("polder_job_lazy_records_written_total", "", static_cast<double>(j.lazy_records_written));
  metric("polder_reservations_total", "counter", "Reservations asked of other nodes, by outcome.");
  sample("polder_reservations_total", "outcome=\"granted\"", static_cast<double>(j.reservations_granted));
  sample("polder_reservations_total", "outcome=\"refused\"", static_cast<double>(j.reservations_refused));
  metric("polder_reservations_held", "gauge", "Reservations and allocations this node holds.");
  sample("polder_reservations_held", "", static_cast<double>(jobs_->reservations_held()));
  metric("polder_gpus", "gauge", "GPUs of this node, by type and use.");
  for (const auto& a : jobs_->accelerators()) {
    sample("polder_gpus", "type=\"" + a.type + "\",use=\"free\"", a.free);
    sample("polder_gpus", "type=\"" + a.type + "\",use=\"used\"", a.total - a.free);
  }
  const auto& t = transport_->counters();
  metric("polder_transport_messages_total", "counter", "Messages through the transport.");
  sample("polder_transport_messages_total", "direction=\"sent\"", static_cast<double>(t.sent));
  sample("polder_transport_messages_total", "direction=\"received\"", static_cast<double>(t.received));
  sample("polder_transport_messages_total", "direction=\"dropped_full\"", static_cast<double>(t.dropped_send_full));
  metric("polder_transport_refused_handshakes_total", "counter", "Connections refused: unknown key.");
  sample("polder_transport_refused_handshakes_total", "", static_cast<double>(t.refused_handshakes));
  metric("polder_rate_limited_total", "counter", "Messages dropped by per-key rate limits, and keys cut off.");
  sample("polder_rate_limited_total", "channel=\"peer\",what=\"throttled\"",
         static_cast<double>(peer_limits_.counters().throttled));
  sample("polder_rate_limited_total", "channel=\"client\",what=\"throttled\"",
         static_cast<double>(client_limits_.counters().throttled));
  sample("polder_rate_limited_total", "channel=\"peer\",what=\"bans\"", static_cast<double>(peer_limits_.counters().bans));
  sample("polder_rate_limited_total", "channel=\"client\",what=\"bans\"",
         static_cast<double>(client_limits_.counters().bans));
  sample("polder_rate_limited_total", "channel=\"any\",what=\"dropped_banned\"", static_cast<double>(t.dropped_banned));
  metric("polder_revocations_total", "counter", "Revocation records received, by outcome.");
  sample("polder_revocations_total", "outcome=\"accepted\"", static_cast<double>(revocations_->counters().accepted));
  sample("polder_revocations_total", "outcome=\"duplicate\"", static_cast<double>(revocations_->counters().duplicates));
  sample("polder_revocations_total", "outcome=\"refused\"", static_cast<double>(revocations_->counters().refused));
  metric("polder_revoked_keys", "gauge", "Keys this node holds revoked.");
  sample("polder_revoked_keys", "", static_cast<double>(revocations_->size()));
  metric("polder_replays_dropped_total", "counter",
         "Envelopes dropped as replays: a peer's number seen before or below its window; a client's nonce seen "
         "before or its time outside the window.");
  sample("polder_replays_dropped_total", "channel=\"peer\"", static_cast<double>(replays_dropped_peer_));
  sample("polder_replays_dropped_total", "channel=\"client\"", static_cast<double>(replays_dropped_client_));
  metric("polder_invitations_total", "counter", "Invitation records received or issued, by outcome.");
  {
    const auto& c = invitations_->counters();
    sample("polder_invitations_total", "outcome=\"accepted\"", static_cast<double>(c.accepted));
    sample("polder_invitations_total", "outcome=\"duplicate\"", static_cast<double>(c.duplicates));
    sample("polder_invitations_total", "outcome=\"refused\"", static_cast<double>(c.refused));
    sample("polder_invitations_total", "outcome=\"redeemed\"", static_cast<double>(c.redeemed));
    sample("polder_invitations_total", "outcome=\"expired\"", static_cast<double>(c.expired));
  }
  metric("polder_invited_keys", "gauge", "Keys this node admits by invitation (redeemed or still valid).");
  sample("polder_invited_keys", "", static_cast<double>(invitations_->size()));
  metric("polder_codec_messages_total", "counter", "Envelopes decoded, rejected, or of an unknown (newer) type.");
  sample("polder_codec_messages_total", "result=\"decoded\"", static_cast<double>(codec_.counters().decoded));
  sample("polder_codec_messages_total", "result=\"rejected\"", static_cast<double>(codec_.counters().rejected));
  sample("polder_codec_messages_total", "result=\"unknown\"", static_cast<double>(codec_.counters().unknown_payloads));
  metric("polder_uptime_seconds", "gauge", "Seconds since this polderd started.");
  sample("polder_uptime_seconds", "", std::chrono::duration<double>(clock_->now() - started_at_).count());
  return out;
}

std::string Daemon::nodes_json() const {
  using nlohmann::json;
  json members = json::array();
  for (const auto& e : member_list().members) {
    json m{{"node_id", e.node_id.hex()}, {"state", e.state}, {"self", e.is_self}};
    m["rtt_ms"] = e.rtt_ms >= 0 ? json(e.rtt_ms) : json(nullptr);
    if (e.record) {
      json gpus = json::array();
      for (const auto& a : e.record->accelerators) gpus.push_back({{"type", a.type}, {"free", a.free}, {"total", a.total}});
      m["name"] = e.record->name;
      m["region"] = e.record->region;
      m["operator"] = e.record->operator_name;
      m["gpus"] = gpus;
      m["queue_length"] = e.record->queue_length;
    } else {
      m["name"] = e.node_id.short_hex();
    }
    if (auto info = gossip_->member(e.node_id); info && info->coordinate) {
      json v = json::array();
      for (float x : info->coordinate->vec) v.push_back(x);
      m["coordinate"] = v;
    } else if (e.is_self) {
      json v = json::array();
      for (float x : gossip_->coordinate().vec) v.push_back(x);
      m["coordinate"] = v;
    }
    members.push_back(std::move(m));
  }
  json self{{"node_id", id().hex()}, {"name", config_.name}, {"region", config_.region}};
  return json{{"self", self}, {"members", members}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string Daemon::jobs_json() const {
  using nlohmann::json;
  // The newest jobs only: built twice a second, and a node holds every job it saw.
  constexpr std::size_t kDashboardJobsMax = 200;
  json jobs = json::array();
  for (const auto& v : jobs_->views(kDashboardJobsMax)) {
    jobs.push_back({{"job_id", v.job_id.hex()},
                    {"name", v.name},
                    {"state", v.state},
                    {"attempt", v.attempt},
                    {"executor_name", v.executor_name},
                    {"gpu_slots", v.gpu_slots},
                    {"exit_code", v.exit_code},
                    {"message", v.message},
                    {"submitted_at_us", v.submitted_at_us}});
  }
  return json{{"jobs", jobs}, {"jobs_held", jobs_->jobs_held()}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status Daemon::turn(Instant now) {
  // Numbers of what this node sends never fall behind its clock (node/replay_window.h).
  peer_message_id_ = std::max(peer_message_id_, static_cast<std::uint64_t>(std::max<std::int64_t>(clock_->wall_us(), 0)));
  send_job_outbox();  // what handling the inbound sent, ahead of the consensus groups below, as before
  // Consensus groups made durable since the last turn leave now; their
  // chosen events change job records that this turn's job write carries.
  POLDER_RETURN_IF_ERROR(consensus_host_->complete(clock_->wall_us()));
  gossip_host_->deliver_loopback(now);
  gossip_host_->tick_if_due(now);
  consensus_host_->deliver_loopback(now);
  consensus_host_->tick_if_due(now);
  jobs_->tick(now, clock_->wall_us());
  lift_expired_bans(now);
  push_revocations_now_and_then(now);
  expire_invitations(now);
  publish_own_record(now);
  publish_snapshot(now);
  POLDER_RETURN_IF_ERROR(gossip_host_->flush(clock_->wall_us()));
  // The job records of this turn are durable before anything that depends
  // on them leaves: they go to the write-ahead log unsynced, and the
  // consensus host's synced write makes both durable when it writes inline
  // (nothing in flight: one fsync, as before); when its write goes to the
  // committer thread, Storage::sync() makes the records durable here. Then
  // the job messages (a proposal's job reaches the replicas before its
  // votes are asked), then consensus's (pipelined: once their own write is
  // durable, in a later complete()), then what its chosen events changed. A
  // failed job write is logged and retried by JobManager, not fatal; a
  // failed sync stops the node, as a failed acceptor write does.
  Status jobs_written = jobs_->write(Durability::kAsync);
  POLDER_RETURN_IF_ERROR(consensus_host_->persist());
  POLDER_RETURN_IF_ERROR(storage_->sync());
  jobs_->release(jobs_written, clock_->now(), clock_->wall_us());
  send_job_outbox();
  POLDER_RETURN_IF_ERROR(consensus_host_->flush(clock_->wall_us()));
  if (jobs_->has_pending_output()) (void)jobs_->flush(clock_->now(), clock_->wall_us());
  send_job_outbox();
  return Status::ok();
}

Status Daemon::run(const std::atomic<bool>& stop) {
  Status failure;
  while (!stop.load(std::memory_order_relaxed) && failure.is_ok()) {
    auto timeout = std::chrono::milliseconds(kPollTimeoutMax);
    for (auto wake : {gossip_host_->next_wake(), consensus_host_->next_wake(), jobs_->next_wake()}) {
      if (!wake) continue;
      auto until = std::chrono::duration_cast<std::chrono::milliseconds>(*wake - clock_->now());
      timeout = std::clamp(until, std::chrono::milliseconds(0), timeout);
    }
    // A consensus write finishing wakes the poll: its replies leave now.
    for (const auto& in : transport_->poll(timeout, kMaxMessagesPerPoll, consensus_host_->completion_fd())) handle(in);
    failure = turn(clock_->now());
  }
  if (!failure.is_ok()) {
    spdlog::critical("stopping: {}", failure.to_string());
  } else {
    spdlog::info("shutting down: announcing leave to the federation");
    auto leave_until = clock_->now() + kLeaveGrace;
    gossip_host_->apply(gossip_->leave(clock_->now()));
    while (clock_->now() < leave_until) {
      for (const auto& in : transport_->poll(20ms, kMaxMessagesPerPoll, consensus_host_->completion_fd())) handle(in);
      if (Status s = turn(clock_->now()); !s.is_ok()) break;
    }
  }
  // Every acceptor write queued is durable (or failed) and the committer
  // idle before storage closes; what the last writes decided is stored.
  if (Status s = consensus_host_->drain(clock_->wall_us()); !s.is_ok()) {
    if (failure.is_ok()) spdlog::error("consensus writes at shutdown: {}", s.to_string());
  } else if (failure.is_ok() && (jobs_->has_pending_output() || jobs_->has_unwritten_records())) {
    (void)jobs_->flush(clock_->now(), clock_->wall_us());
  }
  if (failure.is_ok()) send_job_outbox();
  if (http_) http_->stop();
  if (failure.is_ok()) {
    if (Status stored = store_replay_windows(); !stored.is_ok()) {
      spdlog::error("replay windows not stored ({}): the next start refuses what members sent before it, "
                    "minus {} s of clock skew", stored.to_string(), kPeerClockSkewUs / 1'000'000);
    }
  }
  spdlog::info("shutting down: closing storage");
  Status closed = storage_->close();
  if (!closed.is_ok()) spdlog::error("storage close failed: {}", closed.to_string());
  return failure.is_ok() ? closed : failure;
}

// Rate limits per authenticated key, before any decoding: a flood costs a
// counter increment per message, and a key that keeps flooding is cut off.
bool Daemon::within_limits(const Inbound& in, Instant now) {
  RateLimiter& limits = in.channel == Channel::kClient ? client_limits_ : peer_limits_;
  switch (limits.admit(in.from, in.bytes.size(), now)) {
    case RateVerdict::kPass: return true;
    case RateVerdict::kThrottled: return false;
    case RateVerdict::kBanned:
      if (!bans_.contains(in.from)) {
        auto until = limits.banned_until(in.from, now);
        bans_[in.from] = until ? *until : now;
        transport_->ban(in.from);
        spdlog::warn("{} key {} keeps exceeding its rate limits: cut off for {} s", 
                     in.channel == Channel::kClient ? "client" : "peer", in.from.short_hex(), config_.limits_ban_s);
      }
      return false;
  }
  return false;
}

void Daemon::lift_expired_bans(Instant now) {
  for (auto it = bans_.begin(); it != bans_.end();) {
    if (now < it->second) {
      ++it;
      continue;
    }
    transport_->unban(it->first);
    spdlog::info("key {}: rate-limit ban lifted", it->first.short_hex());
    it = bans_.erase(it);
  }
}

void Daemon::handle(const Inbound& in) {
  if (!within_limits(in, clock_->now())) return;
  auto decoded = codec_.decode(in.bytes);
  if (!decoded) {
    spdlog::warn("dropped a message from {}: {}", in.from.short_hex(), decoded.status().to_string());
    if (in.channel == Channel::kClient) {
      Envelope err = envelope(ErrorReply{static_cast<std::uint16_t>(decoded.status().code()),
                                         decoded.status().message()}, 0);
      if (auto bytes = codec_.encode(err)) (void)transport_->reply_to_client(in.routing_id, *bytes);
    }
    return;
  }
  if (decoded->sender != in.from) {
    // The envelope claims someone other than the key that authenticated.
    spdlog::warn("dropped a message from {} claiming to be {}", in.from.short_hex(), decoded->sender.short_hex());
    return;
  }
  if (in.channel == Channel::kPeer) {
    if (!peer_replays_.accept(in.from, decoded->message_id)) {
      ++replays_dropped_peer_;
      spdlog::debug("dropped a replayed or stale message {} from {}", decoded->message_id, in.from.short_hex());
      return;
    }
  } else if (Status fresh = client_replays_.accept(in.from, decoded->message_id, decoded->timestamp_us,
                                                   clock_->wall_us());
             !fresh.is_ok()) {
    ++replays_dropped_client_;
    spdlog::info("refused a request from client {}: {}", in.from.short_hex(), fresh.message());
    Envelope err = envelope(ErrorReply{static_cast<std::uint16_t>(fresh.code()), fresh.message()}, decoded->message_id);
    if (auto bytes = codec_.encode(err)) (void)transport_->reply_to_client(in.routing_id, *bytes);
    return;
  }
  if (std::holds_alternative<UnknownPayload>(decoded->payload)) {
    spdlog::debug("ignored a message type this version does not know from {}", in.from.short_hex());
    return;
  }
  if (in.channel == Channel::kPeer && invitations_->pending(in.from)) redeem_invitation(in.from);
  if (in.channel == Channel::kClient) {
    handle_client(in, std::move(*decoded));
  } else if (auto* g = std::get_if<GossipPayload>(&decoded->payload)) {
    gossip_host_->deliver(in.from, g->bytes, clock_->now());
  } else if (auto* c = std::get_if<ConsensusPayload>(&decoded->payload)) {
    if (!consensus_vote_allowed(c->bytes)) return;
    consensus_host_->deliver(in.from, c->bytes, clock_->now());
  } else if (auto* j = std::get_if<JobMessage>(&decoded->payload)) {
    jobs_->on_peer(in.from, std::move(*j), clock_->now(), clock_->wall_us());
  } else if (auto* batch = std::get_if<JobBatch>(&decoded->payload)) {
    for (auto& m : batch->messages) jobs_->on_peer(in.from, std::move(m), clock_->now(), clock_->wall_us());
  } else if (auto* r = std::get_if<SignedRecord>(&decoded->payload); r && r->kind == kRevocationKind) {
    if (Status s = take_revocation(in.from, *r); !s.is_ok()) {
      spdlog::warn("refused a revocation from {}: {}", in.from.short_hex(), s.message());
    }
  } else if (r && (r->kind == kInvitationKind || r->kind == kAdmissionKind)) {
    if (Status s = take_invitation(in.from, *r); !s.is_ok()) {
      spdlog::warn("refused an invitation from {}: {}", in.from.short_hex(), s.message());
    }
  }
}

// A Prepare or Accept of a later attempt than one this node granted a live
// executor lease on is dropped, as if lost (JobManager::may_vote); a batch
// holding one is dropped whole (node/vote_filter.h).
bool Daemon::consensus_vote_allowed(std::span<const std::uint8_t> bytes) {
  const Instant now = clock_->now();
  return consensus_votes_allowed(bytes, [&](const consensus::InstanceKey& key) { return jobs_->may_vote(key, now); });
}

// ---- kMeta records by prefix --------------------------------------------------

// Calls `visit` for every kMeta record under `prefix`, in key order, a page
// at a time; stops at the first error it returns.
Status Daemon::for_each_meta(std::string_view prefix,
                             const std::function<Status(const std::string&, const Bytes&)>& visit) const {
  constexpr std::size_t kPage = 1024;
  std::string start(prefix);
  for (;;) {
    auto page = storage_->scan(Column::kMeta, prefix, start, kPage);
    if (!page) return page.status();
    for (const auto& [key, bytes] : page->records) POLDER_RETURN_IF_ERROR(visit(key, bytes));
    if (!page->next_key) return Status::ok();
    start = *page->next_key;
  }
}

// ---- replay windows ----------------------------------------------------------

// Resumes the windows a graceful shutdown stored, or (none stored, or some
// senders missing: a crash) refuses numbers from before this start minus
// the allowed clock skew (node/replay_window.h). The stored windows are
// deleted once read: the next start after a crash must not resume them.
Status Daemon::load_replay_windows() {
  const std::int64_t now_us = clock_->wall_us();
  peer_replays_.set_floor(static_cast<std::uint64_t>(std::max<std::int64_t>(now_us - kPeerClockSkewUs, 0)));
  std::vector<std::string> stored;
  POLDER_RETURN_IF_ERROR(for_each_meta(kMetaReplayPrefix, [&](const std::string& key, const Bytes& bytes) {
    stored.push_back(key);
    auto sender = NodeId::from_hex(std::string_view(key).substr(kMetaReplayPrefix.size()));
    if (!sender || bytes.size() != 8) {
      spdlog::warn("ignored a corrupt stored replay window {}", key);
      return Status::ok();
    }
    std::uint64_t highest = 0;
    for (int i = 7; i >= 0; --i) highest = (highest << 8) | bytes[static_cast<std::size_t>(i)];
    peer_replays_.resume(*sender, highest);
    return Status::ok();
  }));
  for (const auto& key : stored) POLDER_RETURN_IF_ERROR(storage_->erase(Column::kMeta, key, Durability::kAsync));
  if (!stored.empty()) POLDER_RETURN_IF_ERROR(storage_->sync());
  spdlog::info("replay windows: {} resumed from the last shutdown", stored.size());
  return Status::ok();
}

Status Daemon::store_replay_windows() {
  for (const auto& [sender, highest] : peer_replays_.highest()) {
    std::array<std::uint8_t, 8> bytes{};
    for (std::size_t i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(highest >> (8 * i));
    POLDER_RETURN_IF_ERROR(
        storage_->put(Column::kMeta, std::string(kMetaReplayPrefix) + sender.hex(), bytes, Durability::kAsync));
  }
  return storage_->sync();
}

// ---- revocations -----------------------------------------------------------

Status Daemon::load_revocations() {
  POLDER_RETURN_IF_ERROR(for_each_meta(kMetaRevocationPrefix, [&](const std::string& key, const Bytes& bytes) {
    auto record = decode_signed_record(bytes);
    if (!record) return data_loss("storage: a stored revocation is corrupt: " + record.status().message());
    // Checked again: the founders may have changed since it was stored.
    if (auto taken = revocations_->accept(*record); !taken) {
      spdlog::warn("stored revocation {} is no longer honoured: {}", key, taken.status().message());
    }
    return Status::ok();
  }));
  if (revocations_->size() > 0) spdlog::info("revocations: {} key(s) revoked", revocations_->size());
  return Status::ok();
}

// The key is out: refused at the handshake (both channels), its messages
// dropped on arrival, no outgoing connection to it.
void Daemon::cut_off(const NodeId& key) {
  transport_->disallow_peer(key);
  transport_->disallow_client(key);
  // Its gossip member goes now, not when reaped; admit() keeps it out.
  if (gossip_host_) gossip_host_->apply(gossip_->expel(key, clock_->now()));
}

// Persist, then send, then apply (STYLE.md 15): a restart remembers every
// revocation this node has passed on.
Status Daemon::take_revocation(const NodeId& from, const SignedRecord& record) {
  auto taken = revocations_->accept(record);
  if (!taken) return taken.status();
  if (*taken == RevocationList::Outcome::kKnown) return Status::ok();
  auto revocation = open_revocation(record);
  if (!revocation) return revocation.status();  // accept() opened it: cannot happen
  auto bytes = encode_signed_record(record);
  if (!bytes) return bytes.status();
  Status stored = storage_->put(Column::kMeta, std::string(kMetaRevocationPrefix) + revocation->revoked.hex(), *bytes,
                                Durability::kSync);
  if (!stored.is_ok()) {
    cut_off(revocation->revoked);  // still honoured until the restart that would forget it
    return Status(stored.code(), "revocation of " + revocation->revoked.short_hex() + " not stored: " + stored.message());
  }
  for (const auto& m : gossip_->members()) {
    if (m.is_self || m.id == from || m.id == revocation->revoked || !(m.state == gossip::MemberState::kAlive)) continue;
    if (auto out = codec_.encode(envelope(record, 0))) (void)transport_->send_to_peer(m.id, *out);
  }
  cut_off(revocation->revoked);
  spdlog::warn("key {} revoked by {} ({}): refused from now on", revocation->revoked.short_hex(),
               record.author.short_hex(), revocation->reason.empty() ? "no reason given" : revocation->reason);
  return Status::ok();
}

void Daemon::push_revocations(const NodeId& to) {
  if (to == id() || revocations_->revoked(to)) return;
  push_invitations(to);
  for (const auto& record : revocations_->records()) {
    if (auto out = codec_.encode(envelope(record, 0))) (void)transport_->send_to_peer(to, *out);
  }
}

// Anti-entropy: every few seconds one alive member (round robin) gets the
// whole list, so a node that missed a flood learns it within a few rounds.
void Daemon::push_revocations_now_and_then(Instant now) {
  if ((revocations_->size() == 0 && invitations_->size() == 0) || now - revocations_pushed_at_ < kRevocationPushEvery) {
    return;
  }
  revocations_pushed_at_ = now;
  std::vector<NodeId> alive;
  for (const auto& m : gossip_->members()) {
    if (!m.is_self && m.state == gossip::MemberState::kAlive && !revocations_->revoked(m.id)) alive.push_back(m.id);
  }
  if (alive.empty()) return;
  push_revocations(alive[revocations_push_next_++ % alive.size()]);
}

void Daemon::handle_client(const Inbound& in, Envelope request) {
  Payload reply_payload;
  if (auto* ping = std::get_if<Ping>(&request.payload)) {
    reply_payload = Pong{ping->token};
  } else if (std::holds_alternative<InfoRequest>(request.payload)) {
    reply_payload = info();
  } else if (std::holds_alternative<NodesRequest>(request.payload)) {
    reply_payload = member_list();
  } else if (auto* rec = std::get_if<SignedRecord>(&request.payload); rec && rec->kind == kRevocationKind) {
    // `polder revoke`: an admin of this node hands in a revocation it signed.
    Status s = client_is_admin(config_, in.from)
                   ? take_revocation(id(), *rec)
                   : permission_denied("only an admin key of this node ([client] admin_keys) may hand in a revocation");
    if (s.is_ok()) {
      reply_payload = *rec;
    } else {
      reply_payload = ErrorReply{static_cast<std::uint16_t>(s.code()), s.message()};
    }
  } else if (auto* inv = std::get_if<SignedRecord>(&request.payload); inv && inv->kind == kInvitationKind) {
    // `polder invite`: this node signs an invitation an admin asked for.
    if (auto issued = issue_invitation(in.from, *inv)) {
      reply_payload = std::move(*issued);
    } else {
      reply_payload = ErrorReply{static_cast<std::uint16_t>(issued.status().code()), issued.status().message()};
    }
  } else if (auto* job = std::get_if<JobMessage>(&request.payload)) {
    jobs_->on_client(ClientRef{in.routing_id, request.message_id}, in.from, std::move(*job), clock_->now(),
                     clock_->wall_us());
    return;
  } else {
    reply_payload = ErrorReply{static_cast<std::uint16_t>(StatusCode::kInvalidArgument),
                               "this request is not served on the client channel"};
  }
  auto bytes = codec_.encode(envelope(std::move(reply_payload), request.message_id));
  if (!bytes) {
    spdlog::error("cannot encode reply: {}", bytes.status().to_string());
    return;
  }
  Status sent = transport_->reply_to_client(in.routing_id, *bytes);
  if (!sent.is_ok()) spdlog::debug("client reply: {}", sent.to_string());
}

void Daemon::connect_to_member(const NodeId& member) {
  auto info = gossip_->member(member);
  if (!info || !info->record || info->is_self || revocations_->revoked(member)) return;
  auto record = open_gossiped_record(info->record->bytes);
  if (!record) {
    spdlog::warn("member {}: unreadable record: {}", member.short_hex(), record.status().message());
    return;
  }
  Status s = transport_->connect_peer(member, record->address);
  if (!s.is_ok()) spdlog::warn("member {} ({}): {}", record->name, member.short_hex(), s.message());
}

void Daemon::on_gossip_event(const CoreEvent& event) {
  auto subject = event_subject(event);
  if (!subject) return;
  std::string name = subject->short_hex();
  if (auto m = gossip_->member(*subject); m && m->record) {
    if (auto r = open_gossiped_record(m->record->bytes)) name = r->name + " (" + subject->short_hex() + ")";
  }
  if (event.kind == gossip::kEventRecord) {
    connect_to_member(*subject);
    spdlog::debug("member {}: new capacity record", name);
  } else if (event.kind == gossip::kEventAlive) {
    connect_to_member(*subject);
    push_revocations(*subject);  // a member back from a partition or a restart learns what it missed
    spdlog::info("member {} is alive", name);
  } else if (event.kind == gossip::kEventSuspect) {
    spdlog::warn("member {} is suspected (no answer to probes)", name);
  } else if (event.kind == gossip::kEventDead) {
    spdlog::warn("member {} is dead", name);
  } else if (event.kind == gossip::kEventLeft) {
    spdlog::info("member {} left the federation", name);
  }
}

MemberList Daemon::member_list() const {
  MemberList list;
  for (const auto& m : gossip_->members()) {
    if (list.members.size() >= kMembersPerReplyMax) {
      list.truncated = true;
      break;
    }
    MemberEntry e;
    e.node_id = m.id;
    e.state = gossip::member_state_name(m.state);
    e.incarnation = m.incarnation;
    e.is_self = m.is_self;
    if (m.record) {
      if (auto r = open_gossiped_record(m.record->bytes)) e.record = std::move(*r);
    }
    const gossip::Coordinate* coord = m.is_self ? &gossip_->coordinate() : (m.coordinate ? &*m.coordinate : nullptr);
    if (coord) {
      e.coordinate.assign(coord->vec.begin(), coord->vec.end());
      e.height_ms = coord->height_ms;
    }
    if (m.is_self) {
      e.rtt_ms = 0;
    } else if (auto rtt = gossip_->estimated_rtt(m.id)) {
      e.rtt_ms = std::chrono::duration<double, std::milli>(*rtt).count();
    }
    list.members.push_back(std::move(e));
  }
  return list;
}

NodeInfo Daemon::info() const {
  Instant now = clock_->now();
  NodeInfo info;
  info.node_id = id();
  info.name = config_.name;
  info.version = POLDER_VERSION;
  info.uptime_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now - started_at_).count());
  info.protocol_version = kProtocolVersion;
  // Alive members other than this node, as gossip sees them.
  std::size_t alive = gossip_->alive_count();
  info.peers_known = static_cast<std::uint32_t>(alive > 0 ? alive - 1 : 0);
  info.region = config_.region;
  info.operator_name = config_.operator_name;
  return info;
}

Envelope Daemon::envelope(Payload payload, std::uint64_t message_id) const {
  Envelope e;
  e.sender = id();
  e.message_id = message_id != 0 ? message_id : ++peer_message_id_;
  e.timestamp_us = clock_->wall_us();
  e.payload = std::move(payload);
  return e;
}

}  // namespace polder::node
