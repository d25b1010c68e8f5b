#include "node/transport.h"

#include <spdlog/spdlog.h>

#include <cstring>

namespace polder::node {
namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
constexpr const char* kPeerDomain = "peer";
constexpr const char* kClientDomain = "client";

std::string zmq_error_text(const zmq::error_t& e) { return e.what(); }

// Sets the options every Curve socket of ours shares.
void set_common_options(zmq::socket_t& s, const TransportOptions& o) {
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::sndhwm, o.send_hwm);
  s.set(zmq::sockopt::rcvhwm, o.recv_hwm);
  s.set(zmq::sockopt::maxmsgsize, o.max_message_bytes);
  s.set(zmq::sockopt::handshake_ivl, o.handshake_ivl_ms);
}

}  // namespace

std::string z85_key(const std::array<std::uint8_t, 32>& key) {
  char text[41];
  zmq_z85_encode(text, key.data(), key.size());
  return std::string(text, 40);
}

Transport::Transport(const Identity& identity, TransportOptions options)
    : options_(std::move(options)), self_(identity.id()) {
  CurveKeyPair keys = identity.curve();
  public_z85_ = z85_key(keys.public_key);
  secret_z85_ = z85_key(keys.secret_key);
}

Transport::~Transport() = default;

Result<std::unique_ptr<Transport>> Transport::create(const Identity& identity, TransportOptions options) {
  if (!zmq_has("curve")) return failed_precondition("this libzmq was built without CurveZMQ; refusing to run unencrypted");
  std::unique_ptr<Transport> t(new Transport(identity, std::move(options)));
  POLDER_RETURN_IF_ERROR(t->bind());
  return t;
}

Status Transport::bind() {
  try {
    // The ZAP handler must be bound before any Curve server socket exists:
    // libzmq lets every client through when no handler is listening.
    zap_ = zmq::socket_t(context_, zmq::socket_type::rep);
    zap_.set(zmq::sockopt::linger, 0);
    zap_.bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return internal_error(std::string("cannot start the ZAP handler: ") + zmq_error_text(e));
  }
  auto bind_router = [&](zmq::socket_t& s, const std::string& endpoint, const char* domain) -> Status {
    try {
      s = zmq::socket_t(context_, zmq::socket_type::router);
      set_common_options(s, options_);
      s.set(zmq::sockopt::curve_server, 1);
      s.set(zmq::sockopt::curve_secretkey, secret_z85_);
      s.set(zmq::sockopt::zap_domain, domain);
      s.set(zmq::sockopt::router_mandatory, 1);
      s.bind(endpoint);
      return Status::ok();
    } catch (const zmq::error_t& e) {
      return unavailable("cannot listen on " + endpoint + " (" + domain + " channel): " + zmq_error_text(e));
    }
  };
  if (!options_.listen.empty()) POLDER_RETURN_IF_ERROR(bind_router(peer_router_, options_.listen, kPeerDomain));
  if (!options_.client_listen.empty()) {
    POLDER_RETURN_IF_ERROR(bind_router(client_router_, options_.client_listen, kClientDomain));
  }
  return Status::ok();
}

bool Transport::admit(const NodeId& key, std::set<NodeId>& allowlist) {
  auto curve = curve_public_key(key);
  if (!curve) {
    spdlog::warn("ignoring key {}: {}", key.short_hex(), curve.status().message());
    return false;
  }
  allowlist.insert(key);
  curve_to_node_[*curve] = key;
  return true;
}

void Transport::allow_peer(const NodeId& key) {
  if (key != self_) admit(key, peer_allow_);
}

void Transport::disallow_peer(const NodeId& key) {
  peer_allow_.erase(key);
  disconnect_peer(key);
}

void Transport::allow_client(const NodeId& key) { admit(key, client_allow_); }

Status Transport::connect_peer(const NodeId& peer, const std::string& endpoint) {
  if (peer == self_) return invalid_argument("a node does not connect to itself");
  auto curve = curve_public_key(peer);
  if (!curve) return curve.status();
  auto it = peer_endpoints_.find(peer);
  if (it != peer_endpoints_.end() && it->second == endpoint) return Status::ok();
  allow_peer(peer);
  try {
    zmq::socket_t dealer(context_, zmq::socket_type::dealer);
    set_common_options(dealer, options_);
    dealer.set(zmq::sockopt::reconnect_ivl, options_.reconnect_ivl_ms);
    dealer.set(zmq::sockopt::reconnect_ivl_max, options_.reconnect_ivl_max_ms);
    dealer.set(zmq::sockopt::curve_serverkey, z85_key(*curve));
    dealer.set(zmq::sockopt::curve_publickey, public_z85_);
    dealer.set(zmq::sockopt::curve_secretkey, secret_z85_);
    dealer.connect(endpoint);
    peer_dealers_[peer] = std::move(dealer);
    peer_endpoints_[peer] = endpoint;
    if (!dialled_at_.contains(peer)) dialled_at_[peer] = std::chrono::steady_clock::now();
  } catch (const zmq::error_t& e) {
    return invalid_argument("cannot connect to peer " + peer.short_hex() + " at " + endpoint + ": " + zmq_error_text(e));
  }
  return Status::ok();
}

void Transport::disconnect_peer(const NodeId& peer) {
  peer_dealers_.erase(peer);
  peer_endpoints_.erase(peer);
}

std::vector<NodeId> Transport::connected_peers() const {
  std::vector<NodeId> out;
  out.reserve(peer_dealers_.size());
  for (const auto& [id, socket] : peer_dealers_) out.push_back(id);
  return out;
}

Status Transport::send_to_peer(const NodeId& peer, std::span<const std::uint8_t> bytes) {
  auto it = peer_dealers_.find(peer);
  if (it == peer_dealers_.end()) {
    ++counters_.dropped_unknown_peer;
    return not_found("no connection to peer " + peer.short_hex());
  }
  try {
    zmq::message_t msg(bytes.data(), bytes.size());
    if (!it->second.send(msg, zmq::send_flags::dontwait)) {
      ++counters_.dropped_send_full;
      // A DEALER whose handshake was refused (the peer had not admitted
      // this key yet, e.g. a node invited a moment earlier) is never
      // reconnected by libzmq, and with no connected pipe every send fails
      // here. Dial again, at most every kRedialEvery per peer.
      auto now = std::chrono::steady_clock::now();
      auto& dialled = dialled_at_[peer];
      if (now - dialled >= kRedialEvery) {
        dialled = now;
        std::string endpoint = peer_endpoints_[peer];
        disconnect_peer(peer);
        if (connect_peer(peer, endpoint).is_ok()) ++counters_.redials;
      }
      return resource_exhausted("send queue to peer " + peer.short_hex() + " is full; message dropped");
    }
  } catch (const zmq::error_t& e) {
    return unavailable("send to peer " + peer.short_hex() + " failed: " + zmq_error_text(e));
  }
  ++counters_.sent;
  return Status::ok();
}

Status Transport::reply_to_client(const std::string& routing_id, std::span<const std::uint8_t> bytes) {
  if (!client_router_) return failed_precondition("no client channel");
  try {
    zmq::message_t rid(routing_id.data(), routing_id.size());
    zmq::message_t body(bytes.data(), bytes.size());
    if (!client_router_.send(rid, zmq::send_flags::sndmore | zmq::send_flags::dontwait) ||
        !client_router_.send(body, zmq::send_flags::dontwait)) {
      return resource_exhausted("client reply queue full");
    }
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH: the client went away before we answered.
    return unavailable(std::string("client reply not delivered: ") + zmq_error_text(e));
  }
  ++counters_.sent;
  return Status::ok();
}

// ZAP, RFC 27: [version, request id, domain, address, identity, mechanism,
// credentials...] -> [version, request id, status code, status text,
// user id, metadata].
// An outsider can start handshakes at any rate: each refusal is counted,
// but only the first few per window are logged, so it cannot flood the log.
void Transport::log_refusal(const std::string& line) {
  constexpr auto kWindow = std::chrono::seconds(10);
  constexpr std::uint32_t kRefusalLogsPerWindow = 10;
  auto now = std::chrono::steady_clock::now();
  if (now - refusal_window_start_ >= kWindow) {
    if (refusals_unlogged_in_window_ > 0) {
      spdlog::warn("{} more refused handshake(s) were not logged in the last window (rate limit)",
                   refusals_unlogged_in_window_);
    }
    refusal_window_start_ = now;
    refusal_logs_in_window_ = 0;
    refusals_unlogged_in_window_ = 0;
  }
  if (refusal_logs_in_window_ < kRefusalLogsPerWindow) {
    ++refusal_logs_in_window_;
    spdlog::warn("{}", line);
  } else {
    ++refusals_unlogged_in_window_;
    ++counters_.refusal_logs_suppressed;
  }
}

void Transport::serve_zap_request() {
  std::vector<zmq::message_t> frames;
  for (int i = 0; i < 16; ++i) {  // a ZAP request has 7 frames for CURVE
    zmq::message_t frame;
    if (!zap_.recv(frame, zmq::recv_flags::dontwait)) break;
    bool more = frame.more();
    frames.push_back(std::move(frame));
    if (!more) break;
  }
  if (frames.size() < 2) return;
  auto text = [&](std::size_t i) { return i < frames.size() ? frames[i].to_string() : std::string(); };
  std::string domain = text(2);
  std::string address = text(3);
  std::string mechanism = text(5);
  std::string status = "400";
  std::string reason = "key not in allowlist";
  std::string user_id;

  if (mechanism != "CURVE" || frames.size() < 7 || frames[6].size() != 32) {
    reason = "only CURVE is accepted";
  } else {
    std::array<std::uint8_t, 32> curve;
    std::memcpy(curve.data(), frames[6].data(), 32);
    auto it = curve_to_node_.find(curve);
    const auto& allow = domain == kClientDomain ? client_allow_ : peer_allow_;
    if (it != curve_to_node_.end() && allow.contains(it->second) && banned_.contains(it->second)) {
      reason = "key banned for a while (rate limits)";
      log_refusal("refused " + domain + " connection from " + address + ": key " + it->second.short_hex() +
                  " is banned for flooding");
    } else if (it != curve_to_node_.end() && allow.contains(it->second)) {
      status = "200";
      reason = "OK";
      user_id = it->second.hex();
    } else {
      log_refusal("refused " + domain + " connection from " + address + ": curve key " + to_hex(curve) +
                  " is not an admitted " + domain + " key");
    }
  }
  if (status == "200") {
    ++counters_.admitted_handshakes;
  } else {
    ++counters_.refused_handshakes;
  }
  std::vector<zmq::const_buffer> reply = {zmq::str_buffer("1.0"), zmq::buffer(frames[1].data(), frames[1].size()),
                                          zmq::buffer(status), zmq::buffer(reason), zmq::buffer(user_id),
                                          zmq::const_buffer()};
  try {
    zmq::send_multipart(zap_, reply);
  } catch (const zmq::error_t& e) {
    spdlog::error("ZAP reply failed: {}", zmq_error_text(e));
  }
}

bool Transport::receive_one(zmq::socket_t& socket, Channel channel, std::vector<Inbound>& out) {
  zmq::message_t rid;
  if (!socket.recv(rid, zmq::recv_flags::dontwait)) return false;
  std::vector<zmq::message_t> parts;
  bool more = rid.more();
  while (more && parts.size() < 4) {
    zmq::message_t part;
    if (!socket.recv(part, zmq::recv_flags::dontwait)) break;
    more = part.more();
    parts.push_back(std::move(part));
  }
  while (more) {  // drain an over-long multipart message
    zmq::message_t part;
    if (!socket.recv(part, zmq::recv_flags::dontwait)) break;
    more = part.more();
  }
  if (parts.size() != 1) return true;  // our protocol is exactly one frame
  const char* user = nullptr;
  try {
    user = parts[0].gets("User-Id");
  } catch (const zmq::error_t&) {
    return true;  // no authenticated identity: never act on it
  }
  auto from = NodeId::from_hex(user ? user : "");
  if (!from) return true;
  const auto& allow = channel == Channel::kClient ? client_allow_ : peer_allow_;
  if (!allow.contains(*from)) return true;  // revoked since the handshake
  if (banned_.contains(*from)) {
    ++counters_.dropped_banned;
    return true;
  }
  Inbound in;
  in.channel = channel;
  in.from = *from;
  in.routing_id = rid.to_string();
  auto* data = static_cast<const std::uint8_t*>(parts[0].data());
  in.bytes.assign(data, data + parts[0].size());
  out.push_back(std::move(in));
  ++counters_.received;
  return true;
}

std::vector<Inbound> Transport::poll(std::chrono::milliseconds timeout, std::size_t max_messages, int wake_fd) {
  std::vector<Inbound> out;
  zmq::pollitem_t items[4] = {
      {zap_.handle(), 0, ZMQ_POLLIN, 0},
      {peer_router_ ? peer_router_.handle() : nullptr, 0, ZMQ_POLLIN, 0},
      {client_router_ ? client_router_.handle() : nullptr, 0, ZMQ_POLLIN, 0},
  };
  int count = 1 + (peer_router_ ? 1 : 0);
  if (client_router_) {
    if (!peer_router_) items[1] = items[2];
    count += 1;
  }
  if (wake_fd >= 0) items[count++] = {nullptr, wake_fd, ZMQ_POLLIN, 0};
  try {
    zmq::poll(items, static_cast<std::size_t>(count), timeout);
    for (int i = 0; i < 64 && (zap_.get(zmq::sockopt::events) & ZMQ_POLLIN); ++i) serve_zap_request();
    bool progress = true;
    // Bounded even when every message is dropped (a banned flooder): the
    // event loop must get back to its timers.
    std::size_t rounds = 0;
    while (progress && out.size() < max_messages && rounds++ < 4 * max_messages) {
      progress = false;
      if (peer_router_ && receive_one(peer_router_, Channel::kPeer, out)) progress = true;
      if (out.size() < max_messages && client_router_ && receive_one(client_router_, Channel::kClient, out)) {
        progress = true;
      }
    }
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) spdlog::error("transport poll failed: {}", zmq_error_text(e));
  }
  return out;
}

}  // namespace polder::node
