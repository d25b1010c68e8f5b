// RevocationList: the keys removed from the federation (issue 8).
//
// A revocation is a SignedRecord of kind kRevocation whose body names the
// revoked key (protocol/signed_record.h: sign_revocation, open_revocation).
// It is honoured when its signature verifies and its signer is one of the
// federation's founders ([federation] founders: the founding operators'
// keys) or the revoked key itself (a node retiring its own key), and the
// signer is not itself revoked. The daemon persists each new revocation,
// removes the key from the transport's allowlists (so it is refused at the
// handshake and its messages are dropped), and floods the record to every
// member; members push what they hold to a member that comes back alive and
// to one member every few seconds, so a node that missed the flood learns
// it within a gossip round or two.
//
// Bounded: at most kMaxRevocations records. Thread-safety: none (event loop).
#pragma once

#include <map>
#include <vector>

#include "protocol/messages.h"
#include "protocol/status.h"

namespace polder::node {

struct RevocationCounters {
  std::uint64_t accepted = 0;    // new revocations honoured
  std::uint64_t duplicates = 0;  // already known (a flood's echoes, replays)
  std::uint64_t refused = 0;     // bad signature, not a founder, malformed, full
};

class RevocationList {
 public:
  static constexpr std::size_t kMaxRevocations = 10'000;
  enum class Outcome { kNew, kKnown };

  explicit RevocationList(std::vector<NodeId> founders) : founders_(std::move(founders)) {}

  // Checks `record` and adds it when it is new. Errors (nothing changes):
  // not a revocation, bad signature, signer neither a founder nor the
  // revoked key, signer revoked, list full.
  Result<Outcome> accept(const SignedRecord& record);
  bool revoked(const NodeId& key) const { return by_key_.contains(key); }
  // Every held record, ordered by revoked key.
  std::vector<SignedRecord> records() const;
  std::size_t size() const { return by_key_.size(); }
  const RevocationCounters& counters() const { return counters_; }

 private:
  std::vector<NodeId> founders_;
  std::map<NodeId, SignedRecord> by_key_;
  RevocationCounters counters_;
};

}  // namespace polder::node
