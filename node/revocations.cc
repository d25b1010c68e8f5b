#include "node/revocations.h"

#include <algorithm>

#include "protocol/revocation.h"

namespace polder::node {

Result<RevocationList::Outcome> RevocationList::accept(const SignedRecord& record) {
  auto revocation = open_revocation(record);
  if (!revocation) {
    ++counters_.refused;
    return revocation.status();
  }
  if (by_key_.contains(revocation->revoked)) {
    ++counters_.duplicates;
    return Outcome::kKnown;
  }
  const NodeId& signer = record.author;
  const bool founder = std::find(founders_.begin(), founders_.end(), signer) != founders_.end();
  if (!founder && signer != revocation->revoked) {
    ++counters_.refused;
    return permission_denied("revocation of " + revocation->revoked.short_hex() + " signed by " +
                             signer.short_hex() + ", which is neither a founder ([federation] founders) nor the key itself");
  }
  if (by_key_.contains(signer)) {
    ++counters_.refused;
    return permission_denied("revocation signed by " + signer.short_hex() + ", which is itself revoked");
  }
  if (by_key_.size() >= kMaxRevocations) {
    ++counters_.refused;
    return resource_exhausted("revocation list full (" + std::to_string(kMaxRevocations) + " keys)");
  }
  by_key_.emplace(revocation->revoked, record);
  ++counters_.accepted;
  return Outcome::kNew;
}

std::vector<SignedRecord> RevocationList::records() const {
  std::vector<SignedRecord> out;
  out.reserve(by_key_.size());
  for (const auto& [key, record] : by_key_) out.push_back(record);
  return out;
}

}  // namespace polder::node
