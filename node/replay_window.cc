#include "node/replay_window.h"

#include <string>

namespace polder::node {

bool SequenceWindow::accept(std::uint64_t seq) {
  if (seq == 0) return false;
  if (seq > highest_) {
    const std::uint64_t gap = seq - highest_;
    if (gap >= kWidth) {
      seen_.reset();
    } else {
      for (std::uint64_t s = highest_ + 1; s < seq; ++s) seen_.reset(s % kWidth);
    }
    highest_ = seq;
    seen_.set(seq % kWidth);
    return true;
  }
  if (highest_ - seq >= kWidth) return false;  // below the window
  if (seen_.test(seq % kWidth)) return false;
  seen_.set(seq % kWidth);
  return true;
}

Status ClientReplayGuard::accept(const NodeId& key, std::uint64_t nonce, std::int64_t request_us, std::int64_t now_us) {
  const std::int64_t skew = request_us - now_us;
  if (skew > window_us_ || skew < -window_us_) {
    return failed_precondition("request time is " + std::to_string(skew / 1'000'000) +
                               " s from this node's clock, outside the replay window of ±" +
                               std::to_string(window_us_ / 1'000'000) + " s: check the client's clock");
  }
  Seen& seen = by_key_[key];
  while (!seen.order.empty() && seen.order.front().first < now_us - window_us_) {
    seen.nonces.erase(seen.order.front().second);
    seen.order.pop_front();
  }
  if (request_us <= seen.floor_us) {
    return failed_precondition("request is older than the oldest this node still remembers from this key; "
                               "send it again");
  }
  if (seen.nonces.contains(nonce)) return permission_denied("replayed request (nonce seen before) refused");
  if (seen.order.size() >= max_per_key_) {
    seen.floor_us = std::max(seen.floor_us, seen.order.front().first);
    seen.nonces.erase(seen.order.front().second);
    seen.order.pop_front();
  }
  seen.order.emplace_back(request_us, nonce);
  seen.nonces.insert(nonce);
  return Status::ok();
}

}  // namespace polder::node
