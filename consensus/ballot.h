// Ballot: the number a proposer stamps on its proposals (Lamport, "Paxos
// Made Simple", §2.2). Totally ordered by (round, node), so two proposers
// never share a ballot. Round 0 is the fast ballot: it belongs to the job's
// origin, which may skip phase 1 because no lower ballot can exist.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include "protocol/ids.h"

namespace polder::consensus {

struct Ballot {
  std::uint64_t round = 0;
  NodeId node;

  // The origin's ballot 0: the lowest ballot of an instance.
  static Ballot fast(const NodeId& origin) { return Ballot{0, origin}; }
  bool is_fast() const { return round == 0; }

  // Lexicographic: round first, then node id, so ties between proposers of
  // the same round are broken deterministically.
  auto operator<=>(const Ballot&) const = default;
  bool operator==(const Ballot&) const = default;

  // "3.1a2b3c4d5e6f" — round and the proposer's short id, for logs.
  std::string to_string() const;
};

}  // namespace polder::consensus
