#include "gossip/codec.h"

#include <gtest/gtest.h>

#include "sim/simulator.h"

namespace polder::gossip {
namespace {

Message round_trip(const Message& m) {
  Codec codec;
  auto bytes = codec.encode(m);
  EXPECT_TRUE(bytes.is_ok());
  auto decoded = codec.decode(*bytes);
  EXPECT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  return *decoded;
}

TEST(GossipCodec, RoundTripsEveryMessageKind) {
  Coordinate c;
  c.vec = {1.5F, -2.0F, 3.25F, 0.0F};
  c.height_ms = 0.5F;
  c.error = 0.25F;
  Update u{UpdateKind::kSuspect, sim::sim_node_id(3), 7, 42, {}};
  Update a{UpdateKind::kAlive, sim::sim_node_id(4), 1, 0, Bytes{1, 2, 3}};
  auto ping = round_trip(Message{Ping{9, c}, {u, a}});
  ASSERT_TRUE(std::holds_alternative<Ping>(ping.body));
  EXPECT_EQ(std::get<Ping>(ping.body).seq, 9U);
  EXPECT_EQ(*std::get<Ping>(ping.body).coordinate, c);
  ASSERT_EQ(ping.updates.size(), 2U);
  EXPECT_EQ(ping.updates[0], u);
  EXPECT_EQ(ping.updates[1], a);
  EXPECT_EQ(std::get<Ack>(round_trip(Message{Ack{3, std::nullopt}, {}}).body).seq, 3U);
  EXPECT_EQ(std::get<PingReq>(round_trip(Message{PingReq{4, sim::sim_node_id(1)}, {}}).body).target, sim::sim_node_id(1));
  EXPECT_EQ(std::get<Nack>(round_trip(Message{Nack{5}, {}}).body).seq, 5U);
  auto digest = std::get<Digest>(round_trip(Message{Digest{1, 9, {{2, 3}, {4, 5}}}, {}}).body);
  EXPECT_EQ(digest.entries.size(), 2U);
  EXPECT_EQ(digest.entries[1].second, 5U);
  auto reply = std::get<DigestReply>(round_trip(Message{DigestReply{{7, 8}, 99, true, 7}, {}}).body);
  EXPECT_EQ(reply.wants.size(), 2U);
  EXPECT_TRUE(reply.truncated);
  EXPECT_TRUE(std::holds_alternative<Sync>(round_trip(Message{Sync{}, {}}).body));
}

TEST(GossipCodec, RejectsGarbageTruncationAndOversize) {
  Codec codec;
  EXPECT_FALSE(codec.decode(Bytes{}).is_ok());
  EXPECT_FALSE(codec.decode(Bytes(13, 0xab)).is_ok());
  EXPECT_FALSE(codec.decode(Bytes(64, 0xff)).is_ok());
  EXPECT_FALSE(codec.decode(Bytes(codec.limits().message_bytes_max + 8, 0)).is_ok());
  auto bytes = codec.encode(Message{Ping{1, std::nullopt}, {}});
  ASSERT_TRUE(bytes.is_ok());
  Bytes cut(bytes->begin(), bytes->begin() + 8);
  EXPECT_FALSE(codec.decode(cut).is_ok());
}

TEST(GossipCodec, RejectsMoreUpdatesThanTheLimit) {
  CodecLimits limits;
  limits.updates_max = 4;
  Codec codec(limits);
  Message m{GossipOnly{}, std::vector<Update>(5, Update{UpdateKind::kAlive, sim::sim_node_id(1), 0, 0, {}})};
  auto bytes = codec.encode(m);
  ASSERT_TRUE(bytes.is_ok());
  EXPECT_FALSE(codec.decode(*bytes).is_ok());
}

TEST(GossipCodec, WireSizeEstimateBoundsTheRealSize) {
  Codec codec;
  Update u{UpdateKind::kAlive, sim::sim_node_id(4), 1, 0, Bytes(270, 7)};
  auto empty = codec.encode(Message{GossipOnly{}, {}});
  auto one = codec.encode(Message{GossipOnly{}, {u}});
  ASSERT_TRUE(empty.is_ok() && one.is_ok());
  EXPECT_LE(one->size() - empty->size(), update_wire_size_bytes(u) + 8);
}

}  // namespace
}  // namespace polder::gossip
