#include "sim/network.h"

#include <gtest/gtest.h>

namespace polder::sim {
namespace {

NetworkOptions quiet(std::int64_t latency_us, std::int64_t jitter_us, JitterKind kind) {
  NetworkOptions options;
  options.default_link.latency_us_base = latency_us;
  options.default_link.jitter_us = jitter_us;
  options.default_link.jitter_kind = kind;
  return options;
}

TEST(Network, CutBlocksBothDirectionsAndHealRestores) {
  Network network(quiet(100, 0, JitterKind::kNone));
  Rng rng(1);
  network.cut(0, 1);
  EXPECT_EQ(network.route(0, 1, rng).outcome, Route::Outcome::kPartitioned);
  EXPECT_EQ(network.route(1, 0, rng).outcome, Route::Outcome::kPartitioned);
  EXPECT_EQ(network.route(0, 2, rng).outcome, Route::Outcome::kDeliver);
  network.heal(1, 0);
  EXPECT_EQ(network.route(0, 1, rng).outcome, Route::Outcome::kDeliver);
  EXPECT_EQ(network.route(1, 0, rng).outcome, Route::Outcome::kDeliver);
}

TEST(Network, RejectsProbabilityOutsideUnitInterval) {
  LinkOptions link;
  link.loss_probability = 1.5;
  EXPECT_EQ(validate_link_options(link).code(), StatusCode::kInvalidArgument);
  link.loss_probability = 0.0;
  link.duplicate_probability = -0.1;
  EXPECT_EQ(validate_link_options(link).code(), StatusCode::kInvalidArgument);
  link.duplicate_probability = 0.0;
  link.latency_us_base = -1;
  EXPECT_EQ(validate_link_options(link).code(), StatusCode::kInvalidArgument);
}

TEST(Network, BadLinkOverrideChangesNothing) {
  Network network(quiet(100, 0, JitterKind::kNone));
  LinkOptions bad = network.link(0, 1);
  bad.loss_probability = 2.0;
  EXPECT_FALSE(network.set_link(0, 1, bad).is_ok());
  EXPECT_EQ(network.link(0, 1).loss_probability, 0.0);
}

TEST(Network, UniformJitterStaysWithinBaseAndBasePlusJitter) {
  Network network(quiet(1000, 500, JitterKind::kUniform));
  Rng rng(7);
  std::int64_t low = 1'000'000, high = 0;
  for (int i = 0; i < 10'000; ++i) {
    const Route r = network.route(0, 1, rng);
    low = std::min(low, r.delay_us);
    high = std::max(high, r.delay_us);
  }
  EXPECT_GE(low, 1000);
  EXPECT_LE(high, 1500);
  EXPECT_LT(low, 1050);  // the whole range is used
  EXPECT_GT(high, 1450);
}

TEST(Network, ExponentialJitterIsCapped) {
  Network network(quiet(0, 100, JitterKind::kExponential));
  Rng rng(3);
  double sum = 0;
  for (int i = 0; i < 20'000; ++i) {
    const Route r = network.route(0, 1, rng);
    EXPECT_LE(r.delay_us, 100 * Network::kExponentialCapFactor);
    sum += static_cast<double>(r.delay_us);
  }
  EXPECT_NEAR(sum / 20'000, 100.0, 5.0);  // mean ≈ jitter_us
}

TEST(Network, PerLinkOverrideAppliesToOneDirectionOnly) {
  Network network(quiet(100, 0, JitterKind::kNone));
  LinkOptions slow = network.link(0, 1);
  slow.latency_us_base = 9000;
  ASSERT_TRUE(network.set_link(0, 1, slow).is_ok());
  Rng rng(1);
  EXPECT_EQ(network.route(0, 1, rng).delay_us, 9000);
  EXPECT_EQ(network.route(1, 0, rng).delay_us, 100);
}

}  // namespace
}  // namespace polder::sim
