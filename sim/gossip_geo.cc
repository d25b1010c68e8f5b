#include "sim/gossip_geo.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace polder::sim {
namespace {

struct Region {
  const char* name;
  double lat;
  double lon;
};

constexpr Region kRegions[] = {
    {"us-east", 40.7, -74.0},    {"us-west", 37.8, -122.4},  {"eu-west", 51.5, -0.1},
    {"eu-central", 50.1, 8.7},   {"ap-northeast", 35.7, 139.7}, {"ap-southeast", 1.35, 103.8},
    {"sa-east", -23.5, -46.6},   {"ap-south", 19.1, 72.9},
};
constexpr std::size_t kRegionCount = sizeof(kRegions) / sizeof(kRegions[0]);
constexpr double kSiteRadiusKm = 300.0;

double great_circle_km(const Region& a, const Region& b) {
  constexpr double kEarthKm = 6371.0;
  constexpr double kRad = M_PI / 180.0;
  const double dlat = (b.lat - a.lat) * kRad;
  const double dlon = (b.lon - a.lon) * kRad;
  const double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
                   std::cos(a.lat * kRad) * std::cos(b.lat * kRad) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthKm * std::asin(std::sqrt(h));
}

}  // namespace

Geography::Geography(const GeoOptions& options, std::uint64_t seed) : options_(options) {
  Rng rng(seed ^ 0x67656f6772617068ULL);  // "geograph"
  const std::uint32_t site_count = std::max<std::uint32_t>(1, (options.nodes + options.nodes_per_site - 1) / options.nodes_per_site);
  for (std::uint32_t s = 0; s < site_count; ++s) {
    const double angle = rng.unit() * 2 * M_PI;
    const double radius = std::sqrt(rng.unit()) * kSiteRadiusKm;
    const double x_km = radius * std::cos(angle);
    const double y_km = radius * std::sin(angle);
    sites_.push_back({static_cast<std::uint32_t>(s % kRegionCount), x_km, y_km, std::hypot(x_km, y_km)});
  }
  site_of_.resize(options.nodes);
  slow_.resize(options.nodes, false);
  for (std::uint32_t i = 0; i < options.nodes; ++i) {
    site_of_[i] = static_cast<std::uint32_t>(rng.uniform(site_count));
    slow_[i] = options.slow_fraction > 0 && rng.chance(options.slow_fraction);
  }
  region_rtt_ms_.assign(kRegionCount, std::vector<double>(kRegionCount, 0.0));
  for (std::size_t a = 0; a < kRegionCount; ++a) {
    for (std::size_t b = 0; b < kRegionCount; ++b) {
      // Fibre at ~2/3 c with a routing detour: RTT ~ distance / 66 km per ms.
      if (a != b) region_rtt_ms_[a][b] = std::clamp(great_circle_km(kRegions[a], kRegions[b]) / 66.0 + 10.0, 30.0, 150.0);
    }
  }
}

const std::string& Geography::region_of(std::uint32_t node) const {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const Region& r : kRegions) out.emplace_back(r.name);
    return out;
  }();
  return names[sites_[site_of_[node]].region];
}

std::uint32_t Geography::region_count() { return static_cast<std::uint32_t>(kRegionCount); }

std::int64_t Geography::latency_us_min_between(std::uint32_t a, std::uint32_t b) const {
  assert(a != b && a < kRegionCount && b < kRegionCount);
  // link() with the smallest RTT two nodes of these regions can have (no
  // access distance): base latency one_way - jitter/2, and the jitter draw
  // only adds. A slow receiver's base is the whole one_way. A few us of
  // slack for the integer rounding in link(), which can take back a us or
  // two as the access distance grows.
  const double one_way_us = region_rtt_ms_[a][b] * 500.0;
  const auto jitter_us = static_cast<std::int64_t>(one_way_us * options_.jitter_fraction) + 10;
  return std::max<std::int64_t>(0, static_cast<std::int64_t>(one_way_us) - jitter_us / 2 - 5);
}

double Geography::rtt_ms(std::uint32_t a, std::uint32_t b) const {
  const Site& sa = sites_[site_of_[a]];
  const Site& sb = sites_[site_of_[b]];
  if (site_of_[a] == site_of_[b]) return a == b ? 0.0 : 0.2;
  if (sa.region == sb.region) {
    const double site_km = std::hypot(sa.x_km - sb.x_km, sa.y_km - sb.y_km);
    return 1.0 + site_km / 50.0;  // ~2-13 ms, ~5 ms typical
  }
  return region_rtt_ms_[sa.region][sb.region] + (sa.centre_km + sb.centre_km) / 100.0;
}

LinkOptions Geography::link(std::uint32_t from, std::uint32_t to) const {
  LinkOptions link;
  const double one_way_us = rtt_ms(from, to) * 500.0;
  link.loss_probability = options_.loss_probability;
  if (slow_[to]) {
    link.latency_us_base = static_cast<std::int64_t>(one_way_us);
    link.jitter_kind = JitterKind::kExponential;
    link.jitter_us = options_.slow_delay_us_mean;
  } else {
    link.jitter_us = static_cast<std::int64_t>(one_way_us * options_.jitter_fraction) + 10;
    link.latency_us_base = static_cast<std::int64_t>(one_way_us) - link.jitter_us / 2;
    if (link.latency_us_base < 0) link.latency_us_base = 0;
    link.jitter_kind = JitterKind::kUniform;
  }
  return link;
}

}  // namespace polder::sim
