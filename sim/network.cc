#include "sim/network.h"

#include <cassert>
#include <cmath>
#include <string>

namespace polder::sim {

namespace {

bool is_probability(double p) { return p >= 0.0 && p <= 1.0; }  // false for NaN

}  // namespace

Status validate_link_options(const LinkOptions& options) {
  if (options.latency_us_base < 0 || options.latency_us_base > LinkOptions::kLatencyUsMax) {
    return invalid_argument("latency_us_base must be in [0, " + std::to_string(LinkOptions::kLatencyUsMax) +
                            "], got " + std::to_string(options.latency_us_base));
  }
  if (options.jitter_us < 0 || options.jitter_us > LinkOptions::kLatencyUsMax) {
    return invalid_argument("jitter_us must be in [0, " + std::to_string(LinkOptions::kLatencyUsMax) + "], got " +
                            std::to_string(options.jitter_us));
  }
  switch (options.jitter_kind) {
    case JitterKind::kNone:
    case JitterKind::kUniform:
    case JitterKind::kExponential:
      break;
    default:
      return invalid_argument("unknown jitter_kind " + std::to_string(static_cast<int>(options.jitter_kind)));
  }
  if (!is_probability(options.loss_probability)) {
    return invalid_argument("loss_probability must be in [0, 1], got " + std::to_string(options.loss_probability));
  }
  if (!is_probability(options.duplicate_probability)) {
    return invalid_argument("duplicate_probability must be in [0, 1], got " +
                            std::to_string(options.duplicate_probability));
  }
  return Status::ok();
}

Status validate_network_options(const NetworkOptions& options) {
  POLDER_RETURN_IF_ERROR(validate_link_options(options.default_link));
  if (options.in_flight_messages_max == 0 || options.in_flight_messages_max == 0xffffffffU) {
    return invalid_argument("in_flight_messages_max must be in [1, 2^32-2]");
  }
  return Status::ok();
}

Network::Network(const NetworkOptions& options) : options_(options) {
  assert(validate_network_options(options).is_ok());
}

Status Network::set_default_link(const LinkOptions& options) {
  POLDER_RETURN_IF_ERROR(validate_link_options(options));
  options_.default_link = options;
  return Status::ok();
}

Status Network::set_link(std::uint32_t from, std::uint32_t to, const LinkOptions& options) {
  POLDER_RETURN_IF_ERROR(validate_link_options(options));
  links_[{from, to}] = options;
  return Status::ok();
}

const LinkOptions& Network::link(std::uint32_t from, std::uint32_t to) const {
  if (links_.empty()) return options_.default_link;  // the common case: no lookup
  auto it = links_.find({from, to});
  return it == links_.end() ? options_.default_link : it->second;
}

void Network::cut(std::uint32_t a, std::uint32_t b) {
  cuts_.insert({a, b});
  cuts_.insert({b, a});
}

void Network::heal(std::uint32_t a, std::uint32_t b) {
  cuts_.erase({a, b});
  cuts_.erase({b, a});
}

std::int64_t Network::draw_latency_us(const LinkOptions& link, Rng& rng) {
  std::int64_t jitter_us = 0;
  switch (link.jitter_kind) {
    case JitterKind::kNone:
      break;
    case JitterKind::kUniform:
      if (link.jitter_us > 0) jitter_us = static_cast<std::int64_t>(rng.uniform(static_cast<std::uint64_t>(link.jitter_us) + 1));
      break;
    case JitterKind::kExponential: {
      // Inverse-CDF sampling; 1 - unit() is in (0, 1], so log() is finite.
      const double draw = -std::log(1.0 - rng.unit()) * static_cast<double>(link.jitter_us);
      const double cap = static_cast<double>(link.jitter_us * kExponentialCapFactor);
      jitter_us = static_cast<std::int64_t>(draw < cap ? draw : cap);
      break;
    }
  }
  return link.latency_us_base + jitter_us;
}

Route Network::route(std::uint32_t from, std::uint32_t to, Rng& rng) const {
  Route route;
  if (is_cut(from, to)) {
    route.outcome = Route::Outcome::kPartitioned;
    return route;
  }
  LinkOptions modelled;
  const bool use_model = model_ && (links_.empty() || links_.count({from, to}) == 0);
  if (use_model) {
    modelled = model_(from, to);
    assert(validate_link_options(modelled).is_ok() && "a link model returns valid options");
  }
  const LinkOptions& link = use_model ? modelled : this->link(from, to);
  // Draw only for the features in use, so a fault-free run spends no
  // randomness on them. The order of draws is fixed, keeping runs replayable.
  if (link.loss_probability > 0.0 && rng.chance(link.loss_probability)) {
    route.outcome = Route::Outcome::kLost;
    return route;
  }
  route.delay_us = draw_latency_us(link, rng);
  if (link.duplicate_probability > 0.0 && rng.chance(link.duplicate_probability)) {
    route.duplicate = true;
    route.duplicate_delay_us = draw_latency_us(link, rng);
  }
  return route;
}

}  // namespace polder::sim
