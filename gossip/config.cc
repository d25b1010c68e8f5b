#include "gossip/config.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace polder::gossip {

GossipConfig lan_config() { return GossipConfig{}; }

GossipConfig wan_config() {
  GossipConfig c;
  c.probe_interval = 1s;
  c.probe_timeout = 600ms;
  c.probe_deadline = 1200ms;
  c.suspicion_mult = 0.8;
  c.suspicion_max_mult = 4;
  // Each update reaches a member ~retransmit_limit x (1 - loss) times; at
  // 2.8 x ceil(log10(n+1)) (14 at 10,000, 12 at 1,000) a member missing one
  // has odds of about e^-11 to e^-13, and push-pull repairs the rest. 4
  // (memberlist's LAN value) cost 40% more bandwidth; at 10,000 members the
  // difference decides the 100 kbit/s budget.
  c.retransmit_mult = 2.8;
  // Relayed news waits for the next gossip round (own news goes at once):
  // eager relaying tripled the messages per node at 10,000 members.
  c.gossip_eagerly = false;
  c.suspicion_probe_fanout = 4;
  // With 5% loss an indirect path (4 messages) fails 19% of the time; five
  // of them (and a second direct ping) keep false suspicions, and the
  // refutations they cost federation-wide, rare at 10,000 members.
  c.indirect_checks = 5;
  c.retry_before_indirect = true;
  c.gossip_interval = 200ms;
  c.gossip_fanout = 3;
  c.push_pull_interval = 60s;
  return c;
}

namespace {

Status positive(Duration d, const char* name) {
  if (d <= Duration::zero()) return invalid_argument(std::string(name) + " must be positive");
  return Status::ok();
}

}  // namespace

Status validate_gossip_config(const GossipConfig& c) {
  POLDER_RETURN_IF_ERROR(positive(c.probe_interval, "probe_interval"));
  POLDER_RETURN_IF_ERROR(positive(c.probe_timeout, "probe_timeout"));
  POLDER_RETURN_IF_ERROR(positive(c.probe_timeout_min, "probe_timeout_min"));
  POLDER_RETURN_IF_ERROR(positive(c.probe_deadline, "probe_deadline"));
  POLDER_RETURN_IF_ERROR(positive(c.gossip_interval, "gossip_interval"));
  POLDER_RETURN_IF_ERROR(positive(c.push_pull_interval, "push_pull_interval"));
  POLDER_RETURN_IF_ERROR(positive(c.join_retry_interval, "join_retry_interval"));
  POLDER_RETURN_IF_ERROR(positive(c.dead_reap_after, "dead_reap_after"));
  if (c.probe_timeout >= c.probe_deadline) return invalid_argument("probe_timeout must be below probe_deadline");
  if (c.probe_timeout_min > c.probe_timeout) return invalid_argument("probe_timeout_min must not exceed probe_timeout");
  if (!(c.probe_timeout_rtt_factor >= 1.0 && c.probe_timeout_rtt_factor <= 100.0)) {
    return invalid_argument("probe_timeout_rtt_factor must be in [1, 100]");
  }
  if (c.indirect_checks > 16) return invalid_argument("indirect_checks must be at most 16");
  if (c.probes_in_flight_max < 1 || c.probes_in_flight_max > 64) {
    return invalid_argument("probes_in_flight_max must be in [1, 64]");
  }
  if (!(c.suspicion_mult > 0.0 && c.suspicion_mult <= 100.0)) return invalid_argument("suspicion_mult must be in (0, 100]");
  if (!(c.suspicion_max_mult >= 1.0 && c.suspicion_max_mult <= 100.0)) {
    return invalid_argument("suspicion_max_mult must be in [1, 100]");
  }
  if (c.suspicion_confirmations > 64) return invalid_argument("suspicion_confirmations must be at most 64");
  if (!(c.suspicion_probe_fanout >= 0.0 && c.suspicion_probe_fanout <= 64.0)) {
    return invalid_argument("suspicion_probe_fanout must be in [0, 64]");
  }
  if (c.awareness_max < 1 || c.awareness_max > 64) return invalid_argument("awareness_max must be in [1, 64]");
  if (c.gossip_fanout < 1 || c.gossip_fanout > 64) return invalid_argument("gossip_fanout must be in [1, 64]");
  if (!(c.retransmit_mult > 0.0 && c.retransmit_mult <= 100.0)) return invalid_argument("retransmit_mult must be in (0, 100]");
  if (c.packet_budget_bytes < 256 || c.packet_budget_bytes > c.message_bytes_max) {
    return invalid_argument("packet_budget_bytes must be in [256, message_bytes_max]");
  }
  if (c.broadcasts_max < 16) return invalid_argument("broadcasts_max must be at least 16");
  if (c.digest_page_entries < 16 || c.digest_page_entries > 4096) {
    return invalid_argument("digest_page_entries must be in [16, 4096]");
  }
  if (c.push_pull_reply_bytes_max < 1024 || c.push_pull_reply_bytes_max > c.message_bytes_max) {
    return invalid_argument("push_pull_reply_bytes_max must be in [1024, message_bytes_max]");
  }
  if (c.members_max < 2) return invalid_argument("members_max must be at least 2");
  if (c.record_bytes_max < 64 || c.record_bytes_max + 1024 > c.message_bytes_max) {
    return invalid_argument("record_bytes_max must be at least 64 and leave 1 KiB of a message");
  }
  if (c.message_bytes_max < 4096 || c.message_bytes_max > (1U << 20)) {
    return invalid_argument("message_bytes_max must be in [4 KiB, 1 MiB]");
  }
  if (!(c.bandwidth_ewma_alpha > 0.0 && c.bandwidth_ewma_alpha <= 1.0)) {
    return invalid_argument("bandwidth_ewma_alpha must be in (0, 1]");
  }
  if (c.bandwidth_default_bps == 0) return invalid_argument("bandwidth_default_bps must be positive");
  if (!(c.vivaldi.error_max > 0 && c.vivaldi.ce > 0 && c.vivaldi.ce <= 1 && c.vivaldi.cc > 0 && c.vivaldi.cc <= 1 &&
        c.vivaldi.height_min_ms >= 0 && c.vivaldi.rtt_max_ms > 0 && c.vivaldi.gravity_rho_ms > 0 &&
        c.vivaldi.fast_start_samples <= 100'000)) {
    return invalid_argument("vivaldi parameters out of range");
  }
  return Status::ok();
}

namespace {

double log10_n(std::size_t n) { return std::max(1.0, std::log10(static_cast<double>(std::max<std::size_t>(n, 1)))); }

Duration scale(Duration d, double factor) {
  return Duration(static_cast<std::int64_t>(std::llround(static_cast<double>(d.count()) * factor)));
}

}  // namespace

std::uint32_t retransmit_limit(const GossipConfig& c, std::size_t n) {
  // Below ~1,000 members log10 gives too few sends for 5% loss to reach
  // every member (a member misses an update with odds ~e^-(0.95 x limit)),
  // and there extra sends are cheap: never fewer than this.
  constexpr double kLimitMin = 10;
  const double rounds = std::ceil(std::log10(static_cast<double>(n) + 1.0));
  return static_cast<std::uint32_t>(std::max(kLimitMin, std::ceil(c.retransmit_mult * std::max(1.0, rounds))));
}

Duration suspicion_timeout_min(const GossipConfig& c, std::size_t n) {
  return scale(c.probe_interval, c.suspicion_mult * log10_n(n));
}

Duration suspicion_timeout_max(const GossipConfig& c, std::size_t n) {
  return scale(suspicion_timeout_min(c, n), c.suspicion_max_mult);
}

Duration push_pull_interval(const GossipConfig& c, std::size_t n) {
  // memberlist's pushPullScale: constant up to 32 members, then grows with
  // log2(n) so the cluster-wide anti-entropy traffic stays bounded.
  constexpr double kThreshold = 32.0;
  const double nn = static_cast<double>(n);
  if (nn <= kThreshold) return c.push_pull_interval;
  const double multiplier = std::ceil(std::log2(nn) - std::log2(kThreshold)) + 1.0;
  return scale(c.push_pull_interval, multiplier);
}

}  // namespace polder::gossip
