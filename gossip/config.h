// GossipConfig: every tunable of the gossip core, with a LAN default and a
// WAN profile. Timeouts that should grow with the cluster are given as
// multipliers and scaled at run time by the current member count n (SWIM's
// log(n) rounds): see the scaled_* helpers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/ids.h"
#include "protocol/status.h"
#include "protocol/time.h"

namespace polder::gossip {

using namespace std::chrono_literals;

struct VivaldiConfig {
  double error_max = 1.5;         // initial and maximal relative error
  // Dabek's c_e and c_c. The paper and Serf use 0.25; in the simulator's
  // geography 0.5 reached 10% median error twice as fast (tuned offline).
  double ce = 0.5;
  double cc = 0.5;
  double height_min_ms = 0.01;    // heights never go below this
  double rtt_max_ms = 10'000.0;   // samples above are discarded as bogus
  double gravity_rho_ms = 150.0;  // pull toward the origin (Serf's drift fix)
  // A new node probes twice as often until it has this many RTT samples:
  // coordinates (and the RTT-adaptive probe timeout) become useful in tens
  // of seconds instead of minutes, for one extra ping a second meanwhile.
  std::uint32_t fast_start_samples = 128;
  // Samples above outlier_factor x the estimate are cut to it once the own
  // error is below outlier_error_max (stalls are not distance).
  double outlier_factor = 2.0;
  double outlier_error_max = 0.5;
};

struct GossipConfig {
  // ---- Probing (SWIM section 3) -------------------------------------------
  Duration probe_interval = 1s;         // one probe started per interval (x local health)
  Duration probe_timeout = 500ms;       // direct ack wait before indirect probes
  Duration probe_timeout_min = 20ms;    // floor of the RTT-adaptive timeout
  double probe_timeout_rtt_factor = 3;  // adaptive timeout = factor x estimated RTT (+ error)
  Duration probe_deadline = 1s;         // probe start -> suspect when nothing came back
  std::uint32_t indirect_checks = 3;    // k of SWIM's ping-req
  // Staged probing: at the probe timeout ping the target once more and
  // ask the k others only a timeout later (at most half the deadline after
  // the start). Under loss most missing acks are one lost ping or ack, which
  // the second ping answers: ~10% of probes at 5% loss went indirect (k
  // ping-reqs, k relayed pings and acks, nacks: ~20 messages each), ~1% do.
  bool retry_before_indirect = false;
  std::uint32_t probes_in_flight_max = 8;

  // ---- Suspicion (Lifeguard section 4.2) ----------------------------------
  // min = suspicion_mult x max(1, log10 n) x probe_interval; max = min x suspicion_max_mult.
  double suspicion_mult = 4;
  double suspicion_max_mult = 6;
  std::uint32_t suspicion_confirmations = 3;  // independent accusers that shrink to min
  // Expected number of members that probe a suspect at once when they learn
  // of the suspicion (each with probability fanout / n): fast, independent
  // confirmations without a thundering herd.
  double suspicion_probe_fanout = 0;
  std::uint32_t awareness_max = 8;  // local health multiplier saturates here (Lifeguard 4.1)

  // ---- Dissemination (SWIM 4.1, memberlist's TransmitLimitedQueue) --------
  Duration gossip_interval = 200ms;
  std::uint32_t gossip_fanout = 3;
  double retransmit_mult = 4;  // each update sent retransmit_mult x ceil(log10(n+1)) times
  bool gossip_eagerly = true;  // forward new updates at once, not at the next interval
  std::size_t packet_budget_bytes = 1400;
  std::size_t broadcasts_max = 4096;

  // ---- Anti-entropy (push-pull) -------------------------------------------
  Duration push_pull_interval = 30s;  // scaled like memberlist's pushPullScale
  std::size_t digest_page_entries = 512;
  std::size_t push_pull_reply_bytes_max = 48 * 1024;

  // ---- Membership --------------------------------------------------------
  std::vector<NodeId> seeds;          // joined through at start
  Duration join_retry_interval = 5s;  // while no seed answered
  Duration dead_reap_after = 10min;   // dead/left members forgotten after this
  std::size_t members_max = 100'000;

  // ---- Records and links -------------------------------------------------
  std::size_t record_bytes_max = 1024;
  std::size_t message_bytes_max = 64 * 1024;
  double bandwidth_ewma_alpha = 0.2;
  std::uint64_t bandwidth_default_bps = 100'000'000;

  VivaldiConfig vivaldi;
};

// Defaults for one datacentre: sub-millisecond RTTs, rare loss.
GossipConfig lan_config();
// Defaults across regions: RTTs up to a few hundred ms, more loss, slower
// timeouts; probes adapt their timeout to each target's Vivaldi RTT.
GossipConfig wan_config();

Status validate_gossip_config(const GossipConfig& config);

// Scaling with the member count n (n >= 1).
std::uint32_t retransmit_limit(const GossipConfig& config, std::size_t n);
Duration suspicion_timeout_min(const GossipConfig& config, std::size_t n);
Duration suspicion_timeout_max(const GossipConfig& config, std::size_t n);
Duration push_pull_interval(const GossipConfig& config, std::size_t n);

}  // namespace polder::gossip
