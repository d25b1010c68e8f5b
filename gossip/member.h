// A member of the federation as one node's gossip core sees it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "gossip/record_verifier.h"
#include "gossip/wire.h"
#include "protocol/ids.h"
#include "protocol/time.h"

namespace polder::gossip {

// SWIM's states plus a graceful leave, which is not a failure.
enum class MemberState : std::uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };

const char* member_state_name(MemberState state);

// A Vivaldi coordinate quantised to 12 bytes: one is kept per member of a
// table that holds every member (10,000 x 10,000 in the simulator).
// Components in units of 1/20 ms (range +-1.6 s), error in 1/10000.
struct CompactCoordinate {
  static constexpr std::uint16_t kNoError = 0xffff;  // marks "no coordinate"
  std::int16_t vec[kCoordinateDimensions] = {};
  std::uint16_t height = 0;
  std::uint16_t error = kNoError;

  bool known() const { return error != kNoError; }
  static CompactCoordinate from(const Coordinate& c);
  Coordinate expand() const;
};

// One entry of the member table: what every received update reads, in one
// 64-byte cache line. At 10,000 members in each of 10,000 simulated cores
// every message lands on a cold table, so a lookup costs the cache lines it
// touches; the rarely read fields (when the state changed, the Vivaldi
// coordinate) live beside the table (MemberTable::state_change_us(),
// coordinate()).
struct alignas(64) Member {
  NodeId id;
  std::shared_ptr<const VerifiedRecord> record;  // null until one arrived
  std::uint64_t incarnation = 0;
  MemberState state = MemberState::kAlive;
  bool in_use = false;
};
static_assert(sizeof(Member) == 64, "a member is one cache line");

// What the node reads: `polder nodes` and the scheduler.
struct MemberInfo {
  NodeId id;
  MemberState state = MemberState::kAlive;
  std::uint64_t incarnation = 0;
  Instant state_since;
  std::shared_ptr<const VerifiedRecord> record;  // null when none known
  std::optional<Coordinate> coordinate;
  bool is_self = false;
};

}  // namespace polder::gossip
