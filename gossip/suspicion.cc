#include "gossip/suspicion.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace polder::gossip {

Suspicion::Suspicion(std::uint64_t accuser, std::uint32_t k, Duration min, Duration max, Instant start)
    : first_accuser_(accuser), k_(k), min_(min), max_(std::max(min, max)), start_(start) {
  deadline_ = start_ + timeout();
}

bool Suspicion::confirm(std::uint64_t accuser) {
  if (confirmers_.size() >= k_ || accuser == first_accuser_) return false;
  if (std::find(confirmers_.begin(), confirmers_.end(), accuser) != confirmers_.end()) return false;
  confirmers_.push_back(accuser);
  deadline_ = start_ + timeout();
  return true;
}

Duration Suspicion::timeout() const {
  if (k_ == 0) return min_;
  const double fraction = std::log(static_cast<double>(confirmers_.size()) + 1.0) / std::log(static_cast<double>(k_) + 1.0);
  const auto span_us = static_cast<double>((max_ - min_).count());
  const auto t = max_ - Duration(static_cast<std::int64_t>(std::floor(span_us * fraction)));
  assert(t >= min_ - Duration(1) && "suspicion timeout never falls below min");
  return std::max(min_, t);
}

}  // namespace polder::gossip
