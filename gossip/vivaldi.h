// Vivaldi network coordinates with height and error terms.
//
// Dabek, Cox, Kaashoek, Morris: "Vivaldi: a decentralized network coordinate
// system" (SIGCOMM 2004), section 4 (adaptive timestep, error weighting) and
// 5.3 (height vectors); plus Serf's gravity toward the origin, which stops
// the whole system drifting. A node updates its own coordinate from each
// RTT sample to a member whose coordinate it knows; the RTT between any two
// members is then estimated as the distance between their coordinates.
// Units: milliseconds throughout. Not thread-safe.
#pragma once

#include "gossip/config.h"
#include "gossip/wire.h"
#include "protocol/rng.h"

namespace polder::gossip {

// Estimated RTT in ms between the holders of two coordinates.
double vivaldi_distance_ms(const Coordinate& a, const Coordinate& b);

// A coordinate is usable only if every component is finite and in range:
// peers' coordinates are input and are checked before use.
bool vivaldi_is_valid(const Coordinate& c);

class Vivaldi {
 public:
  explicit Vivaldi(const VivaldiConfig& config);

  const Coordinate& coordinate() const { return coordinate_; }
  std::uint64_t updates() const { return updates_; }

  // One RTT sample to a member whose coordinate is `other`. Invalid samples
  // (non-positive, above rtt_max_ms, invalid coordinate) are ignored: false.
  bool observe(const Coordinate& other, double rtt_ms, Rng& rng);

 private:
  void apply_force(const Coordinate& other, double force_ms, Rng& rng);

  VivaldiConfig config_;
  Coordinate coordinate_;
  std::uint64_t updates_ = 0;
};

}  // namespace polder::gossip
