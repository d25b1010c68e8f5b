// Clock: how node/ reads time. Injected so tests can substitute their own
// (STYLE.md habit 13); cores never see it, they are handed `now`.
#pragma once

#include <chrono>

#include "protocol/time.h"

namespace polder::node {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time for timers and the cores.
  virtual Instant now() const = 0;
  // Wall-clock microseconds since the Unix epoch, for envelopes and logs.
  virtual std::int64_t wall_us() const = 0;
};

class SystemClock final : public Clock {
 public:
  Instant now() const override {
    return Instant(std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch()));
  }
  std::int64_t wall_us() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace polder::node
