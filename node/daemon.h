// Daemon: one running polderd. Owns the node's identity, storage and
// transport, answers the client channel, and keeps in touch with its peers.
//
// Lifecycle: start() loads the key, opens storage, binds both channels and
// connects to the seed peers, or fails with a Status saying which step
// failed and why (nothing is left half-open). run() serves until `stop`
// becomes true (set from a SIGTERM/SIGINT handler), then closes storage
// cleanly.
//
// Thread-safety: run() is the only thread touching the daemon; `stop` is
// the only thing other threads (or signal handlers) may write.
#pragma once

#include <atomic>
#include <map>
#include <memory>

#include "node/clock.h"
#include "node/config.h"
#include "node/storage.h"
#include "node/transport.h"
#include "protocol/codec.h"

namespace polder::node {

// What the daemon knows about one configured peer, until gossip (issue 4)
// replaces this with real membership.
struct PeerState {
  std::string address;
  std::optional<Instant> last_pong;
  std::uint64_t pings_sent = 0;
  std::uint64_t pongs_received = 0;
};

class Daemon {
 public:
  static Result<std::unique_ptr<Daemon>> start(const NodeConfig& config, std::unique_ptr<Clock> clock);
  ~Daemon();

  // Serves until `stop` is true. Returns the reason it stopped abnormally.
  Status run(const std::atomic<bool>& stop);

  const NodeId& id() const { return identity_.id(); }
  NodeInfo info() const;

 private:
  Daemon(NodeConfig config, Identity identity, std::unique_ptr<Clock> clock);
  void handle(const Inbound& in);
  void handle_client(const Inbound& in, Envelope request);
  void handle_peer(const Inbound& in, Envelope message);
  void heartbeat_peers(Instant now);
  Envelope envelope(Payload payload, std::uint64_t message_id) const;
  std::size_t peers_reachable(Instant now) const;

  NodeConfig config_;
  Identity identity_;
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Transport> transport_;
  Codec codec_;
  Instant started_at_;
  Instant next_heartbeat_;
  std::uint64_t next_message_id_ = 1;
  std::map<NodeId, PeerState> peers_;
};

}  // namespace polder::node
