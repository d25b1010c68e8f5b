#include "gossip/suspicion.h"

#include <gtest/gtest.h>

namespace polder::gossip {
namespace {

using namespace std::chrono_literals;

TEST(Suspicion, StartsAtTheMaximumTimeout) {
  Suspicion s(1, 3, 2s, 8s, instant_from_us(0));
  EXPECT_EQ(s.deadline(), instant_from_us(8'000'000));
}

TEST(Suspicion, ShrinksToTheMinimumWithKIndependentConfirmations) {
  Suspicion s(1, 3, 2s, 8s, instant_from_us(0));
  EXPECT_TRUE(s.confirm(2));
  const Instant after_one = s.deadline();
  EXPECT_LT(after_one, instant_from_us(8'000'000));
  EXPECT_TRUE(s.confirm(3));
  EXPECT_LT(s.deadline(), after_one);
  EXPECT_TRUE(s.confirm(4));
  EXPECT_EQ(s.deadline(), instant_from_us(2'000'000));
  EXPECT_FALSE(s.confirm(5));  // k reached
}

TEST(Suspicion, CountsEachAccuserOnceAndNeverTheFirst) {
  Suspicion s(1, 3, 2s, 8s, instant_from_us(0));
  EXPECT_FALSE(s.confirm(1));
  EXPECT_TRUE(s.confirm(2));
  EXPECT_FALSE(s.confirm(2));
  EXPECT_EQ(s.confirmations(), 1U);
}

TEST(Awareness, ScalesTimeoutsAndSaturates) {
  Awareness a(4);
  EXPECT_EQ(a.scale(100ms), 100ms);
  a.apply_delta(10);
  EXPECT_EQ(a.score(), 3U);
  EXPECT_EQ(a.scale(100ms), 400ms);
  a.apply_delta(-10);
  EXPECT_EQ(a.score(), 0U);
}

}  // namespace
}  // namespace polder::gossip
