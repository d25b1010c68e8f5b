// Time as the cores see it: a monotonic instant in microseconds, handed in by
// the host (real clock in node/, virtual clock in sim/). Cores never read a
// clock themselves (DESIGN.md, sans-IO rule).
#pragma once

#include <chrono>
#include <cstdint>

namespace polder {

using Duration = std::chrono::microseconds;

// Tag clock so Instant cannot be mixed with std::chrono::steady_clock points.
struct PolderClock {
  using rep = std::int64_t;
  using period = std::micro;
  using duration = Duration;
  using time_point = std::chrono::time_point<PolderClock, Duration>;
  static constexpr bool is_steady = true;
};
using Instant = PolderClock::time_point;

constexpr Instant instant_from_us(std::int64_t us) { return Instant(Duration(us)); }
constexpr std::int64_t to_us(Instant t) { return t.time_since_epoch().count(); }
constexpr std::int64_t to_us(Duration d) { return d.count(); }

}  // namespace polder
