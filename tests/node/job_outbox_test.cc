// The turn's job messages leave bundled per peer (node/job_outbox.h).
#include "node/job_outbox.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>

#include "protocol/codec.h"

namespace polder::node {
namespace {

NodeId key(char c) { return *NodeId::from_hex(std::string(64, c)); }

JobMessage numbered(std::uint64_t n) {
  JobMessage m;
  m.request_id = n;
  return m;
}

std::vector<std::uint64_t> numbers(const JobBundle& b) {
  std::vector<std::uint64_t> out;
  for (const auto& m : b.messages) out.push_back(m.request_id);
  return out;
}

TEST(JobOutbox, EachPeersMessagesLeaveTogetherInTheOrderSent) {
  const NodeId a = key('a');
  const NodeId b = key('b');
  std::vector<std::pair<NodeId, JobMessage>> outbox;
  outbox.emplace_back(b, numbered(1));
  outbox.emplace_back(a, numbered(2));
  outbox.emplace_back(b, numbered(3));
  outbox.emplace_back(a, numbered(4));
  outbox.emplace_back(b, numbered(5));
  const auto bundles = bundle_by_peer(std::move(outbox), 256);
  ASSERT_EQ(bundles.size(), 2u);
  EXPECT_EQ(bundles[0].to, a);
  EXPECT_EQ(numbers(bundles[0]), (std::vector<std::uint64_t>{2, 4}));
  EXPECT_EQ(bundles[1].to, b);
  EXPECT_EQ(numbers(bundles[1]), (std::vector<std::uint64_t>{1, 3, 5}));
}

TEST(JobOutbox, APeersMessagesOverTheBundleLimitLeaveInSeveralBundlesInOrder) {
  const NodeId a = key('a');
  std::vector<std::pair<NodeId, JobMessage>> outbox;
  for (std::uint64_t n = 1; n <= 7; ++n) outbox.emplace_back(a, numbered(n));
  const auto bundles = bundle_by_peer(std::move(outbox), 3);
  ASSERT_EQ(bundles.size(), 3u);
  EXPECT_EQ(numbers(bundles[0]), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(numbers(bundles[1]), (std::vector<std::uint64_t>{4, 5, 6}));
  EXPECT_EQ(numbers(bundles[2]), (std::vector<std::uint64_t>{7}));
  for (const auto& bundle : bundles) EXPECT_EQ(bundle.to, a);
}

TEST(JobOutbox, AnEmptyOutboxSendsNothing) { EXPECT_TRUE(bundle_by_peer({}, 256).empty()); }

// The envelopes a bundle left as, decoded: the numbers of the messages each carries.
struct Sent {
  std::vector<std::vector<std::uint64_t>> numbers;
  std::vector<std::uint64_t> message_ids;
  std::size_t largest = 0;
};

Sent decode_all(const EncodedJobBundle& encoded, Codec& codec) {
  Sent sent;
  for (const auto& e : encoded.envelopes) {
    sent.largest = std::max(sent.largest, e.bytes.size());
    auto envelope = codec.decode(e.bytes);
    EXPECT_TRUE(envelope.is_ok()) << envelope.status().to_string();
    if (!envelope) continue;
    sent.message_ids.push_back(envelope->message_id);
    std::vector<std::uint64_t> carried;
    if (const auto* one = std::get_if<JobMessage>(&envelope->payload)) carried.push_back(one->request_id);
    if (const auto* batch = std::get_if<JobBatch>(&envelope->payload)) {
      for (const auto& m : batch->messages) carried.push_back(m.request_id);
    }
    EXPECT_EQ(carried.size(), e.messages);
    sent.numbers.push_back(carried);
  }
  return sent;
}

JobMessage padded(std::uint64_t n, std::size_t bytes) {
  JobMessage m = numbered(n);
  m.message = std::string(bytes, 'x');
  return m;
}

// Numbers each envelope it wraps, as the daemon does.
struct Encoder {
  Codec codec;
  std::uint64_t next_id = 0;
  Envelope operator()(Payload p) {
    Envelope e;
    e.sender = key('c');
    e.message_id = ++next_id;
    e.payload = std::move(p);
    return e;
  }
};

// Messages 1..count, each padded by `bytes`, encoded as one bundle; none may be refused.
Sent send_numbered(Encoder& encoder, std::uint64_t count, std::size_t bytes) {
  std::vector<JobMessage> messages;
  for (std::uint64_t n = 1; n <= count; ++n) messages.push_back(padded(n, bytes));
  const auto encoded = encode_bundle(std::move(messages), encoder.codec, std::ref(encoder));
  EXPECT_TRUE(encoded.refused.empty());
  Codec reader;
  return decode_all(encoded, reader);
}

TEST(JobOutbox, ABundleThatFitsLeavesAsOneEnvelope) {
  Encoder encoder;
  const Sent sent = send_numbered(encoder, 4, 100);
  EXPECT_EQ(sent.numbers, (std::vector<std::vector<std::uint64_t>>{{1, 2, 3, 4}}));
  EXPECT_EQ(encoder.next_id, 1u);
}

TEST(JobOutbox, ABundleOverTheMessageLimitLeavesInHalvesInOrderEachWithinTheLimit) {
  constexpr std::size_t kLimit = 2600;  // two 1000-byte messages fit, three do not
  Encoder encoder{Codec(CodecLimits{.max_message_bytes = kLimit})};
  const Sent sent = send_numbered(encoder, 5, 1000);
  // 5 -> 2 + 3 -> 2 + (1 + 2): every message once, in the order sent.
  EXPECT_EQ(sent.numbers, (std::vector<std::vector<std::uint64_t>>{{1, 2}, {3}, {4, 5}}));
  EXPECT_LE(sent.largest, kLimit);
  // Halves are numbered after the whole they came from, so ids rise in sending order.
  EXPECT_TRUE(std::is_sorted(sent.message_ids.begin(), sent.message_ids.end()));
  EXPECT_EQ(std::adjacent_find(sent.message_ids.begin(), sent.message_ids.end()), sent.message_ids.end());
}

TEST(JobOutbox, AMessageTooLargeAloneIsRefusedAndTheOthersStillLeave) {
  constexpr std::size_t kLimit = 2600;
  Encoder encoder{Codec(CodecLimits{.max_message_bytes = kLimit})};
  std::vector<JobMessage> messages;
  messages.push_back(padded(1, 100));
  messages.push_back(padded(2, 5000));
  messages.push_back(padded(3, 100));
  const auto encoded = encode_bundle(std::move(messages), encoder.codec, std::ref(encoder));
  ASSERT_EQ(encoded.refused.size(), 1u);
  EXPECT_FALSE(encoded.refused.front().is_ok());
  Codec reader;
  const Sent sent = decode_all(encoded, reader);
  EXPECT_EQ(sent.numbers, (std::vector<std::vector<std::uint64_t>>{{1}, {3}}));
}

}  // namespace
}  // namespace polder::node
