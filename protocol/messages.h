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

// Bandwidth a node measured to a peer on real transfers (EWMA).
struct LinkMetric {
  NodeId peer;
  std::uint64_t bandwidth_bps = 0;
  bool operator==(const LinkMetric&) const = default;
};
// At most this many links in one record (the decoder refuses more).
inline constexpr std::size_t kRecordLinksMax = 32;

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
  std::vector<LinkMetric> links;  // measured bandwidth to peers, <= kRecordLinksMax
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
  std::vector<float> coordinate;  // Vivaldi vector in ms; empty: unknown
  float height_ms = 0;
};

struct MemberList {
  std::vector<MemberEntry> members;
  bool truncated = false;
};

// The job protocol (one envelope payload, `kind` says which message).
// Client channel: kSubmit/kStatus/kLogs/kCancel/kList, answered by kReply
// (or an ErrorReply). Peer channel: the rest, between nodes.
enum class JobMessageKind : std::uint16_t {
  kSubmit = 1,       // client -> node: spec. Reply: jobs[0] (id, state queued)
  kStatus = 2,       // client -> node: job_id. Reply: jobs[0]
  kLogs = 3,         // client -> node: job_id, offset. Reply: data, offset, done
  kCancel = 4,       // client -> node: job_id. Reply: jobs[0]
  kList = 5,         // client -> node: state/node filters. Reply: jobs
  kReply = 6,        // node -> client
  kReplicate = 20,   // origin -> replicas: spec, origin, replicas, jobs[0]
  kReserve = 21,     // proposer -> candidate: job_id, attempt, spec (resources)
  kReserveReply = 22,// candidate -> proposer: granted, reservation, gpu_slots, message
  kRelease = 23,     // proposer -> candidate: reservation no longer wanted
  kUpdate = 24,      // executor/holder -> holders: jobs[0], the job's new state
  kQuery = 25,       // node -> node: job_id (empty: all), filters
  kQueryReply = 26,  // jobs, truncated
  kFetchLogs = 27,   // node -> executor: job_id, attempt, offset
  kLogsReply = 28,   // data, offset, done, message
  kCancelJob = 29,   // node -> holders and executor: job_id
  kHeartbeat = 30,   // executor -> holder: request_id = round, jobs = its attempts the holder holds
  kHeartbeatAck = 31,// holder -> executor: request_id = round, per attempt jobs[i].lease_granted,
                     // or state "refused" (stop it: the job moved on), else an abstention
  kWorkOffer = 32,   // idle node -> driver with waiting jobs: free_accelerators, free_cpus,
                     // free_memory_bytes (what the sender has free now); no reply
};

// At most this many accelerator types in a work offer (the decoder refuses more).
inline constexpr std::size_t kWorkOfferAcceleratorsMax = 64;

struct JobView {
  JobId job_id;
  std::string name;
  std::string state;
  std::uint32_t attempt = 0;
  std::optional<NodeId> executor;
  std::string executor_name;
  std::optional<NodeId> origin;
  std::int32_t exit_code = 0;
  std::int64_t submitted_at_us = 0;
  std::int64_t started_at_us = 0;
  std::int64_t finished_at_us = 0;
  std::string message;
  std::string gpu_slots;
  std::int64_t updated_at_us = 0;
  std::string command;
  std::uint32_t failures = 0;
  std::optional<NodeId> submitter;  // filled in by the holder that answers a query
  // Only in a kHeartbeatAck: the holder grants the executor's lease on
  // (job_id, attempt) and will not vote for a later attempt until it lapses.
  bool lease_granted = false;
  bool operator==(const JobView&) const = default;
};

// A payload union member this build does not know: ignored and counted.
struct UnknownPayload { std::uint16_t ordinal = 0; };



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

struct JobMessage {
  JobMessageKind kind = JobMessageKind::kReply;
  std::uint64_t request_id = 0;
  std::optional<JobId> job_id;
  std::uint32_t attempt = 0;
  std::optional<JobSpec> spec;
  std::optional<NodeId> origin;
  std::vector<NodeId> replicas;
  std::uint64_t reservation = 0;
  bool granted = false;
  std::string gpu_slots;
  std::vector<JobView> jobs;
  Bytes data;
  std::uint64_t offset = 0;
  bool done = false;
  std::string message;
  std::string state_filter;
  std::string node_filter;
  bool truncated = false;
  // kWorkOffer only: what the sender has free (accelerators: free of total, per type).
  std::vector<Accelerator> free_accelerators;
  std::uint32_t free_cpus = 0;
  std::uint64_t free_memory_bytes = 0;
  // kReserveReply refusals only: what is missing is held by reservations
  // that await their decision (not by running jobs), so the wait may end
  // as soon as those decide or expire (admission counts it, node/jobs.h).
  bool held_by_reservations = false;
  bool operator==(const JobMessage&) const = default;
};

// Node-to-node job messages of one turn to one peer, in the order they were
// sent: one envelope (one encryption, one ZMQ message) instead of one each.
// Holds 1..kJobBatchMessagesMax messages; the decoder refuses any other count.
struct JobBatch {
  std::vector<JobMessage> messages;
  bool operator==(const JobBatch&) const = default;
};
inline constexpr std::size_t kJobBatchMessagesMax = 256;

using Payload = std::variant<Ping, Pong, InfoRequest, NodeInfo, SignedRecord, ErrorReply, GossipPayload,
                             ConsensusPayload, NodesRequest, MemberList, JobMessage, JobBatch, UnknownPayload>;

struct Envelope {
  std::uint16_t version = kProtocolVersion;
  NodeId sender;
  std::uint64_t message_id = 0;
  std::int64_t timestamp_us = 0;
  Payload payload;
};

}  // namespace polder
