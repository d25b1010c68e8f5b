#include "node/rate_limit.h"

#include <algorithm>

namespace polder::node {

void RateLimiter::refill(Bucket& b, Instant now) const {
  double dt = std::chrono::duration<double>(now - b.refilled).count();
  if (dt <= 0) return;
  b.refilled = now;
  b.messages = std::min(b.messages + dt * limits_.messages_per_s, limits_.messages_per_s * kBurstSeconds);
  b.bytes = std::min(b.bytes + dt * limits_.bytes_per_s, limits_.bytes_per_s * kBurstSeconds);
  b.excess = std::max(0.0, b.excess - dt * limits_.messages_per_s);
}

RateVerdict RateLimiter::admit(const NodeId& key, std::size_t size_bytes, Instant now) {
  const bool limit_messages = limits_.messages_per_s > 0, limit_bytes = limits_.bytes_per_s > 0;
  if (!limit_messages && !limit_bytes) return RateVerdict::kPass;
  auto [it, fresh] = buckets_.try_emplace(key);
  Bucket& b = it->second;
  if (fresh) {  // a new key starts with a full burst
    b.messages = limits_.messages_per_s * kBurstSeconds;
    b.bytes = limits_.bytes_per_s * kBurstSeconds;
    b.refilled = now;
  }
  if (b.banned_until) {
    if (now < *b.banned_until) return RateVerdict::kBanned;
    b.banned_until.reset();
    b.excess = 0;
  }
  refill(b, now);
  const double size = static_cast<double>(size_bytes);
  // A message larger than the whole bytes burst can never pass: let it
  // through when the bucket is full (max_message_bytes bounds it anyway).
  const bool bytes_ok = !limit_bytes || b.bytes >= std::min(size, limits_.bytes_per_s * kBurstSeconds);
  const bool messages_ok = !limit_messages || b.messages >= 1;
  if (bytes_ok && messages_ok) {
    if (limit_messages) b.messages -= 1;
    if (limit_bytes) b.bytes -= size;
    return RateVerdict::kPass;
  }
  ++counters_.throttled;
  b.excess += 1;
  const double ban_after = std::max(1.0, limits_.messages_per_s > 0 ? limits_.messages_per_s : 1000.0);
  if (limits_.ban.count() > 0 && b.excess >= ban_after) {
    b.banned_until = now + limits_.ban;
    ++counters_.bans;
    return RateVerdict::kBanned;
  }
  return RateVerdict::kThrottled;
}

std::optional<Instant> RateLimiter::banned_until(const NodeId& key, Instant now) const {
  auto it = buckets_.find(key);
  if (it == buckets_.end() || !it->second.banned_until || now >= *it->second.banned_until) return std::nullopt;
  return it->second.banned_until;
}

}  // namespace polder::node
