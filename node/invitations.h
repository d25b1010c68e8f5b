// InvitationList: the keys admitted to the federation by invitation, and
// key rotations (issue 8).
//
// An invitation (protocol/invitation.h) is a SignedRecord naming a new
// node's key, its operator and an expiry, signed by its inviter. A node
// honours one when its signature verifies, its inviter is a member now (a
// founding member, a key admitted by an invitation this node honours, or a
// founder), neither key is revoked, and it has not expired. The node then
// admits the invitee at the handshake, stores the invitation durably and
// passes it on to every member.
//
// Expiry bounds redemption: when a node first hears from the invitee
// (an authenticated message) before the expiry, the invitation is redeemed
// there and the key stays admitted for good (until revoked). An invitation
// still unredeemed at its expiry is forgotten and the key refused again. A
// node passes a redeemed invitation on as an admission (kind 5: the
// invitation inside a record it signs), so a node that learns of it after
// the expiry — one that was down, or joined later — still admits the key:
// the attesting member vouches for it, which is no more power than a member
// has anyway (it may invite anyone).
//
// A rotation is an invitation signed by the key it replaces; once the new
// key is redeemed the old one is retired (the daemon cuts it off), and the
// records stay as the node's identity history.
//
// Bounded: at most kMaxInvitations. Thread-safety: none (event loop).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "protocol/identity.h"
#include "protocol/invitation.h"
#include "protocol/messages.h"
#include "protocol/status.h"

namespace polder::node {

struct InvitationCounters {
  std::uint64_t accepted = 0;    // new invitations honoured
  std::uint64_t duplicates = 0;  // already known (echoes, replays)
  std::uint64_t refused = 0;     // forged, expired, inviter not a member, revoked, malformed, full
  std::uint64_t redeemed = 0;    // invitees heard from in time
  std::uint64_t expired = 0;     // forgotten unused at their expiry
};

class InvitationList {
 public:
  static constexpr std::size_t kMaxInvitations = 10'000;
  enum class Outcome { kNew, kKnown, kNowRedeemed };

  struct Entry {
    SignedRecord record;  // the invitation as signed by its inviter
    Invitation invitation;
    bool redeemed = false;
  };

  // `is_member(key)`: may `key` invite now (is it admitted here)?
  // `is_revoked(key)`: is the key revoked?
  InvitationList(std::vector<NodeId> founders, std::function<bool(const NodeId&)> is_member,
                 std::function<bool(const NodeId&)> is_revoked);

  // Checks an invitation (kind 4) or an admission (kind 5, whose author
  // must be a member) at wall time `now_us`, and adds it when new. An
  // admission of a known unredeemed invitation redeems it (kNowRedeemed).
  // Errors change nothing: not an invitation, bad signature, inviter not a
  // member or founder, a key revoked, expired (invitations only), full.
  Result<Outcome> accept(const SignedRecord& record, std::int64_t now_us);
  // The invitee was heard from: redeems its invitation if it is still valid.
  // True when this changed something (the caller persists the entry).
  bool redeem(const NodeId& invitee, std::int64_t now_us);
  // Forgets the unredeemed invitations expired at `now_us`; returns their invitees.
  std::vector<NodeId> expire(std::int64_t now_us);
  // Drops the entry of a revoked key (it is out anyway).
  void forget(const NodeId& invitee) {
    auto it = by_invitee_.find(invitee);
    if (it == by_invitee_.end()) return;
    if (!it->second.redeemed) --pending_count_;
    by_invitee_.erase(it);
  }

  const Entry* find(const NodeId& invitee) const;
  bool pending(const NodeId& invitee) const {
    if (pending_count_ == 0) return false;  // the common case, checked per inbound message
    auto it = by_invitee_.find(invitee);
    return it != by_invitee_.end() && !it->second.redeemed;
  }
  // Every entry, in issue order (an inviter's own invitation before the ones it signed).
  std::vector<const Entry*> entries() const;
  std::size_t size() const { return by_invitee_.size(); }
  const InvitationCounters& counters() const { return counters_; }

 private:
  Status check_inviter(const SignedRecord& record, const Invitation& invitation) const;

  std::vector<NodeId> founders_;
  std::function<bool(const NodeId&)> is_member_;
  std::function<bool(const NodeId&)> is_revoked_;
  std::map<NodeId, Entry> by_invitee_;
  std::size_t pending_count_ = 0;  // entries not redeemed yet
  InvitationCounters counters_;
};

}  // namespace polder::node
