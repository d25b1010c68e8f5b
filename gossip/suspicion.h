// Suspicion: Lifeguard's dynamic suspicion timeout (Dadgar et al.,
// "Lifeguard: Local Health Awareness for More Accurate Failure Detection",
// section 4.2).
//
// A suspicion starts with a long timeout (max) and shrinks toward min
// logarithmically as independent confirmations (suspect messages from other
// accusers) arrive; k confirmations reach min:
//   timeout(c) = max(min, max - (max - min) * log(c + 1) / log(k + 1)).
// The member is declared dead when now >= start + timeout(c). Confirmers are
// remembered so one accuser counts once; at most k are kept.
#pragma once

#include <cstdint>
#include <vector>

#include "protocol/time.h"

namespace polder::gossip {

class Suspicion {
 public:
  Suspicion(std::uint64_t accuser, std::uint32_t k, Duration min, Duration max, Instant start);

  // True when `accuser` is a new, independent confirmation (the caller then
  // re-gossips it); the deadline may move earlier.
  bool confirm(std::uint64_t accuser);

  Instant deadline() const { return deadline_; }
  std::uint32_t confirmations() const { return static_cast<std::uint32_t>(confirmers_.size()); }
  std::uint64_t first_accuser() const { return first_accuser_; }
  Instant start() const { return start_; }

 private:
  Duration timeout() const;

  std::uint64_t first_accuser_;
  std::uint32_t k_;
  Duration min_;
  Duration max_;
  Instant start_;
  Instant deadline_;
  std::vector<std::uint64_t> confirmers_;  // bounded by k_
};

// Lifeguard's local health multiplier (section 4.1): a score in
// [0, max - 1] raised when this node shows signs of being the slow one
// (missed nacks, having to refute a suspicion) and lowered by each
// successful probe. Probe intervals and timeouts are multiplied by score + 1.
class Awareness {
 public:
  explicit Awareness(std::uint32_t max) : max_(max) {}
  void apply_delta(int delta) {
    const std::int64_t s = std::int64_t{score_} + delta;
    score_ = static_cast<std::uint32_t>(s < 0 ? 0 : (s >= max_ ? max_ - 1 : s));
  }
  std::uint32_t score() const { return score_; }
  Duration scale(Duration d) const { return d * (score_ + 1); }

 private:
  std::uint32_t max_;
  std::uint32_t score_ = 0;
};

}  // namespace polder::gossip
