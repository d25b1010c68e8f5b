// Geography: a latency model of a planet-wide federation for the simulator.
//
// Sites sit in regions; a node sits in a site. Round-trip times: ~0.2 ms
// within a site, ~2-8 ms between sites of a region (by distance), and 30-150
// ms between regions (by great-circle distance between real cities). One-way
// latency is half the RTT plus uniform jitter of jitter_fraction. Messages to
// a "slow" (CPU-starved) node wait an extra exponential delay before it
// processes them. Deterministic from its seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/rng.h"
#include "sim/network.h"

namespace polder::sim {

struct GeoOptions {
  std::uint32_t nodes = 0;
  std::uint32_t nodes_per_site = 20;
  double loss_probability = 0.0;
  double jitter_fraction = 0.05;
  double slow_fraction = 0.0;
  std::int64_t slow_delay_us_mean = 200'000;  // capped at 10x by the network
};

class Geography {
 public:
  Geography(const GeoOptions& options, std::uint64_t seed);

  // Base RTT in ms between two nodes (no jitter, no slowness): the truth
  // Vivaldi is measured against.
  double rtt_ms(std::uint32_t a, std::uint32_t b) const;
  LinkOptions link(std::uint32_t from, std::uint32_t to) const;
  bool is_slow(std::uint32_t node) const { return slow_[node]; }
  const std::string& region_of(std::uint32_t node) const;
  std::uint32_t region_index_of(std::uint32_t node) const { return sites_[site_of_[node]].region; }
  static std::uint32_t region_count();
  // A lower bound on the one-way latency link() can give between a node of
  // region `a` and one of region `b` (a != b), slow receivers included: the
  // lookahead of a simulator partitioned by region.
  std::int64_t latency_us_min_between(std::uint32_t a, std::uint32_t b) const;
  std::uint32_t site_of(std::uint32_t node) const { return site_of_[node]; }
  std::size_t site_count() const { return sites_.size(); }

 private:
  struct Site {
    std::uint32_t region;
    double x_km;  // offset from the region's centre
    double y_km;
    double centre_km;  // hypot(x, y): computed once, rtt_ms() runs for every message sent
  };

  GeoOptions options_;
  std::vector<Site> sites_;
  std::vector<std::uint32_t> site_of_;
  std::vector<bool> slow_;
  std::vector<std::vector<double>> region_rtt_ms_;
};

}  // namespace polder::sim
