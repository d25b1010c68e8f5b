#include "protocol/codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include "future.capnp.h"
#include "protocol/polder.capnp.h"
#include "protocol/signed_record.h"
#include "tests/protocol/test_values.h"

namespace polder {
namespace {

using testing::identity_from;

Envelope envelope_with(Payload payload) {
  Envelope e;
  e.sender = identity_from(1).id();
  e.message_id = 0x1122334455667788ULL;
  e.timestamp_us = 1764000000123456;
  e.payload = std::move(payload);
  return e;
}

TEST(CodecTest, PingRoundTrips) {
  Codec codec;
  auto bytes = codec.encode(envelope_with(Ping{77}));
  ASSERT_TRUE(bytes.is_ok());
  auto decoded = codec.decode(*bytes);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(decoded->sender, identity_from(1).id());
  EXPECT_EQ(decoded->message_id, 0x1122334455667788ULL);
  EXPECT_EQ(decoded->timestamp_us, 1764000000123456);
  ASSERT_TRUE(std::holds_alternative<Ping>(decoded->payload));
  EXPECT_EQ(std::get<Ping>(decoded->payload).token, 77u);
  EXPECT_EQ(codec.counters().decoded, 1u);
}

TEST(CodecTest, NodeInfoRoundTrips) {
  Codec codec;
  NodeInfo info{identity_from(2).id(), "n1", "0.1.0", 1234, kProtocolVersion, 4, "eu", "acme"};
  auto decoded = codec.decode(*codec.encode(envelope_with(info)));
  ASSERT_TRUE(decoded.is_ok());
  const auto& got = std::get<NodeInfo>(decoded->payload);
  EXPECT_EQ(got.node_id, info.node_id);
  EXPECT_EQ(got.name, "n1");
  EXPECT_EQ(got.uptime_ms, 1234u);
  EXPECT_EQ(got.peers_known, 4u);
  EXPECT_EQ(got.operator_name, "acme");
}

TEST(CodecTest, ErrorReplyRoundTrips) {
  Codec codec;
  auto decoded = codec.decode(*codec.encode(envelope_with(ErrorReply{3, "no such job"})));
  ASSERT_TRUE(decoded.is_ok());
  EXPECT_EQ(std::get<ErrorReply>(decoded->payload).message, "no such job");
}

TEST(CodecTest, CorePayloadsRoundTripAsOpaqueBytes) {
  Codec codec;
  auto g = codec.decode(*codec.encode(envelope_with(GossipPayload{{1, 2, 3}})));
  ASSERT_TRUE(g.is_ok());
  EXPECT_EQ(std::get<GossipPayload>(g->payload).bytes, (Bytes{1, 2, 3}));
  auto c = codec.decode(*codec.encode(envelope_with(ConsensusPayload{{4, 5}})));
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(std::get<ConsensusPayload>(c->payload).bytes, (Bytes{4, 5}));
}

TEST(CodecTest, MemberListRoundTrips) {
  Codec codec;
  MemberList list;
  MemberEntry e;
  e.node_id = identity_from(3).id();
  e.state = "suspect";
  e.incarnation = 4;
  e.record = testing::sample_node_record(e.node_id);
  e.rtt_ms = 12.5;
  e.coordinate = {1.5F, -2.0F, 3.25F, 0.0F};
  e.height_ms = 0.75F;
  list.members = {e, MemberEntry{identity_from(4).id(), "alive", 1, std::nullopt, -1, true, {}, 0}};
  list.truncated = true;
  auto decoded = codec.decode(*codec.encode(envelope_with(list)));
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  const auto& got = std::get<MemberList>(decoded->payload);
  ASSERT_EQ(got.members.size(), 2u);
  EXPECT_EQ(got.members[0].state, "suspect");
  EXPECT_EQ(got.members[0].record, e.record);
  EXPECT_DOUBLE_EQ(got.members[0].rtt_ms, 12.5);
  EXPECT_EQ(got.members[0].coordinate, e.coordinate);
  EXPECT_FLOAT_EQ(got.members[0].height_ms, 0.75F);
  EXPECT_TRUE(got.members[1].coordinate.empty());
  EXPECT_FALSE(got.members[1].record.has_value());
  EXPECT_TRUE(got.members[1].is_self);
  EXPECT_TRUE(got.truncated);
}

TEST(CodecTest, NodeRecordRoundTrips) {
  NodeRecord r = testing::sample_node_record(identity_from(3).id());
  auto bytes = encode_node_record(r);
  ASSERT_TRUE(bytes.is_ok());
  auto decoded = decode_node_record(*bytes);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(*decoded, r);
}

TEST(CodecTest, NodeRecordLinksRoundTripAndTooManyAreRefused) {
  NodeRecord r = testing::sample_node_record(identity_from(3).id());
  r.links.push_back({identity_from(4).id(), 800'000'000});
  r.links.push_back({identity_from(5).id(), 12'345});
  auto decoded = decode_node_record(*encode_node_record(r));
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(decoded->links, r.links);
  r.links.assign(kRecordLinksMax + 1, {identity_from(4).id(), 1});
  auto refused = decode_node_record(*encode_node_record(r));
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("links"), std::string::npos) << refused.status().to_string();
}

TEST(CodecTest, StandaloneSignedRecordRoundTrips) {
  auto id = identity_from(6);
  SignedRecord rec = *sign_node_record(id, testing::sample_node_record(id.id()));
  auto decoded = decode_signed_record(*encode_signed_record(rec));
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(decoded->author, rec.author);
  EXPECT_EQ(decoded->body, rec.body);
  EXPECT_EQ(decoded->signature, rec.signature);
  EXPECT_TRUE(open_node_record(*decoded).is_ok());
}

TEST(CodecTest, JobSpecRoundTrips) {
  JobSpec s = testing::sample_job_spec(identity_from(4).id());
  auto decoded = decode_job_spec(*encode_job_spec(s));
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(*decoded, s);
}

JobMessage sample_job_message() {
  JobMessage m;
  m.kind = JobMessageKind::kReplicate;
  m.request_id = 99;
  m.job_id = *JobId::from_bytes(identity_from(7).id().span());
  m.attempt = 3;
  m.spec = testing::sample_job_spec(identity_from(4).id());
  m.origin = identity_from(5).id();
  m.replicas = {identity_from(5).id(), identity_from(6).id()};
  m.reservation = 12345;
  m.granted = true;
  m.gpu_slots = "0,3";
  JobView v;
  v.job_id = *m.job_id;
  v.name = "train";
  v.state = "running";
  v.attempt = 3;
  v.executor = identity_from(6).id();
  v.executor_name = "dc-b";
  v.origin = m.origin;
  v.exit_code = -1;
  v.submitted_at_us = 1;
  v.started_at_us = 2;
  v.finished_at_us = 3;
  v.message = "running on dc-b";
  v.gpu_slots = "0,3";
  v.updated_at_us = 4;
  v.command = "python3";
  v.failures = 2;
  m.jobs = {v, JobView{}};
  m.jobs[1].job_id = *m.job_id;
  m.data = {1, 2, 3};
  m.offset = 77;
  m.done = true;
  m.message = "why";
  m.state_filter = "running";
  m.node_filter = "dc-b";
  m.truncated = true;
  m.held_by_reservations = true;
  return m;
}

TEST(CodecTest, JobMessageRoundTripsInAnEnvelopeAndAlone) {
  Codec codec;
  JobMessage m = sample_job_message();
  auto bytes = codec.encode(envelope_with(m));
  ASSERT_TRUE(bytes.is_ok());
  auto decoded = codec.decode(*bytes);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  ASSERT_TRUE(std::holds_alternative<JobMessage>(decoded->payload));
  EXPECT_EQ(std::get<JobMessage>(decoded->payload), m);
  auto alone = decode_job_message(*encode_job_message(m));
  ASSERT_TRUE(alone.is_ok());
  EXPECT_EQ(*alone, m);
  // Optional ids stay absent.
  JobMessage empty;
  auto e = decode_job_message(*encode_job_message(empty));
  ASSERT_TRUE(e.is_ok());
  EXPECT_FALSE(e->job_id.has_value());
  EXPECT_FALSE(e->spec.has_value());
}

TEST(CodecTest, JobMessageWithABadIdIsRejected) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<wire::JobMessage>();
  std::uint8_t short_id[5] = {1, 2, 3, 4, 5};
  b.setJobId(capnp::Data::Reader(short_id, sizeof short_id));
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  auto decoded = decode_job_message(std::span<const std::uint8_t>(bytes.begin(), bytes.size()));
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_NE(decoded.status().message().find("jobId"), std::string::npos) << decoded.status().message();
}

TEST(CodecTest, JobBatchRoundTripsInOrder) {
  Codec codec;
  JobBatch batch;
  batch.messages.push_back(sample_job_message());
  JobMessage second;
  second.kind = JobMessageKind::kReserveReply;
  second.reservation = 42;
  second.held_by_reservations = true;
  batch.messages.push_back(second);
  batch.messages.push_back(sample_job_message());
  batch.messages.back().attempt = 7;
  auto bytes = codec.encode(envelope_with(batch));
  ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
  auto decoded = codec.decode(*bytes);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  ASSERT_TRUE(std::holds_alternative<JobBatch>(decoded->payload));
  EXPECT_EQ(std::get<JobBatch>(decoded->payload), batch);
}

// Builds an envelope whose jobBatch holds `count` messages; the message at
// `bad` (if any) carries a 5-byte job id.
Bytes job_batch_bytes(unsigned count, int bad) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<wire::Envelope>();
  b.setVersion(kProtocolVersion);
  auto sender = identity_from(1).id();
  b.setSender(capnp::Data::Reader(sender.bytes().data(), 32));
  b.setMessageId(9);
  auto list = b.initPayload().initJobBatch(count);
  std::uint8_t short_id[5] = {1, 2, 3, 4, 5};
  for (unsigned i = 0; i < count; ++i) {
    list[i].setKind(static_cast<std::uint16_t>(JobMessageKind::kReserveReply));
    if (static_cast<int>(i) == bad) list[i].setJobId(capnp::Data::Reader(short_id, sizeof short_id));
  }
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

TEST(CodecTest, JobBatchEmptyOversizedOrWithABadMessageIsRejectedWhole) {
  Codec codec;
  auto fine = codec.decode(job_batch_bytes(kJobBatchMessagesMax, -1));
  ASSERT_TRUE(fine.is_ok()) << fine.status().to_string();
  EXPECT_EQ(std::get<JobBatch>(fine->payload).messages.size(), kJobBatchMessagesMax);

  auto empty = codec.decode(job_batch_bytes(0, -1));
  ASSERT_FALSE(empty.is_ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("job batch: 0 messages"), std::string::npos) << empty.status().message();

  auto over = codec.decode(job_batch_bytes(kJobBatchMessagesMax + 1, -1));
  ASSERT_FALSE(over.is_ok());
  EXPECT_NE(over.status().message().find("job batch: 257 messages"), std::string::npos) << over.status().message();

  auto bad = codec.decode(job_batch_bytes(3, 1));
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("job batch: job message jobId"), std::string::npos) << bad.status().message();
  EXPECT_EQ(codec.counters().rejected, 3u);
  EXPECT_EQ(codec.counters().decoded, 1u);
}

TEST(CodecTest, WorkOfferRoundTripsWithItsFreeCapacity) {
  Codec codec;
  JobMessage offer;
  offer.kind = JobMessageKind::kWorkOffer;
  offer.free_accelerators = {{"A100", 4, 1}, {"H100", 8, 8}};
  offer.free_cpus = 12;
  offer.free_memory_bytes = 64ULL << 30;
  auto decoded = codec.decode(*codec.encode(envelope_with(offer)));
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(std::get<JobMessage>(decoded->payload), offer);
}

// A malformed offer is refused at the boundary: free above total, or more
// accelerator types than any node has.
TEST(CodecTest, WorkOfferWithMoreFreeThanTotalOrTooManyTypesIsRejected) {
  {
    capnp::MallocMessageBuilder message;
    auto b = message.initRoot<wire::JobMessage>();
    b.setKind(static_cast<std::uint16_t>(JobMessageKind::kWorkOffer));
    auto free = b.initFreeAccelerators(1);
    free[0].setType("H100");
    free[0].setTotal(2);
    free[0].setFree(3);
    auto words = capnp::messageToFlatArray(message);
    auto bytes = words.asBytes();
    auto decoded = decode_job_message(std::span<const std::uint8_t>(bytes.begin(), bytes.size()));
    ASSERT_FALSE(decoded.is_ok());
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(decoded.status().message().find("more free than total"), std::string::npos) << decoded.status().message();
  }
  {
    capnp::MallocMessageBuilder message;
    auto b = message.initRoot<wire::JobMessage>();
    b.setKind(static_cast<std::uint16_t>(JobMessageKind::kWorkOffer));
    b.initFreeAccelerators(static_cast<unsigned>(kWorkOfferAcceleratorsMax + 1));
    auto words = capnp::messageToFlatArray(message);
    auto bytes = words.asBytes();
    auto decoded = decode_job_message(std::span<const std::uint8_t>(bytes.begin(), bytes.size()));
    ASSERT_FALSE(decoded.is_ok());
    EXPECT_NE(decoded.status().message().find("at most 64"), std::string::npos) << decoded.status().message();
  }
}

TEST(CodecTest, RejectsWrongProtocolVersion) {
  Codec codec;
  Envelope e = envelope_with(Ping{1});
  e.version = kProtocolVersion + 1;
  auto decoded = codec.decode(*codec.encode(e));
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(decoded.status().message().find("protocol version"), std::string::npos);
  EXPECT_EQ(codec.counters().rejected, 1u);
}

TEST(CodecTest, RejectsOversizedMessageOnDecode) {
  Codec big;
  Envelope e = envelope_with(ErrorReply{1, std::string(4000, 'x')});
  auto bytes = big.encode(e);
  ASSERT_TRUE(bytes.is_ok());
  Codec small(CodecLimits{.max_message_bytes = 1024});
  auto decoded = small.decode(*bytes);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kResourceExhausted);
}

TEST(CodecTest, RefusesToEncodeOversizedMessage) {
  Codec small(CodecLimits{.max_message_bytes = 1024});
  auto bytes = small.encode(envelope_with(ErrorReply{1, std::string(4000, 'x')}));
  ASSERT_FALSE(bytes.is_ok());
  EXPECT_EQ(bytes.status().code(), StatusCode::kResourceExhausted);
}

TEST(CodecTest, RejectsShortSender) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<wire::Envelope>();
  b.setVersion(kProtocolVersion);
  std::uint8_t short_key[5] = {1, 2, 3, 4, 5};
  b.setSender(capnp::Data::Reader(short_key, 5));
  b.initPayload().initPing().setToken(1);
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  Codec codec;
  auto decoded = codec.decode(std::span<const std::uint8_t>(bytes.begin(), bytes.size()));
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_NE(decoded.status().message().find("sender"), std::string::npos);
}

TEST(CodecTest, RejectsTrailingBytes) {
  Codec codec;
  Bytes bytes = *codec.encode(envelope_with(Ping{1}));
  bytes.insert(bytes.end(), 8, 0);
  EXPECT_FALSE(codec.decode(bytes).is_ok());
}

TEST(CodecTest, IgnoresAndCountsUnknownPayloadFromNewerNode) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<future::Envelope>();
  b.setVersion(kProtocolVersion);
  auto sender = identity_from(5).id();
  b.setSender(capnp::Data::Reader(sender.bytes().data(), 32));
  b.initPayload().initFutureThing().setAnswer(42);
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();

  Codec codec;
  auto decoded = codec.decode(std::span<const std::uint8_t>(bytes.begin(), bytes.size()));
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  ASSERT_TRUE(std::holds_alternative<UnknownPayload>(decoded->payload));
  EXPECT_EQ(std::get<UnknownPayload>(decoded->payload).ordinal, 12u);  // 13th union member
  EXPECT_EQ(decoded->sender, sender);
  EXPECT_EQ(codec.counters().unknown_payloads, 1u);
}

TEST(CodecTest, NewerNodeReadsOurMessages) {
  Codec codec;
  Bytes bytes = *codec.encode(envelope_with(Ping{9}));
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(bytes.size() / 8);
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  capnp::FlatArrayMessageReader reader(words);
  auto env = reader.getRoot<future::Envelope>();
  ASSERT_EQ(env.getPayload().which(), future::Envelope::Payload::PING);
  EXPECT_EQ(env.getPayload().getPing().getToken(), 9u);
}

}  // namespace
}  // namespace polder
