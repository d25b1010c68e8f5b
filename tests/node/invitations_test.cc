// Invitations (protocol/invitation.h) and who a node admits with them
// (node/invitations.h): forged, expired, not-a-member and revoked
// invitations are refused; expiry bounds redemption; admissions carry a
// redeemed invitation past its expiry; rotations are signed by the old key.
#include "node/invitations.h"

#include <gtest/gtest.h>

#include <set>

#include "protocol/signed_record.h"

namespace polder::node {
namespace {

constexpr std::int64_t kT0 = 1'700'000'000'000'000;  // µs
constexpr std::int64_t kHour = 3'600'000'000;

Invitation invite(const Identity& invitee, std::int64_t expires = kT0 + kHour) {
  Invitation i;
  i.invitee = invitee.id();
  i.operator_name = "op-b";
  i.issued_at_us = kT0;
  i.expires_at_us = expires;
  i.inviter_address = "tcp://127.0.0.1:7400";
  return i;
}

struct Federation {
  std::set<NodeId> members, revoked;
  std::vector<NodeId> founders;
  InvitationList list() {
    return InvitationList(founders, [this](const NodeId& k) { return members.contains(k); },
                          [this](const NodeId& k) { return revoked.contains(k); });
  }
};

TEST(Invitation, RoundTripsThroughTheWireAndTheFileText) {
  Identity inviter = Identity::generate(), invitee = Identity::generate(), other = Identity::generate();
  Invitation i = invite(invitee);
  i.members = {inviter.id(), other.id()};
  i.founders = {other.id()};
  auto bytes = encode_invitation(i);
  ASSERT_TRUE(bytes.is_ok());
  auto back = decode_invitation(*bytes);
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(*back, i);
  auto record = sign_invitation(inviter, i);
  ASSERT_TRUE(record.is_ok());
  auto parsed = parse_invitation_file_text(invitation_file_text(*record));
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().message();
  auto opened = open_invitation(*parsed);
  ASSERT_TRUE(opened.is_ok()) << opened.status().message();
  EXPECT_EQ(*opened, i);
  EXPECT_FALSE(parse_invitation_file_text("hello").is_ok());
  EXPECT_FALSE(parse_invitation_file_text("polder-invitation-v1 zz").is_ok());
  // Malformed values are refused at signing and at decoding.
  Invitation bad = i;
  bad.operator_name = "";
  EXPECT_FALSE(sign_invitation(inviter, bad).is_ok());
  bad = i;
  bad.expires_at_us = bad.issued_at_us;
  EXPECT_FALSE(sign_invitation(inviter, bad).is_ok());
  EXPECT_FALSE(decode_invitation(*encode_invitation(bad)).is_ok());
  EXPECT_FALSE(decode_invitation(Bytes{1, 2, 3}).is_ok());
}

TEST(Invitation, AMembersInvitationIsHonouredAndAForgedOneIsNot) {
  Identity inviter = Identity::generate(), invitee = Identity::generate(), outsider = Identity::generate();
  Federation f;
  f.members = {inviter.id()};
  auto list = f.list();
  // Signed by a key that is no member: refused, nothing held.
  auto by_outsider = list.accept(*sign_invitation(outsider, invite(invitee)), kT0);
  ASSERT_FALSE(by_outsider.is_ok());
  EXPECT_EQ(by_outsider.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(by_outsider.status().message().find("not a member"), std::string::npos);
  // A member's invitation with a flipped signature bit or body byte: refused.
  auto record = *sign_invitation(inviter, invite(invitee));
  SignedRecord forged = record;
  forged.signature[3] ^= 1;
  EXPECT_FALSE(list.accept(forged, kT0).is_ok());
  forged = record;
  forged.body[forged.body.size() / 2] ^= 1;
  EXPECT_FALSE(list.accept(forged, kT0).is_ok());
  // Claiming the member wrote an outsider's record: the signature does not verify.
  forged = *sign_invitation(outsider, invite(invitee));
  forged.author = inviter.id();
  EXPECT_FALSE(list.accept(forged, kT0).is_ok());
  EXPECT_EQ(list.size(), 0u);
  EXPECT_EQ(list.counters().refused, 4u);
  // The real one: honoured, then a duplicate.
  ASSERT_TRUE(list.accept(record, kT0).is_ok());
  EXPECT_EQ(*list.accept(record, kT0), InvitationList::Outcome::kKnown);
  ASSERT_NE(list.find(invitee.id()), nullptr);
  EXPECT_EQ(list.find(invitee.id())->invitation.operator_name, "op-b");
  EXPECT_TRUE(list.pending(invitee.id()));
  EXPECT_EQ(list.counters().accepted, 1u);
  EXPECT_EQ(list.counters().duplicates, 1u);
  // A founder's key may invite too.
  Identity founder = Identity::generate(), second = Identity::generate();
  f.founders = {founder.id()};
  auto list2 = f.list();
  EXPECT_TRUE(list2.accept(*sign_invitation(founder, invite(second)), kT0).is_ok());
}

TEST(Invitation, AnExpiredInvitationIsRefusedAndAnUnusedOneIsForgottenAtItsExpiry) {
  Identity inviter = Identity::generate(), a = Identity::generate(), b = Identity::generate();
  Federation f;
  f.members = {inviter.id()};
  auto list = f.list();
  auto late = list.accept(*sign_invitation(inviter, invite(a, kT0 + 10)), kT0 + 10);
  ASSERT_FALSE(late.is_ok());
  EXPECT_NE(late.status().message().find("expired"), std::string::npos) << late.status().message();
  EXPECT_EQ(list.size(), 0u);
  // a is invited and heard from in time; b never shows up.
  ASSERT_TRUE(list.accept(*sign_invitation(inviter, invite(a)), kT0).is_ok());
  ASSERT_TRUE(list.accept(*sign_invitation(inviter, invite(b)), kT0).is_ok());
  EXPECT_TRUE(list.redeem(a.id(), kT0 + 5));
  EXPECT_FALSE(list.redeem(a.id(), kT0 + 6));  // once
  EXPECT_FALSE(list.redeem(b.id(), kT0 + kHour));  // too late
  EXPECT_TRUE(list.expire(kT0 + kHour - 1).empty());
  auto gone = list.expire(kT0 + kHour);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0], b.id());
  EXPECT_EQ(list.find(b.id()), nullptr);
  ASSERT_NE(list.find(a.id()), nullptr);
  EXPECT_FALSE(list.pending(a.id()));
  EXPECT_EQ(list.counters().expired, 1u);
  EXPECT_EQ(list.counters().redeemed, 1u);
}

TEST(Invitation, AnAdmissionCarriesARedeemedInvitationPastItsExpiry) {
  Identity inviter = Identity::generate(), attester = Identity::generate(), a = Identity::generate(),
           outsider = Identity::generate();
  Federation f;
  f.members = {inviter.id(), attester.id()};
  auto list = f.list();
  auto record = *sign_invitation(inviter, invite(a));
  const std::int64_t after = kT0 + 2 * kHour;
  EXPECT_FALSE(list.accept(record, after).is_ok());  // the bare invitation: expired
  // An outsider's admission is worth nothing; a tampered one neither.
  EXPECT_FALSE(list.accept(*sign_admission(outsider, record), after).is_ok());
  SignedRecord tampered = *sign_admission(attester, record);
  tampered.body[tampered.body.size() - 5] ^= 1;
  EXPECT_FALSE(list.accept(tampered, after).is_ok());
  // An admission of an invitation whose inviter is no member: refused.
  EXPECT_FALSE(list.accept(*sign_admission(attester, *sign_invitation(outsider, invite(a))), after).is_ok());
  EXPECT_EQ(list.size(), 0u);
  // A member's admission: honoured, redeemed, survives expire().
  ASSERT_EQ(*list.accept(*sign_admission(attester, record), after), InvitationList::Outcome::kNew);
  EXPECT_FALSE(list.pending(a.id()));
  EXPECT_TRUE(list.expire(after).empty());
  // An admission of a held, unredeemed invitation redeems it.
  Identity b = Identity::generate();
  auto rb = *sign_invitation(inviter, invite(b));
  ASSERT_TRUE(list.accept(rb, kT0).is_ok());
  EXPECT_EQ(*list.accept(*sign_admission(attester, rb), kT0 + 1), InvitationList::Outcome::kNowRedeemed);
  EXPECT_FALSE(list.pending(b.id()));
}

TEST(Invitation, RevokedKeysNeitherInviteNorAreInvited) {
  Identity inviter = Identity::generate(), a = Identity::generate(), b = Identity::generate();
  Federation f;
  f.members = {inviter.id(), a.id()};
  f.revoked = {a.id()};
  auto list = f.list();
  auto by_revoked = list.accept(*sign_invitation(a, invite(b)), kT0);
  ASSERT_FALSE(by_revoked.is_ok());
  EXPECT_NE(by_revoked.status().message().find("revoked"), std::string::npos);
  EXPECT_FALSE(list.accept(*sign_invitation(inviter, invite(a)), kT0).is_ok());
  EXPECT_EQ(list.size(), 0u);
}

TEST(Invitation, ARotationIsSignedByTheKeyItReplaces) {
  Identity old_key = Identity::generate(), new_key = Identity::generate(), other = Identity::generate();
  Invitation rotation = invite(new_key);
  rotation.replaces = old_key.id();
  EXPECT_FALSE(sign_invitation(other, rotation).is_ok());
  auto record = sign_invitation(old_key, rotation);
  ASSERT_TRUE(record.is_ok());
  auto opened = open_invitation(*record);
  ASSERT_TRUE(opened.is_ok());
  EXPECT_EQ(opened->replaces, old_key.id());
  // A rotation whose `replaces` is not its signer is refused when opened.
  Invitation lying = invite(new_key);
  lying.replaces = other.id();
  auto body = encode_invitation(lying);
  SignedRecord forged = sign_record(old_key, kInvitationKind, *body);
  EXPECT_FALSE(open_invitation(forged).is_ok());
}

}  // namespace
}  // namespace polder::node
