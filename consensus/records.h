// The consensus core's durable records, and where they live.
//
// All records are in Column::kAcceptor. A key is 37 bytes:
//   kind (1 byte: 'a' acceptor, 'p' proposer, 'd' decision)
//   || job id (32 bytes) || attempt (4 bytes, big-endian),
// so one job's records are adjacent and sort by attempt (a prefix scan by
// kind+job finds them all). Values are Cap'n Proto messages of the matching
// struct in consensus.capnp:
//   'a' AcceptorRecord  promised ballot, accepted ballot and value. Written
//                       before any Promise/Accepted leaves (persist, then send).
//   'p' ProposerRecord  highest round this node used and whether it used the
//                       fast ballot 0 (and with which value): a restarted
//                       proposer never reuses a ballot with another value.
//   'd' DecisionRecord  the chosen value: the compacted form of a decided
//                       instance; written with erases of 'a' and 'p'.
// Records are erased when the instance is forgotten (ConsensusCore::forget).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "consensus/ballot.h"
#include "consensus/value.h"
#include "consensus/wire.h"
#include "protocol/core.h"
#include "protocol/status.h"

namespace polder::consensus {

inline constexpr Column kRecordColumn = Column::kAcceptor;
inline constexpr std::size_t kRecordKeySizeBytes = 1 + 32 + 4;

enum class RecordKind : char { kAcceptor = 'a', kProposer = 'p', kDecision = 'd' };

std::string record_key(RecordKind kind, const InstanceKey& key);
// The kind and instance of a key written by record_key(); an error otherwise.
Result<std::pair<RecordKind, InstanceKey>> parse_record_key(std::string_view key);

struct AcceptorRecord {
  InstanceSpec spec;
  std::optional<Ballot> promised;
  std::optional<Ballot> accepted_ballot;
  std::optional<Value> accepted_value;  // set iff accepted_ballot is
};

struct ProposerRecord {
  InstanceSpec spec;
  std::uint64_t round_max = 0;
  std::optional<Value> fast_value;  // set iff ballot 0 was used
};

struct DecisionRecord {
  InstanceSpec spec;
  Value value;
};

Bytes encode_record(const AcceptorRecord& record);
Bytes encode_record(const ProposerRecord& record);
Bytes encode_record(const DecisionRecord& record);
// Stored bytes are validated like peer input: a corrupt record is DataLoss.
Result<AcceptorRecord> decode_acceptor_record(std::span<const std::uint8_t> bytes);
Result<ProposerRecord> decode_proposer_record(std::span<const std::uint8_t> bytes);
Result<DecisionRecord> decode_decision_record(std::span<const std::uint8_t> bytes);

}  // namespace polder::consensus
