// Regression (fuzz_node_record, fuzz_job_spec, fuzz_job_message,
// fuzz_envelope, issue 8): a Text field with a NUL byte inside decoded into a
// std::string holding the NUL, and re-encoding cut it at the NUL, so
// decode(encode(x)) != x. A job's id is the hash of the re-encoded spec and
// execve sees the string only up to the NUL: what a node checked, hashed
// and ran could differ. Such text is now refused at the decoder.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include <array>

#include "protocol/codec.h"
#include "protocol/polder.capnp.h"

namespace polder {
namespace {

// The input fuzz_node_record found: a NodeRecord whose operator is "\0\0\0\0".
const std::uint8_t kFuzzNodeRecord[] = {
  0x00, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x05, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x19, 0x00, 0x00, 0x00,
  0x02, 0x01, 0x00, 0x00, 0x25, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00,
  0x25, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x25, 0x00, 0x00, 0x00,
  0x0a, 0x00, 0x00, 0x00, 0x25, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00,
  0x25, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x25, 0x00, 0x00, 0x00,
  0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00
};

Bytes flat(capnp::MessageBuilder& message) {
  auto bytes = capnp::messageToFlatArray(message).asBytes();
  return Bytes(bytes.begin(), bytes.end());
}

const std::array<std::uint8_t, 32> kKey{7, 7, 7};
// "ac\0me": five bytes with a NUL inside (the literal adds the terminating one).
constexpr const char kNulText[] = "ac\0me";
const capnp::Text::Reader kTextWithNul(kNulText, sizeof kNulText - 1);

TEST(CodecTextNul, FuzzFoundNodeRecordIsRejected) {
  auto decoded = decode_node_record(kFuzzNodeRecord);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(decoded.status().message().find("NUL"), std::string::npos) << decoded.status().message();
}

TEST(CodecTextNul, NodeRecordOperatorWithNulIsRejected) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<wire::NodeRecord>();
  b.setNodeId(capnp::Data::Reader(kKey.data(), kKey.size()));
  b.setOperator(kTextWithNul);
  EXPECT_FALSE(decode_node_record(flat(message)).is_ok());
}

TEST(CodecTextNul, JobSpecCommandWithNulIsRejected) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<wire::JobSpec>();
  b.setCommand(kTextWithNul);
  b.setSubmitter(capnp::Data::Reader(kKey.data(), kKey.size()));
  EXPECT_FALSE(decode_job_spec(flat(message)).is_ok());
}

TEST(CodecTextNul, EnvelopeWithNulInJobMessageIsRejectedAndCounted) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<wire::Envelope>();
  b.setVersion(kProtocolVersion);
  b.setSender(capnp::Data::Reader(kKey.data(), kKey.size()));
  auto job = b.initPayload().initJob();
  job.setKind(static_cast<std::uint16_t>(JobMessageKind::kReply));
  job.setMessage(kTextWithNul);
  Codec codec;
  EXPECT_FALSE(codec.decode(flat(message)).is_ok());
  EXPECT_EQ(codec.counters().rejected, 1u);
  EXPECT_EQ(codec.counters().decoded, 0u);
}

TEST(CodecTextNul, TextWithoutNulStillRoundTrips) {
  NodeRecord r;
  r.node_id = NodeId(kKey);
  r.operator_name = "acme";
  auto bytes = encode_node_record(r);
  ASSERT_TRUE(bytes.is_ok());
  auto decoded = decode_node_record(*bytes);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(*decoded, r);
}

}  // namespace
}  // namespace polder
