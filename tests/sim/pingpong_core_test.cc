#include "sim/pingpong_core.h"

#include <gtest/gtest.h>

#include <cstring>

#include "sim/simulator.h"

namespace polder::sim {
namespace {

PingPongOptions options_for(std::uint32_t nodes, std::uint32_t persist_every) {
  auto peers = std::make_shared<std::vector<NodeId>>();
  for (std::uint32_t i = 0; i < nodes; ++i) peers->push_back(sim_node_id(i));
  PingPongOptions options;
  options.peers = peers;
  options.ping_interval_us = 1000;
  options.persist_every_pongs = persist_every;
  return options;
}

Bytes message(std::uint8_t type, std::uint64_t counter) {
  Bytes bytes(PingPongCore::kMessageSizeBytes);
  bytes[0] = type;
  std::memcpy(bytes.data() + 1, &counter, sizeof counter);
  return bytes;
}

std::unique_ptr<PingPongCore> make_core(const PingPongOptions& options, const DurableRecords& durable = {}) {
  auto core = PingPongCore::create(sim_node_id(0), options, durable, 1);
  EXPECT_TRUE(core.is_ok()) << core.status().to_string();
  return std::move(core).value();
}

TEST(PingPongCore, AnswersPingWithPongCarryingSameCounter) {
  auto core = make_core(options_for(2, 10));
  Effects e = core->receive(sim_node_id(1), message(PingPongCore::kPing, 77), instant_from_us(0));
  ASSERT_EQ(e.send.size(), 1U);
  EXPECT_EQ(e.send[0].to, sim_node_id(1));
  EXPECT_EQ(e.send[0].bytes, message(PingPongCore::kPong, 77));
  EXPECT_TRUE(e.persist.empty());
}

TEST(PingPongCore, EmitsEventPerPongAndPersistsEveryNPongs) {
  auto core = make_core(options_for(2, 3));
  std::size_t persists = 0;
  for (int i = 1; i <= 6; ++i) {
    Effects e = core->receive(sim_node_id(1), message(PingPongCore::kPong, 1), instant_from_us(i));
    ASSERT_EQ(e.events.size(), 1U);
    EXPECT_EQ(e.events[0].kind, "pong");
    persists += e.persist.size();
    if (i % 3 == 0) {
      ASSERT_EQ(e.persist.size(), 1U);
      std::uint64_t stored;
      std::memcpy(&stored, e.persist[0].value.data(), sizeof stored);
      EXPECT_EQ(stored, static_cast<std::uint64_t>(i));
    }
  }
  EXPECT_EQ(persists, 2U);
  EXPECT_EQ(core->pongs_received(), 6U);
}

TEST(PingPongCore, RestoresCounterFromDurableRecords) {
  DurableRecords durable;
  Bytes value(8);
  const std::uint64_t pongs = 41;
  std::memcpy(value.data(), &pongs, sizeof pongs);
  durable[{PingPongCore::kCounterColumn, PingPongCore::kCounterKey}] = value;
  auto core = make_core(options_for(2, 10), durable);
  EXPECT_EQ(core->pongs_received(), 41U);
}

TEST(PingPongCore, RefusesCorruptStoredCounter) {
  DurableRecords durable;
  durable[{PingPongCore::kCounterColumn, PingPongCore::kCounterKey}] = Bytes{1, 2, 3};
  auto core = PingPongCore::create(sim_node_id(0), options_for(2, 10), durable, 1);
  EXPECT_EQ(core.status().code(), StatusCode::kDataLoss);
}

TEST(PingPongCore, IgnoresMalformedMessage) {
  auto core = make_core(options_for(2, 1));
  Effects e = core->receive(sim_node_id(1), Bytes{PingPongCore::kPong, 1}, instant_from_us(0));
  EXPECT_TRUE(e.empty());
  e = core->receive(sim_node_id(1), message(9, 1), instant_from_us(0));
  EXPECT_TRUE(e.empty());
  EXPECT_EQ(core->malformed_received(), 2U);
  EXPECT_EQ(core->pongs_received(), 0U);
}

TEST(PingPongCore, PingsOnlyOtherPeersOncePerInterval) {
  auto core = make_core(options_for(3, 10));
  std::int64_t now_us = 0;
  std::size_t pings = 0;
  for (int i = 0; i < 200; ++i) {  // follow the core's own wake_at
    Effects e = core->tick(instant_from_us(now_us));
    for (const auto& m : e.send) {
      EXPECT_NE(m.to, sim_node_id(0));
      ++pings;
    }
    ASSERT_TRUE(e.wake_at.has_value());
    ASSERT_GT(to_us(*e.wake_at), now_us - 1);
    now_us = to_us(*e.wake_at);
  }
  EXPECT_GE(pings, 198U);
  EXPECT_EQ(core->pings_sent(), pings);
}

TEST(PingPongCore, RejectsZeroPersistInterval) {
  auto options = options_for(2, 0);
  EXPECT_EQ(validate_pingpong_options(options).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace polder::sim
