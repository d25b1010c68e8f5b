// RateLimiter: per-key limits on message rate and bytes (issue 8).
//
// Each authenticated key (a peer node or a CLI key) has two token buckets,
// messages and bytes, refilled at the configured rate and holding up to
// kBurstSeconds of it. A message that finds either bucket empty is
// throttled (dropped before it is decoded) and counted. A key that keeps
// sending while throttled — its dropped messages reach one second's worth
// of its message rate, decaying at that rate — is banned for `ban` (the
// transport then drops its messages and refuses its handshakes), so a
// flooding key costs the node a counter increment per message while it
// keeps serving everyone else.
//
// Pure: time comes in as `now`. Memory: one entry per key seen, and keys
// are bounded by the allowlists. Thread-safety: none (event-loop thread).
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "protocol/ids.h"
#include "protocol/time.h"

namespace polder::node {

struct RateLimits {
  double messages_per_s = 0;  // 0 = unlimited
  double bytes_per_s = 0;     // 0 = unlimited
  Duration ban{};             // 0 = throttle only, never ban
};

enum class RateVerdict { kPass, kThrottled, kBanned };

struct RateCounters {
  std::uint64_t throttled = 0;  // messages dropped for exceeding a limit
  std::uint64_t bans = 0;       // keys banned
};

class RateLimiter {
 public:
  static constexpr double kBurstSeconds = 2.0;

  explicit RateLimiter(RateLimits limits) : limits_(limits) {}

  // Charges one message of `size_bytes` from `key`. kBanned: the key was
  // banned by this message or before (until banned_until(key)).
  RateVerdict admit(const NodeId& key, std::size_t size_bytes, Instant now);
  std::optional<Instant> banned_until(const NodeId& key, Instant now) const;
  const RateCounters& counters() const { return counters_; }

 private:
  struct Bucket {
    double messages = 0;
    double bytes = 0;
    double excess = 0;  // dropped messages, decaying at messages_per_s
    Instant refilled;
    std::optional<Instant> banned_until;
  };
  void refill(Bucket& b, Instant now) const;

  RateLimits limits_;
  std::map<NodeId, Bucket> buckets_;
  RateCounters counters_;
};

}  // namespace polder::node
