#include "protocol/signed_record.h"

#include <gtest/gtest.h>

#include "protocol/codec.h"
#include "tests/protocol/test_values.h"

namespace polder {
namespace {

using testing::identity_from;

TEST(SignedRecordTest, OwnNodeRecordVerifiesAndDecodes) {
  Identity a = identity_from(1);
  NodeRecord r = testing::sample_node_record(a.id());
  auto signed_record = sign_node_record(a, r);
  ASSERT_TRUE(signed_record.is_ok());
  auto opened = open_node_record(*signed_record);
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  EXPECT_EQ(*opened, r);
}

TEST(SignedRecordTest, AnyChangedBodyByteFailsVerification) {
  Identity a = identity_from(1);
  SignedRecord rec = *sign_node_record(a, testing::sample_node_record(a.id()));
  for (std::size_t i = 0; i < rec.body.size(); ++i) {
    SignedRecord changed = rec;
    changed.body[i] ^= 0x01;
    EXPECT_EQ(verify_record(changed).code(), StatusCode::kPermissionDenied) << "byte " << i;
  }
}

TEST(SignedRecordTest, ChangedSignatureOrKindFailsVerification) {
  Identity a = identity_from(1);
  SignedRecord rec = *sign_node_record(a, testing::sample_node_record(a.id()));
  for (std::size_t i = 0; i < rec.signature.size(); ++i) {
    SignedRecord changed = rec;
    changed.signature[i] ^= 0x80;
    EXPECT_FALSE(verify_record(changed).is_ok()) << "signature byte " << i;
  }
  SignedRecord other_kind = rec;
  other_kind.kind = RecordKind::kJobSpec;
  EXPECT_FALSE(verify_record(other_kind).is_ok());
}

TEST(SignedRecordTest, ForgedAuthorIsRejected) {
  // Mallory signs a record about Alice and claims Alice wrote it.
  Identity alice = identity_from(1);
  Identity mallory = identity_from(2);
  Bytes body = *encode_node_record(testing::sample_node_record(alice.id()));
  SignedRecord forged = sign_record(mallory, RecordKind::kNodeRecord, body);
  forged.author = alice.id();
  EXPECT_EQ(verify_record(forged).code(), StatusCode::kPermissionDenied);
  EXPECT_FALSE(open_node_record(forged).is_ok());
}

TEST(SignedRecordTest, RecordAboutAnotherKeyIsRejectedEvenIfWellSigned) {
  // Mallory honestly signs, as herself, a record whose subject is Alice.
  Identity alice = identity_from(1);
  Identity mallory = identity_from(2);
  Bytes body = *encode_node_record(testing::sample_node_record(alice.id()));
  SignedRecord rec = sign_record(mallory, RecordKind::kNodeRecord, body);
  ASSERT_TRUE(verify_record(rec).is_ok());
  auto opened = open_node_record(rec);
  ASSERT_FALSE(opened.is_ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kPermissionDenied);
}

TEST(SignedRecordTest, NodeCannotSignSomeoneElsesRecord) {
  Identity alice = identity_from(1);
  Identity mallory = identity_from(2);
  EXPECT_FALSE(sign_node_record(mallory, testing::sample_node_record(alice.id())).is_ok());
}

}  // namespace
}  // namespace polder
