#include "gossip/vivaldi.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace polder::gossip {
namespace {

// Nodes on a plane, RTT = distance: Vivaldi should embed them closely.
TEST(Vivaldi, ConvergesOnAPlanarLatencyMap) {
  const std::vector<std::pair<double, double>> where = {{0, 0}, {100, 0}, {0, 60}, {80, 90}, {40, 30}, {10, 120}};
  std::vector<Vivaldi> nodes(where.size(), Vivaldi(VivaldiConfig{}));
  Rng rng(5);
  auto truth = [&](std::size_t a, std::size_t b) {
    return std::hypot(where[a].first - where[b].first, where[a].second - where[b].second) + 1.0;
  };
  for (int round = 0; round < 3000; ++round) {
    const std::size_t a = rng.uniform(where.size());
    const std::size_t b = rng.uniform(where.size());
    if (a == b) continue;
    nodes[a].observe(nodes[b].coordinate(), truth(a, b), rng);
  }
  double worst = 0;
  for (std::size_t a = 0; a < where.size(); ++a) {
    for (std::size_t b = a + 1; b < where.size(); ++b) {
      const double err = std::fabs(vivaldi_distance_ms(nodes[a].coordinate(), nodes[b].coordinate()) - truth(a, b)) / truth(a, b);
      worst = std::max(worst, err);
    }
  }
  EXPECT_LT(worst, 0.25);
  for (const auto& n : nodes) EXPECT_LT(n.coordinate().error, 0.5F);
}

TEST(Vivaldi, IgnoresBogusSamples) {
  Vivaldi v{VivaldiConfig{}};
  Rng rng(1);
  Coordinate bad;
  bad.vec[0] = std::nanf("");
  EXPECT_FALSE(v.observe(bad, 10, rng));
  EXPECT_FALSE(v.observe(Coordinate{}, -1, rng));
  EXPECT_FALSE(v.observe(Coordinate{}, 1e9, rng));
  EXPECT_EQ(v.updates(), 0U);
}

TEST(Vivaldi, CutsAStallToAFewTimesTheEstimateOnceConfident) {
  Vivaldi a{VivaldiConfig{}};
  Vivaldi b{VivaldiConfig{}};
  Rng rng(3);
  for (int i = 0; i < 300; ++i) {  // a pair 10 ms apart, both sure of it
    a.observe(b.coordinate(), 10.0, rng);
    b.observe(a.coordinate(), 10.0, rng);
  }
  ASSERT_LT(a.coordinate().error, 0.5F);
  const double before = vivaldi_distance_ms(a.coordinate(), b.coordinate());
  ASSERT_NEAR(before, 10.0, 1.0);
  ASSERT_TRUE(a.observe(b.coordinate(), 1000.0, rng));  // a stalled peer, not a far one
  EXPECT_LT(vivaldi_distance_ms(a.coordinate(), b.coordinate()), 2 * before);
}

}  // namespace
}  // namespace polder::gossip
