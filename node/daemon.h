// Daemon: one running polderd. Owns the node's identity, storage and
// transport, runs the gossip core (membership, failure detection, signed
// capacity records) through a CoreHost, and answers the client channel.
//
// Lifecycle: start() loads the key, opens storage, binds both channels,
// restores the cores from what survived on disk and dials the seed peers,
// or fails with a Status saying which step failed and why. run() serves
// until `stop` becomes true (set from a SIGTERM/SIGINT handler), announces
// a graceful leave, then closes storage cleanly.
//
// Thread-safety: run() is the only thread touching the daemon; `stop` is
// the only thing other threads (or signal handlers) may write.
#pragma once

#include <atomic>
#include <functional>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <memory>

#include "consensus/consensus_core.h"
#include "gossip/gossip_core.h"
#include "node/clock.h"
#include "node/config.h"
#include "node/core_host.h"
#include "node/http_server.h"
#include "node/jobs.h"
#include "node/rate_limit.h"
#include "node/invitations.h"
#include "node/replay_window.h"
#include "node/revocations.h"
#include "node/storage.h"
#include "node/transport.h"
#include "protocol/codec.h"

namespace polder::node {

// A pending key rotation (`polder rotate-key`) is finished at start: when
// `<key_file>.next` exists and the data dir holds the rotation signing it
// in, the node switches to it (node/daemon_invitations.cc).
Status finish_key_rotation(const NodeConfig& config, Storage& storage, Identity& identity);

class Daemon {
 public:
  // `invitation_file`: `polderd run --invitation FILE` (node/invitations.h);
  // empty: none, or the one stored by an earlier run.
  static Result<std::unique_ptr<Daemon>> start(const NodeConfig& config, std::unique_ptr<Clock> clock,
                                               const std::string& invitation_file = "");
  ~Daemon();

  // Serves until `stop` is true. Returns the reason it stopped abnormally.
  Status run(const std::atomic<bool>& stop);

  const NodeId& id() const { return identity_.id(); }
  NodeInfo info() const;
  MemberList member_list() const;

 private:
  Daemon(NodeConfig config, Identity identity, std::unique_ptr<Clock> clock);
  Status start_gossip();
  Status start_consensus();
  Status start_jobs();
  void publish_own_record(Instant now);
  void on_consensus_event(const CoreEvent& event);
  void send_job(const NodeId& to, JobMessage message);
  void send_job_outbox();
  void send_job_messages(const NodeId& to, std::vector<JobMessage> messages);
  void reply_client(const ClientRef& client, Payload payload);
  void publish_snapshot(Instant now);
  std::string metrics_text() const;
  std::string nodes_json() const;
  std::string jobs_json() const;
  NodeRecord own_record() const;
  Status turn(Instant now);
  void handle(const Inbound& in);
  bool consensus_vote_allowed(std::span<const std::uint8_t> bytes);
  bool within_limits(const Inbound& in, Instant now);  // false: dropped (throttled or banned)
  void lift_expired_bans(Instant now);
  // Revocations (node/revocations.h): load at start, take one from a peer
  // or an admin client, push what is held to members.
  Status load_revocations();
  Status load_replay_windows();
  Status for_each_meta(std::string_view prefix,
                       const std::function<Status(const std::string&, const Bytes&)>& visit) const;
  Status store_replay_windows();
  Status take_revocation(const NodeId& from, const SignedRecord& record);
  void cut_off(const NodeId& key);
  void push_revocations(const NodeId& to);
  void push_revocations_now_and_then(Instant now);
  // Invitations (node/invitations.h, node/daemon_invitations.cc).
  bool is_member(const NodeId& key) const;
  Status load_own_invitation(const std::string& invitation_file);
  Status load_invitations();
  Status store_invitation(const NodeId& invitee);
  std::optional<SignedRecord> invitation_to_send(const NodeId& invitee) const;
  Status take_invitation(const NodeId& from, const SignedRecord& record);
  void retire_rotated_key(const Invitation& rotation);
  void redeem_invitation(const NodeId& invitee);
  void expire_invitations(Instant now);
  void push_invitations(const NodeId& to);
  Result<SignedRecord> issue_invitation(const NodeId& client, const SignedRecord& request);
  Result<SignedRecord> rotate_key(const NodeId& client);
  void handle_client(const Inbound& in, Envelope request);
  void on_gossip_event(const CoreEvent& event);
  void connect_to_member(const NodeId& id);
  Envelope envelope(Payload payload, std::uint64_t message_id) const;

  NodeConfig config_;
  Identity identity_;
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Transport> transport_;
  Codec codec_;
  Instant started_at_;
  gossip::GossipCore* gossip_ = nullptr;  // owned by gossip_host_
  std::unique_ptr<CoreHost> gossip_host_;
  consensus::ConsensusCore* consensus_ = nullptr;  // owned by consensus_host_
  std::unique_ptr<CoreHost> consensus_host_;
  std::unique_ptr<JobManager> jobs_;
  Instant record_published_at_;
  std::unique_ptr<HttpServer> http_;
  Instant snapshot_at_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> event_ring_;  // recent log lines for the dashboard
  RateLimiter peer_limits_;
  RateLimiter client_limits_;
  std::map<NodeId, Instant> bans_;  // keys cut off at the transport, until
  std::unique_ptr<RevocationList> revocations_;
  Instant revocations_pushed_at_;
  std::size_t revocations_push_next_ = 0;  // round robin over the alive members
  std::unique_ptr<InvitationList> invitations_;
  std::set<NodeId> founding_members_;  // [federation] members (+ seeds, + the own invitation's)
  mutable std::map<NodeId, SignedRecord> admissions_;  // signed once per redeemed invitation (invitation_to_send)
  Instant invitations_expired_at_;
  // Replay windows (node/replay_window.h). peer_message_id_ numbers every
  // envelope this node sends to peers; it starts at the wall clock (µs).
  mutable std::uint64_t peer_message_id_ = 0;
  PeerReplayGuard peer_replays_;
  ClientReplayGuard client_replays_;
  std::uint64_t replays_dropped_peer_ = 0;
  std::uint64_t replays_dropped_client_ = 0;
  // Job messages sent this turn, not yet released (send_job_outbox), and
  // what left: messages, and the envelopes they were bundled in.
  std::vector<std::pair<NodeId, JobMessage>> job_outbox_;
  std::uint64_t job_messages_sent_ = 0;
  std::uint64_t job_envelopes_sent_ = 0;
};

}  // namespace polder::node
