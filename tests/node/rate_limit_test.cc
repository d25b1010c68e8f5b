#include "node/rate_limit.h"

#include <gtest/gtest.h>

namespace polder::node {
namespace {

using namespace std::chrono_literals;

NodeId key(char c) { return *NodeId::from_hex(std::string(64, c)); }

TEST(RateLimiter, PassesABurstThenThrottlesThenRefills) {
  RateLimiter lim({.messages_per_s = 100, .bytes_per_s = 0, .ban = 0s});
  Instant t = instant_from_us(1'000'000);
  int passed = 0;
  for (int i = 0; i < 300; ++i) passed += lim.admit(key('a'), 10, t) == RateVerdict::kPass;
  EXPECT_EQ(passed, 200);  // kBurstSeconds (2) of 100/s
  EXPECT_EQ(lim.counters().throttled, 100u);
  EXPECT_EQ(lim.counters().bans, 0u);  // ban = 0: throttle only
  // Another key is not affected by the first one's flood.
  EXPECT_EQ(lim.admit(key('b'), 10, t), RateVerdict::kPass);
  // Half a second later 50 more pass.
  t += 500ms;
  passed = 0;
  for (int i = 0; i < 100; ++i) passed += lim.admit(key('a'), 10, t) == RateVerdict::kPass;
  EXPECT_EQ(passed, 50);
}

TEST(RateLimiter, BytesAreLimitedToo) {
  RateLimiter lim({.messages_per_s = 0, .bytes_per_s = 1000, .ban = 0s});
  Instant t = instant_from_us(5);
  int passed = 0;
  for (int i = 0; i < 10; ++i) passed += lim.admit(key('a'), 500, t) == RateVerdict::kPass;
  EXPECT_EQ(passed, 4);  // 2000 bytes of burst
  // A message larger than the whole burst passes only when the bucket is full.
  t += 10s;
  EXPECT_EQ(lim.admit(key('a'), 1 << 20, t), RateVerdict::kPass);
  EXPECT_EQ(lim.admit(key('a'), 1 << 20, t), RateVerdict::kThrottled);
}

TEST(RateLimiter, AKeyThatKeepsFloodingIsBannedThenLetBack) {
  RateLimiter lim({.messages_per_s = 50, .bytes_per_s = 0, .ban = 30s});
  Instant t = instant_from_us(0);
  std::optional<int> banned_at;
  for (int i = 0; i < 1000 && !banned_at; ++i) {
    if (lim.admit(key('a'), 1, t) == RateVerdict::kBanned) banned_at = i;
  }
  ASSERT_TRUE(banned_at);
  EXPECT_EQ(*banned_at, 100 + 50 - 1);  // the burst passes, then one second's worth is dropped
  EXPECT_EQ(lim.counters().bans, 1u);
  ASSERT_TRUE(lim.banned_until(key('a'), t));
  EXPECT_EQ(*lim.banned_until(key('a'), t), t + 30s);
  EXPECT_EQ(lim.admit(key('a'), 1, t + 29s), RateVerdict::kBanned);
  EXPECT_EQ(lim.admit(key('a'), 1, t + 31s), RateVerdict::kPass);
  EXPECT_FALSE(lim.banned_until(key('a'), t + 31s));
}

TEST(RateLimiter, ASenderAtItsRateIsNeverThrottled) {
  RateLimiter lim({.messages_per_s = 100, .bytes_per_s = 100'000, .ban = 30s});
  Instant t = instant_from_us(0);
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_EQ(lim.admit(key('a'), 900, t), RateVerdict::kPass) << i;
    t += 10ms;  // exactly 100 messages/s, 90 KB/s
  }
  EXPECT_EQ(lim.counters().throttled, 0u);
}

}  // namespace
}  // namespace polder::node
