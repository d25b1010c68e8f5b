// Encoding and decoding of consensus messages and records, with limits.
#include "consensus/wire.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include "consensus/consensus.capnp.h"
#include "consensus/consensus_core.h"
#include "consensus/records.h"
#include "harness.h"

namespace polder::consensus {
namespace {

using testing::node;
using testing::spec_of;

InstanceSpec spec() { return spec_of(1, 2, {node(1), node(2), node(3)}, node(9)); }
Value value() { return Value::run(node(2), 42, ReplicaSet{node(4), node(5), node(6)}); }

template <typename M>
M roundtrip(const M& m) {
  auto decoded = decode_message(encode_message(Message(m)));
  EXPECT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_TRUE(std::holds_alternative<M>(*decoded));
  return std::get<M>(*decoded);
}

TEST(Wire, EveryMessageRoundTrips) {
  const Ballot b{7, node(2)};
  EXPECT_EQ(roundtrip(Prepare{spec(), b}).spec, spec());
  const Promise p = roundtrip(Promise{spec().key, b, Ballot{0, node(9)}, value()});
  EXPECT_EQ(p.accepted_value, value());
  EXPECT_EQ(p.accepted_ballot, (Ballot{0, node(9)}));
  EXPECT_FALSE(roundtrip(Promise{spec().key, b, std::nullopt, std::nullopt}).accepted_ballot);
  const Accept a = roundtrip(Accept{spec(), b, value()});
  EXPECT_EQ(a.value, value());
  EXPECT_EQ(a.ballot, b);
  EXPECT_EQ(roundtrip(Accepted{spec().key, b}).ballot, b);
  EXPECT_EQ(roundtrip(Reject{spec().key, Ballot{1, node(3)}, b}).promised, b);
  EXPECT_EQ(roundtrip(Chosen{spec(), Value::cancel()}).value, Value::cancel());
  EXPECT_EQ(roundtrip(ChosenAck{spec().key}).key, spec().key);
  EXPECT_EQ(roundtrip(Query{spec()}).spec, spec());
}

TEST(Wire, GarbageTruncatedAndEmptyAreErrors) {
  Bytes good = encode_message(Message(Accept{spec(), Ballot{1, node(1)}, value()}));
  EXPECT_FALSE(decode_message({}).is_ok());
  EXPECT_FALSE(decode_message(Bytes(good.begin(), good.begin() + 8)).is_ok());
  EXPECT_FALSE(decode_message(Bytes(good.begin(), good.end() - 8)).is_ok());
  EXPECT_FALSE(decode_message(Bytes(13, 0x5a)).is_ok());
  Bytes noise(256);
  for (std::size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<std::uint8_t>(i * 131 + 7);
  EXPECT_FALSE(decode_message(noise).is_ok());
  // Every single-byte corruption decodes to an error or a valid message, never a crash.
  for (std::size_t i = 0; i < good.size(); ++i) {
    Bytes bad = good;
    bad[i] ^= 0xff;
    (void)decode_message(bad);
  }
}

TEST(Wire, BatchDecodesToItsMessagesInOrder) {
  std::vector<Bytes> inner = {encode_message(Message(Accepted{spec().key, Ballot{1, node(2)}})),
                              encode_message(Message(Query{spec()})),
                              encode_message(Message(ChosenAck{spec().key}))};
  auto decoded = decode_messages(encode_batch(inner));
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  ASSERT_EQ(decoded->size(), 3u);
  EXPECT_TRUE(std::holds_alternative<Accepted>(*(*decoded)[0]));
  EXPECT_TRUE(std::holds_alternative<Query>(*(*decoded)[1]));
  EXPECT_TRUE(std::holds_alternative<ChosenAck>(*(*decoded)[2]));
  // A plain message is a list of one.
  auto one = decode_messages(inner[1]);
  ASSERT_TRUE(one.is_ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Query>(*(*one)[0]));
  // decode_message() alone refuses a batch: only decode_messages() opens one.
  EXPECT_FALSE(decode_message(encode_batch(inner)).is_ok());
}

TEST(Wire, BadMessageInABatchFailsOnlyItself) {
  std::vector<Bytes> inner = {encode_message(Message(ChosenAck{spec().key})), Bytes(16, 0x5a),
                              encode_batch(std::vector<Bytes>{encode_message(Message(ChosenAck{spec().key}))})};
  auto decoded = decode_messages(encode_batch(inner));
  ASSERT_TRUE(decoded.is_ok());
  ASSERT_EQ(decoded->size(), 3u);
  EXPECT_TRUE((*decoded)[0].is_ok());
  EXPECT_FALSE((*decoded)[1].is_ok());  // garbage
  EXPECT_FALSE((*decoded)[2].is_ok());  // a batch inside a batch
}

TEST(Wire, BatchLimitsHold) {
  // More messages than kBatchMessagesMax, built by hand: refused whole.
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<wire::Message>();
  root.setVersion(wire::CONSENSUS_VERSION);
  const Bytes ack = encode_message(Message(ChosenAck{spec().key}));
  auto list = root.initBody().initBatch(static_cast<unsigned>(kBatchMessagesMax + 1));
  for (unsigned i = 0; i < list.size(); ++i) list.set(i, capnp::Data::Reader(ack.data(), ack.size()));
  auto words = capnp::messageToFlatArray(builder);
  auto bytes = words.asBytes();
  auto refused = decode_messages(std::span<const std::uint8_t>(bytes.begin(), bytes.size()));
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  // Over the single-message limit but not a batch: refused as oversized.
  WireLimits small;
  small.max_message_bytes = 64;
  const Bytes accept = encode_message(Message(Accept{spec(), Ballot{1, node(1)}, value()}));
  ASSERT_GT(accept.size(), 64u);
  EXPECT_FALSE(decode_messages(accept, small).is_ok());
  // Over kBatchBytesMax: refused whatever it holds.
  EXPECT_FALSE(decode_messages(Bytes(kBatchBytesMax + 8, 0)).is_ok());
}

TEST(Wire, OversizedMessageIsRefused) {
  Bytes big(WireLimits{}.max_message_bytes + 8, 0);
  auto r = decode_message(big);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

TEST(Wire, WrongVersionIsRefused) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<wire::Message>();
  root.setVersion(99);
  root.initBody().initChosenAck().initKey().setJob(capnp::Data::Reader(spec().key.job.span().data(), 32));
  auto words = capnp::messageToFlatArray(builder);
  auto bytes = words.asBytes();
  EXPECT_FALSE(decode_message(Bytes(bytes.begin(), bytes.end())).is_ok());
}

Bytes with_replicas(std::vector<NodeId> replicas, std::size_t id_size = 32) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<wire::Message>();
  root.setVersion(wire::CONSENSUS_VERSION);
  auto s = root.initBody().initQuery().initSpec();
  s.initKey().setJob(capnp::Data::Reader(spec().key.job.span().data(), 32));
  auto list = s.initReplicas(static_cast<unsigned>(replicas.size()));
  for (unsigned i = 0; i < replicas.size(); ++i) list.set(i, capnp::Data::Reader(replicas[i].span().data(), id_size));
  s.setOrigin(capnp::Data::Reader(node(9).span().data(), 32));
  auto words = capnp::messageToFlatArray(builder);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

TEST(Wire, InvalidReplicaSetsAreRefused) {
  EXPECT_TRUE(decode_message(with_replicas({node(1), node(2)})).is_ok());
  EXPECT_FALSE(decode_message(with_replicas({node(2), node(1)})).is_ok());  // unsorted
  EXPECT_FALSE(decode_message(with_replicas({node(1), node(1)})).is_ok());  // duplicate
  EXPECT_FALSE(decode_message(with_replicas({node(1), node(2)}, 31)).is_ok());  // short id
  std::vector<NodeId> eight;
  for (int i = 1; i <= 8; ++i) eight.push_back(node(static_cast<std::uint8_t>(i)));
  EXPECT_FALSE(decode_message(with_replicas(eight)).is_ok());  // over kReplicasMax
}

TEST(Records, RoundTripAndKeys) {
  const AcceptorRecord a{spec(), Ballot{3, node(2)}, Ballot{0, node(9)}, value()};
  auto a2 = decode_acceptor_record(encode_record(a));
  ASSERT_TRUE(a2.is_ok());
  EXPECT_EQ(a2->promised, a.promised);
  EXPECT_EQ(a2->accepted_value, a.accepted_value);
  auto p2 = decode_proposer_record(encode_record(ProposerRecord{spec(), 5, value()}));
  ASSERT_TRUE(p2.is_ok());
  EXPECT_EQ(p2->round_max, 5U);
  EXPECT_EQ(p2->fast_value, value());
  auto d2 = decode_decision_record(encode_record(DecisionRecord{spec(), Value::cancel()}));
  ASSERT_TRUE(d2.is_ok());
  EXPECT_EQ(d2->value, Value::cancel());
  const std::string key = record_key(RecordKind::kDecision, spec().key);
  EXPECT_EQ(key.size(), kRecordKeySizeBytes);
  auto parsed = parse_record_key(key);
  ASSERT_TRUE(parsed.is_ok());
  EXPECT_EQ(parsed->first, RecordKind::kDecision);
  EXPECT_EQ(parsed->second, spec().key);
  EXPECT_FALSE(parse_record_key("short").is_ok());
}

TEST(Records, CorruptRecordIsDataLoss) {
  auto r = decode_acceptor_record(Bytes(16, 0xee));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  // A record claiming an accepted ballot above its promise is corrupt too.
  const AcceptorRecord bad{spec(), Ballot{1, node(2)}, Ballot{5, node(2)}, value()};
  EXPECT_FALSE(decode_acceptor_record(encode_record(bad)).is_ok());
}

TEST(ChosenEvent, FormatsAndParsesBack) {
  const InstanceKey key = spec().key;
  for (const Value& v : {value(), Value::cancel(), Value::run(node(3), 0)}) {
    auto parsed = parse_chosen_event(CoreEvent{kChosenEventKind, format_chosen_detail(key, v)});
    ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
    EXPECT_EQ(parsed->key, key);
    EXPECT_EQ(parsed->value, v);
  }
  EXPECT_FALSE(parse_chosen_event(CoreEvent{kChosenEventKind, "job=zz attempt=1 value=cancel"}).is_ok());
  EXPECT_FALSE(parse_chosen_event(CoreEvent{"pong", ""}).is_ok());
}

}  // namespace
}  // namespace polder::consensus
