#include "node/invitations.h"

#include <algorithm>

namespace polder::node {
namespace {
bool same_record(const SignedRecord& a, const SignedRecord& b) {
  return a.author == b.author && a.kind == b.kind && a.signature == b.signature && a.body == b.body;
}
}  // namespace

InvitationList::InvitationList(std::vector<NodeId> founders, std::function<bool(const NodeId&)> is_member,
                               std::function<bool(const NodeId&)> is_revoked)
    : founders_(std::move(founders)), is_member_(std::move(is_member)), is_revoked_(std::move(is_revoked)) {}

Status InvitationList::check_inviter(const SignedRecord& record, const Invitation& invitation) const {
  const NodeId& inviter = record.author;
  const bool founder = std::find(founders_.begin(), founders_.end(), inviter) != founders_.end();
  if (!founder && !is_member_(inviter)) {
    return permission_denied("invitation of " + invitation.invitee.short_hex() + " signed by " + inviter.short_hex() +
                             ", which is not a member of this federation");
  }
  if (is_revoked_(inviter)) {
    return permission_denied("invitation signed by " + inviter.short_hex() + ", which is revoked");
  }
  if (is_revoked_(invitation.invitee)) {
    return permission_denied("invitation of " + invitation.invitee.short_hex() + ", which is revoked");
  }
  return Status::ok();
}

Result<InvitationList::Outcome> InvitationList::accept(const SignedRecord& record, std::int64_t now_us) {
  const bool admission = record.kind == kAdmissionKind;
  SignedRecord inner = record;
  if (admission) {
    auto opened = open_admission(record);
    if (!opened) {
      ++counters_.refused;
      return opened.status();
    }
    if (!is_member_(record.author) || is_revoked_(record.author)) {
      ++counters_.refused;
      return permission_denied("admission attested by " + record.author.short_hex() + ", which is not a member");
    }
    inner = std::move(*opened);
  }
  auto invitation = open_invitation(inner);
  if (!invitation) {
    ++counters_.refused;
    return invitation.status();
  }
  auto it = by_invitee_.find(invitation->invitee);
  if (it != by_invitee_.end() && same_record(it->second.record, inner)) {
    if (admission && !it->second.redeemed) {
      it->second.redeemed = true;
      --pending_count_;
      ++counters_.redeemed;
      return Outcome::kNowRedeemed;
    }
    ++counters_.duplicates;
    return Outcome::kKnown;
  }
  if (it != by_invitee_.end() && (it->second.redeemed || it->second.invitation.issued_at_us >= invitation->issued_at_us)) {
    // Another invitation of a key already invited: the one held stands.
    ++counters_.duplicates;
    return Outcome::kKnown;
  }
  if (Status s = check_inviter(inner, *invitation); !s.is_ok()) {
    ++counters_.refused;
    return s;
  }
  if (!admission && now_us >= invitation->expires_at_us) {
    ++counters_.refused;
    return failed_precondition("invitation of " + invitation->invitee.short_hex() + " expired " +
                               std::to_string((now_us - invitation->expires_at_us) / 1'000'000) + " s ago");
  }
  if (it == by_invitee_.end() && by_invitee_.size() >= kMaxInvitations) {
    ++counters_.refused;
    return resource_exhausted("invitation list full (" + std::to_string(kMaxInvitations) + " keys)");
  }
  if (it != by_invitee_.end() && !it->second.redeemed) --pending_count_;  // replaced by a newer invitation
  if (!admission) ++pending_count_;
  by_invitee_.insert_or_assign(invitation->invitee, Entry{std::move(inner), std::move(*invitation), admission});
  ++counters_.accepted;
  if (admission) ++counters_.redeemed;
  return Outcome::kNew;
}

bool InvitationList::redeem(const NodeId& invitee, std::int64_t now_us) {
  auto it = by_invitee_.find(invitee);
  if (it == by_invitee_.end() || it->second.redeemed || now_us >= it->second.invitation.expires_at_us) return false;
  it->second.redeemed = true;
  --pending_count_;
  ++counters_.redeemed;
  return true;
}

std::vector<NodeId> InvitationList::expire(std::int64_t now_us) {
  std::vector<NodeId> out;
  for (auto it = by_invitee_.begin(); it != by_invitee_.end();) {
    if (!it->second.redeemed && now_us >= it->second.invitation.expires_at_us) {
      out.push_back(it->first);
      --pending_count_;
      ++counters_.expired;
      it = by_invitee_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

const InvitationList::Entry* InvitationList::find(const NodeId& invitee) const {
  auto it = by_invitee_.find(invitee);
  return it == by_invitee_.end() ? nullptr : &it->second;
}

std::vector<const InvitationList::Entry*> InvitationList::entries() const {
  std::vector<const Entry*> out;
  out.reserve(by_invitee_.size());
  for (const auto& [key, entry] : by_invitee_) out.push_back(&entry);
  std::sort(out.begin(), out.end(), [](const Entry* a, const Entry* b) {
    return a->invitation.issued_at_us < b->invitation.issued_at_us;
  });
  return out;
}

}  // namespace polder::node
