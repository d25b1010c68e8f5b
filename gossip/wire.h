// Plain C++ values of every gossip message (gossip.capnp).
//
// The decoder (codec.h) reads each field of a peer's bytes exactly once into
// these values, so nothing a peer sends can throw inside the core.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "protocol/core.h"
#include "protocol/ids.h"

namespace polder::gossip {

// Dimensions of a Vivaldi coordinate (plus height). Four suffice for the
// geography of a planet; Serf uses eight for datacentre-internal topologies.
inline constexpr std::size_t kCoordinateDimensions = 4;

struct Coordinate {
  std::array<float, kCoordinateDimensions> vec{};
  float height_ms = 0.0F;
  float error = 0.0F;
  bool operator==(const Coordinate&) const = default;
};

enum class UpdateKind : std::uint8_t { kAlive = 1, kSuspect = 2, kDead = 3, kLeft = 4 };

// First 8 bytes of a node id: how accusers and anti-entropy entries name
// members compactly.
std::uint64_t id_prefix(const NodeId& id);

struct Update {
  UpdateKind kind = UpdateKind::kAlive;
  NodeId node;
  std::uint64_t incarnation = 0;
  std::uint64_t accuser = 0;  // id_prefix of the accuser (suspect/dead)
  Bytes record;               // alive only; may be empty
  bool operator==(const Update&) const = default;
};

struct Ping {
  std::uint32_t seq = 0;
  std::optional<Coordinate> coordinate;
};
struct Ack {
  std::uint32_t seq = 0;
  std::optional<Coordinate> coordinate;
};
struct PingReq {
  std::uint32_t seq = 0;
  NodeId target;
};
struct Nack {
  std::uint32_t seq = 0;
};
struct GossipOnly {};
struct Digest {
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;  // (prefix, version)
};
struct DigestReply {
  std::vector<std::uint64_t> wants;
  std::uint64_t hi = 0;
  bool truncated = false;
  std::uint64_t resume = 0;
};
struct Sync {};

using Body = std::variant<GossipOnly, Ping, Ack, PingReq, Nack, Digest, DigestReply, Sync>;

struct Message {
  Body body;
  std::vector<Update> updates;
};

}  // namespace polder::gossip
