// Revocation records (protocol/revocation.h) and who may sign them
// (node/revocations.h).
#include "node/revocations.h"

#include <gtest/gtest.h>

#include "protocol/revocation.h"

namespace polder::node {
namespace {

Revocation of(const Identity& who, std::string reason = "lost laptop") {
  return Revocation{who.id(), 1'700'000'000'000'000, std::move(reason)};
}

TEST(Revocation, RoundTripsAndRefusesOversizedReasons) {
  Identity k = Identity::generate();
  auto bytes = encode_revocation(of(k));
  ASSERT_TRUE(bytes.is_ok());
  auto back = decode_revocation(*bytes);
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(*back, of(k));
  auto big = encode_revocation(of(k, std::string(300, 'x')));
  ASSERT_TRUE(big.is_ok());
  auto refused = decode_revocation(*big);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_NE(refused.status().message().find("at most 256"), std::string::npos) << refused.status().message();
  EXPECT_FALSE(sign_revocation(k, of(k, std::string(300, 'x'))).is_ok());
  EXPECT_FALSE(decode_revocation(Bytes{1, 2, 3}).is_ok());
}

TEST(Revocation, FoundersRevokeAnyKeyOthersOnlyTheirOwn) {
  Identity founder = Identity::generate(), member = Identity::generate(), other = Identity::generate();
  RevocationList list({founder.id()});
  // A member cannot revoke another member.
  auto forged = list.accept(*sign_revocation(member, of(other)));
  ASSERT_FALSE(forged.is_ok());
  EXPECT_EQ(forged.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(forged.status().message().find("neither a founder"), std::string::npos) << forged.status().message();
  EXPECT_FALSE(list.revoked(other.id()));
  // A founder can; the same record again is a duplicate, not a change.
  auto r = *sign_revocation(founder, of(member));
  ASSERT_TRUE(list.accept(r).is_ok());
  EXPECT_EQ(*list.accept(r), RevocationList::Outcome::kKnown);
  EXPECT_TRUE(list.revoked(member.id()));
  EXPECT_EQ(list.counters().accepted, 1u);
  EXPECT_EQ(list.counters().duplicates, 1u);
  // Another record about a key already revoked changes nothing.
  auto by_revoked = list.accept(*sign_revocation(member, of(member, "again")));
  EXPECT_EQ(*by_revoked, RevocationList::Outcome::kKnown);
  // A key may retire itself.
  ASSERT_TRUE(list.accept(*sign_revocation(other, of(other))).is_ok());
  EXPECT_TRUE(list.revoked(other.id()));
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(list.records().size(), 2u);
}

TEST(Revocation, TamperedOrMislabelledRecordsAreRefused) {
  Identity founder = Identity::generate(), member = Identity::generate(), third = Identity::generate();
  RevocationList list({founder.id()});
  SignedRecord r = *sign_revocation(founder, of(member));
  SignedRecord tampered = r;
  tampered.body = *encode_revocation(of(third));  // the signature covers the body
  EXPECT_EQ(list.accept(tampered).status().code(), StatusCode::kPermissionDenied);
  SignedRecord relabelled = r;
  relabelled.kind = RecordKind::kNodeRecord;
  EXPECT_FALSE(list.accept(relabelled).is_ok());
  SignedRecord impostor = r;
  impostor.author = third.id();  // claims another signer
  EXPECT_FALSE(list.accept(impostor).is_ok());
  EXPECT_EQ(list.size(), 0u);
  EXPECT_EQ(list.counters().refused, 3u);
}

TEST(Revocation, ARevokedFounderCannotRevoke) {
  Identity f1 = Identity::generate(), f2 = Identity::generate(), member = Identity::generate();
  RevocationList list({f1.id(), f2.id()});
  ASSERT_TRUE(list.accept(*sign_revocation(f1, of(f2))).is_ok());
  auto late = list.accept(*sign_revocation(f2, of(member)));
  ASSERT_FALSE(late.is_ok());
  EXPECT_NE(late.status().message().find("itself revoked"), std::string::npos);
  EXPECT_FALSE(list.revoked(member.id()));
}

}  // namespace
}  // namespace polder::node
