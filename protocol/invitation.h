// Invitations (issue 8): a SignedRecord of kind kInvitationKind whose body
// says "this key may join the federation, as a node of this operator, until
// then". Its author is the inviter, a member node. Who may sign one, and
// how a node keeps, spreads and forgets them, is the node's policy
// (node/invitations.h); here are the value, its wire form and the signature.
//
// An invitation with `replaces` set is a key rotation: the old key (its
// author and `replaces`) signs in its successor, keeping the node's identity
// history (the chain of such records).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/codec.h"
#include "protocol/identity.h"
#include "protocol/messages.h"

namespace polder {

// RecordKinds 4 and 5 (protocol/polder.capnp, SignedRecord.kind).
inline constexpr RecordKind kInvitationKind = static_cast<RecordKind>(4);
// An admission: a member attests that an invitation was redeemed in time;
// its body is the encoded kInvitationKind SignedRecord.
inline constexpr RecordKind kAdmissionKind = static_cast<RecordKind>(5);

struct Invitation {
  NodeId invitee;
  std::string operator_name;  // 1..kOperatorMaxBytes
  std::int64_t issued_at_us = 0;
  std::int64_t expires_at_us = 0;  // > issued_at_us
  std::string inviter_address;     // tcp://HOST:PORT of the author; at most kAddressMaxBytes
  std::vector<NodeId> members;     // at most kListMax
  std::vector<NodeId> founders;    // at most kListMax
  std::optional<NodeId> replaces;  // key rotation

  static constexpr std::size_t kOperatorMaxBytes = 64;
  static constexpr std::size_t kAddressMaxBytes = 256;
  static constexpr std::size_t kListMax = 1024;
  bool operator==(const Invitation&) const = default;
};

Result<Bytes> encode_invitation(const Invitation& invitation, const CodecLimits& limits = {});
// Refuses malformed keys, an empty or oversized operator, an oversized
// address or list, and an expiry not after the issue time.
Result<Invitation> decode_invitation(std::span<const std::uint8_t> bytes, const CodecLimits& limits = {});

Result<SignedRecord> sign_invitation(const Identity& inviter, const Invitation& invitation);
// Verifies the signature and decodes a kInvitationKind record. For a
// rotation, `replaces` must be the author.
Result<Invitation> open_invitation(const SignedRecord& record);

// An admission by `attester` of the invitation `invitation_record`.
Result<SignedRecord> sign_admission(const Identity& attester, const SignedRecord& invitation_record);
// Verifies the admission's signature; returns the invitation record inside
// (not yet verified: open_invitation it).
Result<SignedRecord> open_admission(const SignedRecord& record);

// The file `polder invite` writes and `polderd run --invitation` reads:
// one line "polder-invitation-v1 <hex of the encoded SignedRecord>".
std::string invitation_file_text(const SignedRecord& record);
Result<SignedRecord> parse_invitation_file_text(std::string_view text);

}  // namespace polder
