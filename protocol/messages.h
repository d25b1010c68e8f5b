// Plain C++ values of everything in polder.capnp.
//
// Cap'n Proto readers are lazy and throw on malformed data when a field is
// touched. So the decoder (codec.h) reads every field once, at the boundary,
// into these values; nothing thrown by a peer's bytes ever reaches a core.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "protocol/core.h"
#include "protocol/ids.h"

namespace polder {

inline constexpr std::uint16_t kProtocolVersion = 1;
inline constexpr std::uint16_t kMinProtocolVersion = 1;

struct Ping { std::uint64_t token = 0; };
struct Pong { std::uint64_t token = 0; };
struct InfoRequest {};

struct NodeInfo {
  NodeId node_id;
  std::string name;
  std::string version;
  std::uint64_t uptime_ms = 0;
  std::uint16_t protocol_version = kProtocolVersion;
  std::uint32_t peers_known = 0;
  std::string region;
  std::string operator_name;
};

struct ErrorReply {
  std::uint16_t code = 0;  // StatusCode
  std::string message;
};

enum class RecordKind : std::uint16_t { kNodeRecord = 1, kJobSpec = 2 };

struct SignedRecord {
  NodeId author;
  RecordKind kind = RecordKind::kNodeRecord;
  Bytes body;
  std::array<std::uint8_t, 64> signature{};
};

// Bytes for a core (gossip/, consensus/), which decodes them itself.
struct GossipPayload {
  Bytes bytes;
};
struct ConsensusPayload {
  Bytes bytes;
};

struct Accelerator {
  std::string type;
  std::uint32_t total = 0;
  std::uint32_t free = 0;
  bool operator==(const Accelerator&) const = default;
};

struct Dataset {
  std::string name;
  std::uint64_t size_bytes = 0;
  bool operator==(const Dataset&) const = default;
};

struct NodeRecord {
  NodeId node_id;
  std::uint64_t incarnation = 0;
  std::uint64_t sequence = 0;
  std::string name;
  std::string operator_name;
  std::string region;
  std::string address;
  std::vector<Accelerator> accelerators;
  std::uint32_t cpus = 0;
  std::uint64_t memory_bytes = 0;
  std::uint32_t queue_length = 0;
  std::uint64_t expected_wait_ms = 0;
  std::vector<Dataset> datasets;
  bool operator==(const NodeRecord&) const = default;
};

struct NodesRequest {};

// One member as the answering node sees it (`polder nodes`).
struct MemberEntry {
  NodeId node_id;
  std::string state;  // alive, suspect, dead, left
  std::uint64_t incarnation = 0;
  std::optional<NodeRecord> record;
  double rtt_ms = -1;  // negative: unknown
  bool is_self = false;
};

struct MemberList {
  std::vector<MemberEntry> members;
  bool truncated = false;
};

// A payload union member this build does not know: ignored and counted.
struct UnknownPayload { std::uint16_t ordinal = 0; };

using Payload = std::variant<Ping, Pong, InfoRequest, NodeInfo, SignedRecord, ErrorReply, GossipPayload,
                             ConsensusPayload, NodesRequest, MemberList, UnknownPayload>;

struct Envelope {
  std::uint16_t version = kProtocolVersion;
  NodeId sender;
  std::uint64_t message_id = 0;
  std::int64_t timestamp_us = 0;
  Payload payload;
};

struct KeyValue {
  std::string key;
  std::string value;
  bool operator==(const KeyValue&) const = default;
};

struct Resources {
  std::uint32_t gpus = 0;
  std::string gpu_type;
  std::uint32_t cpus = 0;
  std::uint64_t memory_bytes = 0;
  bool operator==(const Resources&) const = default;
};

struct DataInput {
  std::string dataset;
  std::string site;
  std::uint64_t size_bytes = 0;
  bool operator==(const DataInput&) const = default;
};

struct Constraints {
  std::vector<std::string> allowed_regions;
  std::vector<std::string> denied_regions;
  std::vector<std::string> allowed_operators;
  std::vector<std::string> denied_operators;
  bool operator==(const Constraints&) const = default;
};

struct JobSpec {
  std::string name;
  std::string command;
  std::vector<std::string> args;
  std::vector<KeyValue> env;
  std::vector<std::string> files;
  Resources resources;
  std::vector<DataInput> inputs;
  std::uint64_t max_run_time_s = 0;
  std::uint32_t max_retries = 0;
  std::int32_t priority = 0;
  NodeId submitter;
  Constraints constraints;
  std::vector<KeyValue> labels;
  std::int64_t submitted_at_us = 0;
  std::uint64_t nonce = 0;
  bool operator==(const JobSpec&) const = default;
};

}  // namespace polder
