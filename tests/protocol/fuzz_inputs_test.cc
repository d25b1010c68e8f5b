// Random bytes, truncations and bit flips into every decoder: each must
// return an error or a value, never crash or throw (issue 3). Seeds printed.
#include <gtest/gtest.h>

#include "protocol/codec.h"
#include "protocol/rng.h"
#include "protocol/signed_record.h"
#include "tests/protocol/test_values.h"

namespace polder {
namespace {

constexpr std::uint64_t kSeed = 0x5eed0001;
constexpr int kInputsPerTest = 3000;

Bytes random_bytes(Rng& rng, std::size_t max_size) {
  Bytes b(rng.uniform(max_size + 1));
  for (auto& x : b) x = static_cast<std::uint8_t>(rng.next());
  // Half the time, make it look like a plausible segment table so the
  // decoder gets past the first check and into pointer traversal.
  if (b.size() >= 8 && rng.chance(0.5)) {
    b[0] = b[1] = b[2] = b[3] = 0;  // one segment
    std::uint32_t words = static_cast<std::uint32_t>((b.size() - 8) / 8);
    std::memcpy(&b[4], &words, 4);
    b.resize(8 + words * 8);
  }
  return b;
}

// Every decoder over the same input. Returns how many accepted it.
int decode_everything(Codec& codec, std::span<const std::uint8_t> input) {
  int accepted = 0;
  accepted += codec.decode(input).is_ok();
  accepted += decode_node_record(input).is_ok();
  accepted += decode_job_spec(input).is_ok();
  accepted += decode_signed_record(input).is_ok();
  return accepted;
}

TEST(DecoderFuzzInputs, RandomBytesGiveErrorsNotCrashes) {
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  Rng rng(kSeed);
  Codec codec;
  for (int i = 0; i < kInputsPerTest; ++i) {
    Bytes input = random_bytes(rng, 512);
    decode_everything(codec, input);
  }
  EXPECT_EQ(codec.counters().decoded + codec.counters().rejected, static_cast<std::uint64_t>(kInputsPerTest));
  EXPECT_GT(codec.counters().rejected, static_cast<std::uint64_t>(kInputsPerTest / 2));
}

TEST(DecoderFuzzInputs, EveryTruncationOfValidMessagesIsRejected) {
  Codec codec;
  auto id = testing::identity_from(7);
  Envelope e;
  e.sender = id.id();
  e.payload = *sign_node_record(id, testing::sample_node_record(id.id()));
  Bytes full = *codec.encode(e);
  Bytes record = *encode_node_record(testing::sample_node_record(id.id()));
  Bytes spec = *encode_job_spec(testing::sample_job_spec(id.id()));
  for (std::size_t n = 0; n < full.size(); ++n) {
    EXPECT_FALSE(codec.decode(std::span(full.data(), n)).is_ok()) << "envelope truncated to " << n;
  }
  for (std::size_t n = 0; n < record.size(); ++n) {
    EXPECT_FALSE(decode_node_record(std::span(record.data(), n)).is_ok()) << "record truncated to " << n;
  }
  for (std::size_t n = 0; n < spec.size(); ++n) {
    EXPECT_FALSE(decode_job_spec(std::span(spec.data(), n)).is_ok()) << "spec truncated to " << n;
  }
}

TEST(DecoderFuzzInputs, BitFlipsNeverCrashAndSignedRecordsNeverVerify) {
  SCOPED_TRACE("seed " + std::to_string(kSeed + 1));
  Rng rng(kSeed + 1);
  Codec codec;
  auto id = testing::identity_from(8);
  Envelope e;
  e.sender = id.id();
  e.payload = *sign_node_record(id, testing::sample_node_record(id.id()));
  const Bytes full = *codec.encode(e);
  int verified_after_flip = 0;
  for (int i = 0; i < kInputsPerTest; ++i) {
    Bytes mutated = full;
    int flips = 1 + static_cast<int>(rng.uniform(4));
    for (int f = 0; f < flips; ++f) mutated[rng.uniform(mutated.size())] ^= static_cast<std::uint8_t>(1u << rng.uniform(8));
    auto decoded = codec.decode(mutated);
    if (!decoded || !std::holds_alternative<SignedRecord>(decoded->payload)) continue;
    const auto& rec = std::get<SignedRecord>(decoded->payload);
    // A flip in the record's bytes must break the signature; a flip
    // elsewhere (envelope header) leaves an intact record.
    if (open_node_record(rec).is_ok() && rec.body != std::get<SignedRecord>(e.payload).body) ++verified_after_flip;
  }
  EXPECT_EQ(verified_after_flip, 0);
}

TEST(DecoderFuzzInputs, DeeplyNestedOrAmplifiedInputHitsLimits) {
  // A list of 2^20 pointers all aimed at one big struct would make a naive
  // reader do gigabytes of work; the traversal limit stops it.
  Codec codec;
  Bytes bomb(8 + 8 * 4, 0);
  bomb[4] = 4;  // one segment of 4 words
  // root pointer: struct with 0 data words and 1 pointer, at offset 0
  bomb[8] = 0; bomb[12] = 0; bomb[14] = 1;
  // pointer 1: list pointer, element size 7 (composite) pointing back (-2 words)
  std::uint32_t offset_word = static_cast<std::uint32_t>((-2) << 2) | 1;
  std::memcpy(&bomb[16], &offset_word, 4);
  std::uint32_t list_word = (0x7FFFFFFu << 3) | 7;
  std::memcpy(&bomb[20], &list_word, 4);
  EXPECT_FALSE(codec.decode(bomb).is_ok());
  EXPECT_FALSE(decode_job_spec(bomb).is_ok());
}

}  // namespace
}  // namespace polder
