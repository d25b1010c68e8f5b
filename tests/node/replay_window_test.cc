// Replay windows (node/replay_window.h): a peer envelope number seen before
// or below the window is dropped; a client nonce seen within the window, or
// a request far from the node's clock, is refused.
#include "node/replay_window.h"

#include <gtest/gtest.h>

#include "protocol/identity.h"

namespace polder::node {
namespace {

TEST(SequenceWindow, EachNumberOnceAndNothingBelowTheWindow) {
  SequenceWindow w;
  EXPECT_FALSE(w.accept(0));  // unnumbered
  const std::uint64_t base = 1'764'000'000'000'000;
  EXPECT_TRUE(w.accept(base));
  EXPECT_FALSE(w.accept(base));  // replay
  EXPECT_TRUE(w.accept(base + 5));
  EXPECT_TRUE(w.accept(base + 3));  // late but inside the window, once
  EXPECT_FALSE(w.accept(base + 3));
  EXPECT_TRUE(w.accept(base + 4));
  EXPECT_FALSE(w.accept(base + 5));
  EXPECT_TRUE(w.accept(base + 5 + SequenceWindow::kWidth));
  EXPECT_FALSE(w.accept(base + 5));      // now below the window
  EXPECT_TRUE(w.accept(base + 6));       // the oldest still inside (width - 1 back), once
  EXPECT_FALSE(w.accept(base + 6));
  EXPECT_EQ(w.highest(), base + 5 + SequenceWindow::kWidth);
  // A restarted sender starts at its clock: far above, accepted, and the old numbers are dead.
  EXPECT_TRUE(w.accept(base + 10'000'000));
  EXPECT_FALSE(w.accept(base + 5 + SequenceWindow::kWidth));
}

TEST(SequenceWindow, ManyInOrderNumbersAreAllAcceptedOnce) {
  SequenceWindow w;
  for (std::uint64_t s = 1; s <= 10'000; ++s) ASSERT_TRUE(w.accept(s)) << s;
  for (std::uint64_t s = 10'000 - SequenceWindow::kWidth + 1; s <= 10'000; ++s) ASSERT_FALSE(w.accept(s)) << s;
}

TEST(PeerReplayGuard, WindowsArePerSender) {
  PeerReplayGuard g;
  NodeId a = Identity::generate().id(), b = Identity::generate().id();
  EXPECT_TRUE(g.accept(a, 7));
  EXPECT_TRUE(g.accept(b, 7));
  EXPECT_FALSE(g.accept(a, 7));
  EXPECT_EQ(g.senders(), 2u);
}

TEST(PeerReplayGuard, ANewSenderIsRefusedBelowTheFloorAndAResumedWindowCountsAllAsSeen) {
  PeerReplayGuard g;
  g.set_floor(1'000'000);
  NodeId a = Identity::generate().id(), b = Identity::generate().id();
  EXPECT_FALSE(g.accept(a, 999'999));  // recorded before the floor
  EXPECT_EQ(g.senders(), 0u);          // a refusal keeps nothing
  EXPECT_TRUE(g.accept(a, 1'000'000));
  EXPECT_FALSE(g.accept(a, 1'000'000));
  g.resume(b, 5'000'000);  // stored at the last shutdown
  EXPECT_FALSE(g.accept(b, 5'000'000));
  EXPECT_FALSE(g.accept(b, 4'999'999));  // inside the window: counted as seen
  EXPECT_TRUE(g.accept(b, 5'000'001));
  auto highest = g.highest();
  ASSERT_EQ(highest.size(), 2u);
  for (const auto& [sender, h] : highest) EXPECT_EQ(h, sender == a ? 1'000'000u : 5'000'001u);
}

TEST(ClientReplayGuard, ANonceOnceWithinTheWindowAndClocksMustAgree) {
  constexpr std::int64_t kNow = 1'764'000'000'000'000;
  ClientReplayGuard g(std::chrono::seconds(300), 4);
  NodeId k = Identity::generate().id(), other = Identity::generate().id();
  EXPECT_TRUE(g.accept(k, 11, kNow, kNow).is_ok());
  auto replay = g.accept(k, 11, kNow, kNow + 1'000'000);
  ASSERT_FALSE(replay.is_ok());
  EXPECT_NE(replay.message().find("replayed"), std::string::npos);
  EXPECT_TRUE(g.accept(other, 11, kNow, kNow).is_ok());  // per key
  auto skewed = g.accept(k, 12, kNow - 301'000'000, kNow);
  ASSERT_FALSE(skewed.is_ok());
  EXPECT_NE(skewed.message().find("check the client's clock"), std::string::npos);
  EXPECT_FALSE(g.accept(k, 13, kNow + 301'000'000, kNow).is_ok());
  // Full (4 kept): the oldest is forgotten and requests not newer than it are refused.
  for (std::uint64_t n = 20; n < 23; ++n) ASSERT_TRUE(g.accept(k, n, kNow + static_cast<std::int64_t>(n), kNow).is_ok());
  EXPECT_TRUE(g.accept(k, 30, kNow + 30, kNow).is_ok());  // pushes out nonce 11 (time kNow)
  EXPECT_FALSE(g.accept(k, 11, kNow, kNow).is_ok());      // refused: at the floor
  EXPECT_TRUE(g.accept(k, 31, kNow + 31, kNow).is_ok());
  // After the window passes, the nonce's memory goes; its time is then outside anyway.
  EXPECT_FALSE(g.accept(k, 31, kNow + 31, kNow + 400'000'000).is_ok());
}

}  // namespace
}  // namespace polder::node
