#include "node/daemon.h"

#include <spdlog/spdlog.h>

namespace polder::node {
namespace {

using namespace std::chrono_literals;

constexpr Duration kHeartbeatInterval = 1s;
constexpr Duration kPeerReachableWindow = 5s;
constexpr std::size_t kMaxMessagesPerPoll = 256;
constexpr std::string_view kMetaNodeIdKey = "node_id";

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

}  // namespace

Daemon::Daemon(NodeConfig config, Identity identity, std::unique_ptr<Clock> clock)
    : config_(std::move(config)),
      identity_(std::move(identity)),
      clock_(std::move(clock)),
      codec_(CodecLimits{.max_message_bytes = config_.max_message_bytes}),
      started_at_(clock_->now()),
      next_heartbeat_(started_at_) {}

Daemon::~Daemon() = default;

Result<std::unique_ptr<Daemon>> Daemon::start(const NodeConfig& config, std::unique_ptr<Clock> clock) {
  auto identity = Identity::load(config.key_file);
  if (!identity) return Status(identity.status().code(), "node key: " + identity.status().message());
  std::unique_ptr<Daemon> d(new Daemon(config, std::move(*identity), std::move(clock)));

  auto storage = Storage::open(config.data_dir);
  if (!storage) return storage.status();
  d->storage_ = std::move(*storage);
  POLDER_RETURN_IF_ERROR(check_data_dir_owner(*d->storage_, d->id(), config.data_dir));

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

  for (const auto& key : config.members) d->transport_->allow_peer(key);
  for (const auto& key : config.authorized_keys) d->transport_->allow_client(key);
  for (const auto& seed : config.seeds) {
    if (seed.key == d->id()) continue;
    POLDER_RETURN_IF_ERROR(d->transport_->connect_peer(seed.key, seed.address));
    d->peers_[seed.key].address = seed.address;
  }
  spdlog::info("node {} ({}) listening for peers on {} and clients on {}; {} seed peer(s), {} member key(s), "
               "{} client key(s)",
               config.name, d->id().short_hex(), config.listen, config.client_listen, config.seeds.size(),
               config.members.size(), config.authorized_keys.size());
  return d;
}

Status Daemon::run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) {
    auto inbound = transport_->poll(100ms, kMaxMessagesPerPoll);
    for (const auto& in : inbound) handle(in);
    Instant now = clock_->now();
    if (now >= next_heartbeat_) heartbeat_peers(now);
  }
  spdlog::info("shutting down: closing storage");
  Status closed = storage_->close();
  if (!closed.is_ok()) spdlog::error("storage close failed: {}", closed.to_string());
  return closed;
}

void Daemon::handle(const Inbound& in) {
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
  if (std::holds_alternative<UnknownPayload>(decoded->payload)) {
    spdlog::debug("ignored a message type this version does not know from {}", in.from.short_hex());
    return;
  }
  if (in.channel == Channel::kClient) {
    handle_client(in, std::move(*decoded));
  } else {
    handle_peer(in, std::move(*decoded));
  }
}

void Daemon::handle_client(const Inbound& in, Envelope request) {
  Payload reply_payload;
  if (auto* ping = std::get_if<Ping>(&request.payload)) {
    reply_payload = Pong{ping->token};
  } else if (std::holds_alternative<InfoRequest>(request.payload)) {
    reply_payload = info();
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

void Daemon::handle_peer(const Inbound& in, Envelope message) {
  if (auto* ping = std::get_if<Ping>(&message.payload)) {
    auto it = peers_.find(in.from);
    if (it == peers_.end()) return;  // we answer peers we have a route to
    auto bytes = codec_.encode(envelope(Pong{ping->token}, message.message_id));
    if (bytes) (void)transport_->send_to_peer(in.from, *bytes);
  } else if (std::holds_alternative<Pong>(message.payload)) {
    auto it = peers_.find(in.from);
    if (it == peers_.end()) return;
    if (!it->second.last_pong) spdlog::info("peer {} at {} is reachable", in.from.short_hex(), it->second.address);
    it->second.last_pong = clock_->now();
    ++it->second.pongs_received;
  }
}

void Daemon::heartbeat_peers(Instant now) {
  next_heartbeat_ = now + kHeartbeatInterval;
  for (auto& [id, peer] : peers_) {
    if (peer.last_pong && now - *peer.last_pong > kPeerReachableWindow && peer.pongs_received > 0) {
      spdlog::warn("peer {} at {} has not answered for {} s", id.short_hex(), peer.address,
                   std::chrono::duration_cast<std::chrono::seconds>(now - *peer.last_pong).count());
      peer.pongs_received = 0;  // warn once per outage
    }
    auto bytes = codec_.encode(envelope(Ping{peer.pings_sent}, next_message_id_++));
    if (!bytes) continue;
    ++peer.pings_sent;
    (void)transport_->send_to_peer(id, *bytes);
  }
}

std::size_t Daemon::peers_reachable(Instant now) const {
  std::size_t n = 0;
  for (const auto& [id, peer] : peers_) {
    if (peer.last_pong && now - *peer.last_pong <= kPeerReachableWindow) ++n;
  }
  return n;
}

NodeInfo Daemon::info() const {
  Instant now = clock_->now();
  NodeInfo info;
  info.node_id = id();
  info.name = config_.name;
  info.version = POLDER_VERSION;
  info.uptime_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now - started_at_).count());
  info.protocol_version = kProtocolVersion;
  info.peers_known = static_cast<std::uint32_t>(peers_reachable(now));
  info.region = config_.region;
  info.operator_name = config_.operator_name;
  return info;
}

Envelope Daemon::envelope(Payload payload, std::uint64_t message_id) const {
  Envelope e;
  e.sender = id();
  e.message_id = message_id;
  e.timestamp_us = clock_->wall_us();
  e.payload = std::move(payload);
  return e;
}

}  // namespace polder::node
