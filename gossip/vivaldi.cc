#include "gossip/vivaldi.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace polder::gossip {
namespace {

constexpr double kZero = 1e-6;
constexpr double kCoordinateLimitMs = 1e6;

double magnitude(const std::array<double, kCoordinateDimensions>& v) {
  double sum = 0;
  for (double x : v) sum += x * x;
  return std::sqrt(sum);
}

}  // namespace

double vivaldi_distance_ms(const Coordinate& a, const Coordinate& b) {
  std::array<double, kCoordinateDimensions> diff{};
  for (std::size_t i = 0; i < kCoordinateDimensions; ++i) diff[i] = double{a.vec[i]} - double{b.vec[i]};
  return magnitude(diff) + a.height_ms + b.height_ms;
}

bool vivaldi_is_valid(const Coordinate& c) {
  for (float x : c.vec) {
    if (!std::isfinite(x) || std::fabs(x) > kCoordinateLimitMs) return false;
  }
  return std::isfinite(c.height_ms) && c.height_ms >= 0 && c.height_ms < kCoordinateLimitMs &&
         std::isfinite(c.error) && c.error >= 0 && c.error <= 1e3;
}

Vivaldi::Vivaldi(const VivaldiConfig& config) : config_(config) {
  coordinate_.error = static_cast<float>(config.error_max);
  coordinate_.height_ms = static_cast<float>(config.height_min_ms);
}

bool Vivaldi::observe(const Coordinate& other, double rtt_ms, Rng& rng) {
  if (!vivaldi_is_valid(other) || !(rtt_ms > 0) || rtt_ms > config_.rtt_max_ms) return false;
  rtt_ms = std::max(rtt_ms, kZero);
  const double dist = vivaldi_distance_ms(coordinate_, other);
  // A node that is sure of its place treats a sample far above the
  // estimate as a stall (a busy peer, a queue), not as distance: it is cut
  // to outlier_factor x the estimate, so one stall moves it only a little.
  const double confident = double{coordinate_.error} < config_.outlier_error_max;
  if (confident && rtt_ms > config_.outlier_factor * dist) rtt_ms = config_.outlier_factor * dist;
  const double wrongness = std::fabs(dist - rtt_ms) / rtt_ms;
  const double total_error = std::max(double{coordinate_.error} + double{other.error}, kZero);
  const double weight = coordinate_.error / total_error;
  const double error = config_.ce * weight * wrongness + coordinate_.error * (1.0 - config_.ce * weight);
  coordinate_.error = static_cast<float>(std::min(error, config_.error_max));
  apply_force(other, config_.cc * weight * (rtt_ms - dist), rng);

  // Gravity: a weak pull toward the origin, growing with the square of the
  // distance from it, keeps the cluster's coordinates from drifting away.
  Coordinate origin;
  origin.height_ms = static_cast<float>(config_.height_min_ms);
  const double from_origin = vivaldi_distance_ms(coordinate_, origin);
  const double pull = from_origin / config_.gravity_rho_ms;
  apply_force(origin, -pull * pull, rng);
  ++updates_;
  assert(vivaldi_is_valid(coordinate_) && "own Vivaldi coordinate stays finite");
  return true;
}

// Moves this coordinate by `force_ms` along the line from `other` (away when
// positive); the height takes its share of the force (Dabek section 5.3).
void Vivaldi::apply_force(const Coordinate& other, double force_ms, Rng& rng) {
  std::array<double, kCoordinateDimensions> unit{};
  for (std::size_t i = 0; i < kCoordinateDimensions; ++i) unit[i] = double{coordinate_.vec[i]} - double{other.vec[i]};
  double mag = magnitude(unit);
  if (mag > kZero) {
    for (double& x : unit) x /= mag;
  } else {
    // Coincident points: push in a random direction so they can separate.
    for (double& x : unit) x = rng.unit() - 0.5;
    const double m = std::max(magnitude(unit), kZero);
    for (double& x : unit) x /= m;
    mag = 0;
  }
  for (std::size_t i = 0; i < kCoordinateDimensions; ++i) {
    const double v = std::clamp(coordinate_.vec[i] + unit[i] * force_ms, -kCoordinateLimitMs / 2, kCoordinateLimitMs / 2);
    coordinate_.vec[i] = static_cast<float>(v);
  }
  if (mag > kZero) {
    const double height = (double{coordinate_.height_ms} + double{other.height_ms}) * force_ms / mag + coordinate_.height_ms;
    coordinate_.height_ms = static_cast<float>(std::clamp(height, config_.height_min_ms, kCoordinateLimitMs / 2));
  }
}

}  // namespace polder::gossip
