// Transport: ZeroMQ with CurveZMQ on every connection.
//
// Two listening ROUTER sockets share the node's Curve key pair (derived from
// its Ed25519 identity): `listen` for peers and `client_listen` for the CLI.
// A ZAP handler (ZeroMQ's authentication protocol, RFC 27) admits a
// connecting key only when it is in the allowlist of that channel: peer
// node keys for the peer channel, authorised CLI keys for the client
// channel. Every refusal is logged with the key. An admitted connection's
// messages carry the sender's NodeId (as ZAP User-Id), so a message's origin
// is established by the handshake, never by what the message claims.
//
// Outgoing peer traffic uses one DEALER per peer, connected to that peer's
// listen address with the peer's public key as the expected server key:
// a node cannot be impersonated by whoever answers at an address. Each
// socket has a high-water mark; when a slow peer's queue is full, further
// messages to it are dropped and counted (gossip and consensus retransmit),
// so memory stays bounded. ZeroMQ reconnects by itself after a peer restarts.
//
// Thread-safety: none. One Transport belongs to one event loop thread; the
// ZAP handler runs inside poll(), on that same thread.
#pragma once

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "protocol/core.h"
#include "protocol/identity.h"
#include "protocol/status.h"

namespace polder::node {

struct TransportOptions {
  std::string listen;         // tcp://HOST:PORT for peers; empty = do not listen
  std::string client_listen;  // tcp://HOST:PORT for the CLI; empty = none
  int send_hwm = 1000;        // messages queued per peer before dropping
  int recv_hwm = 1000;
  int reconnect_ivl_ms = 100;
  int reconnect_ivl_max_ms = 5000;
  std::int64_t max_message_bytes = 1 << 20;  // larger inbound messages drop the connection
  int handshake_ivl_ms = 5000;
};

enum class Channel : std::uint8_t { kPeer, kClient };

struct Inbound {
  Channel channel = Channel::kPeer;
  NodeId from;             // authenticated by the Curve handshake
  std::string routing_id;  // client channel: where the reply goes
  Bytes bytes;
};

struct TransportCounters {
  std::uint64_t received = 0;
  std::uint64_t sent = 0;
  std::uint64_t dropped_send_full = 0;  // peer queue at its high-water mark
  std::uint64_t dropped_unknown_peer = 0;
  std::uint64_t refused_handshakes = 0;
  std::uint64_t admitted_handshakes = 0;
  std::uint64_t dropped_banned = 0;           // messages from a banned key (rate limits)
  std::uint64_t refusal_logs_suppressed = 0;  // refused handshakes not logged (log rate limit)
  std::uint64_t redials = 0;                  // DEALERs recreated after sends found them unconnected
};

class Transport {
 public:
  static Result<std::unique_ptr<Transport>> create(const Identity& identity, TransportOptions options);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Allowlists. Keys outside them are refused at the handshake.
  void allow_peer(const NodeId& key);
  void disallow_peer(const NodeId& key);
  void allow_client(const NodeId& key);
  void disallow_client(const NodeId& key) { client_allow_.erase(key); }
  bool peer_allowed(const NodeId& key) const { return peer_allow_.contains(key); }

  // A banned key (a flooder, node/rate_limit.h) stays in its allowlist but
  // its messages are dropped on arrival and its new handshakes refused,
  // on both channels, until unban().
  void ban(const NodeId& key) { banned_.insert(key); }
  void unban(const NodeId& key) { banned_.erase(key); }
  bool banned(const NodeId& key) const { return banned_.contains(key); }

  // Opens (or re-targets) the outgoing connection to `peer` at `endpoint`.
  // Also admits the peer's key. Connecting is asynchronous.
  Status connect_peer(const NodeId& peer, const std::string& endpoint);
  void disconnect_peer(const NodeId& peer);
  std::vector<NodeId> connected_peers() const;

  // Queues `bytes` for `peer`. Never blocks: a full queue drops and counts.
  Status send_to_peer(const NodeId& peer, std::span<const std::uint8_t> bytes);
  // Replies on the client channel to the connection `routing_id` came from.
  Status reply_to_client(const std::string& routing_id, std::span<const std::uint8_t> bytes);

  // Waits up to `timeout` for traffic, serves ZAP requests, and returns at
  // most `max_messages` inbound messages (bounded work per call).
  // `wake_fd` (optional, e.g. CoreHost::completion_fd()) also ends the wait
  // when it becomes readable; the caller drains it.
  std::vector<Inbound> poll(std::chrono::milliseconds timeout, std::size_t max_messages = 256, int wake_fd = -1);

  const TransportCounters& counters() const { return counters_; }
  // The bound endpoints (with the real port if the config said port 0... not
  // supported by ZeroMQ for tcp://*:0 without wildcard; kept for logs).
  const TransportOptions& options() const { return options_; }

 private:
  Transport(const Identity& identity, TransportOptions options);
  Status bind();
  // Adds `key` to `allowlist` and maps its Curve key back to it.
  bool admit(const NodeId& key, std::set<NodeId>& allowlist);
  void serve_zap_request();
  void log_refusal(const std::string& line);
  bool receive_one(zmq::socket_t& socket, Channel channel, std::vector<Inbound>& out);

  TransportOptions options_;
  NodeId self_;
  std::string public_z85_;
  std::string secret_z85_;
  zmq::context_t context_;
  zmq::socket_t zap_;
  zmq::socket_t peer_router_;
  zmq::socket_t client_router_;
  std::map<NodeId, zmq::socket_t> peer_dealers_;
  std::map<NodeId, std::string> peer_endpoints_;
  // When each peer's DEALER was last (re)created; a send that finds it
  // unconnected dials again after kRedialEvery (send_to_peer).
  static constexpr std::chrono::seconds kRedialEvery{2};
  std::map<NodeId, std::chrono::steady_clock::time_point> dialled_at_;
  std::set<NodeId> peer_allow_;
  std::set<NodeId> client_allow_;
  // X25519 key (as ZAP presents it) -> NodeId, for both allowlists.
  std::map<std::array<std::uint8_t, 32>, NodeId> curve_to_node_;
  std::set<NodeId> banned_;
  // Refusal log lines: at most kRefusalLogsPerWindow per window, then one summary.
  std::chrono::steady_clock::time_point refusal_window_start_{};
  std::uint32_t refusal_logs_in_window_ = 0;
  std::uint64_t refusals_unlogged_in_window_ = 0;
  TransportCounters counters_;
};

// Z85 text of a 32-byte Curve key, as ZeroMQ's socket options take it.
std::string z85_key(const std::array<std::uint8_t, 32>& key);

}  // namespace polder::node
