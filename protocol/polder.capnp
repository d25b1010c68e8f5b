# Polder wire protocol and on-disk records.
#
# Compatibility rules (protocol/README in docs/protocol.md):
# - fields and union members are only ever added, with the next ordinal;
# - a node that receives a payload union member it does not know ignores the
#   message and counts it (Decoder::counters().unknown_payloads);
# - `version` is bumped only for changes old nodes cannot ignore safely.
@0x990405fed0c8ea4c;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("polder::wire");

const protocolVersion :UInt16 = 1;

# Every message between nodes, and between the CLI and a node.
struct Envelope {
  version @0 :UInt16;
  sender @1 :Data;        # 32-byte Ed25519 public key of the sender
  messageId @2 :UInt64;   # random nonce, unique per sender; replies echo it
  timestampUs @3 :Int64;  # sender's wall clock, microseconds since the Unix epoch
  payload :union {
    ping @4 :Ping;
    pong @5 :Pong;
    infoRequest @6 :Void;
    infoReply @7 :NodeInfo;
    record @8 :SignedRecord;
    error @9 :ErrorReply;
    # Core traffic, opaque to the envelope: gossip/ and consensus/ own their
    # schemas (gossip/gossip.capnp, consensus/consensus.capnp) and decode
    # these bytes themselves with the same limits.
    gossip @10 :Data;
    consensus @11 :Data;
    nodesRequest @12 :Void;
    nodesReply @13 :MemberList;
    # Jobs: client requests and replies (submit, status, logs, cancel,
    # list) and the node-to-node job protocol (replicate, reserve, update,
    # query, logs, cancel). `kind` says which; see JobMessageKind in
    # protocol/messages.h.
    job @14 :JobMessage;
    # Node-to-node job messages of one event-loop turn to one peer, in the
    # order they were sent (one envelope, one encryption, instead of one
    # each). 1..kJobBatchMessagesMax messages; never on the client channel.
    jobBatch @15 :List(JobMessage);
  }
}

# What `polder nodes` prints: the membership as one node sees it.
struct MemberList {
  members @0 :List(MemberEntry);
  truncated @1 :Bool;     # more members than fit in one reply
}

struct MemberEntry {
  nodeId @0 :Data;
  state @1 :Text;         # alive, suspect, dead, left
  incarnation @2 :UInt64;
  hasRecord @3 :Bool;
  record @4 :NodeRecord;  # verified by the answering node; valid when hasRecord
  rttMs @5 :Float64;      # estimated from the answering node; negative: unknown
  isSelf @6 :Bool;
  coordinate @7 :List(Float32);  # Vivaldi vector (ms) as the answering node knows it; empty: unknown
  heightMs @8 :Float32;
}

struct Ping {
  token @0 :UInt64;
}

struct Pong {
  token @0 :UInt64;
}

# What `polder info` prints.
struct NodeInfo {
  nodeId @0 :Data;
  name @1 :Text;
  version @2 :Text;
  uptimeMs @3 :UInt64;
  protocolVersion @4 :UInt16;
  peersKnown @5 :UInt32;
  region @6 :Text;
  operator @7 :Text;
}

struct ErrorReply {
  code @0 :UInt16;   # polder::StatusCode
  message @1 :Text;
}

# A record that speaks for its author: nobody can speak for another node.
# signature = Ed25519(author, "polder-record-v1" || author || kind (LE16) || body)
struct SignedRecord {
  author @0 :Data;      # 32-byte Ed25519 public key
  kind @1 :UInt16;      # RecordKind: 1 = NodeRecord, 2 = JobSpec, 3 = Revocation, 4 = Invitation, 5 = Admission
  body @2 :Data;        # a Cap'n Proto message of that kind
  signature @3 :Data;   # 64 bytes
}

# "This key is no longer a member" (issue 8): the body of a SignedRecord of
# kind 3, signed by a founder of the federation or by the revoked key itself.
struct Revocation {
  revoked @0 :Data;      # 32-byte key (node or CLI)
  issuedAtUs @1 :Int64;  # wall-clock µs at signing
  reason @2 :Text;       # for operators; at most 256 bytes
}

# "This key may join the federation" (issue 8): the body of a SignedRecord
# of kind 4, signed by a member node (its inviter). Every member checks it
# before admitting the key (node/invitations.h). Kind 5 (an admission) is a
# SignedRecord whose body is an encoded kind-4 SignedRecord: its author, a
# member, attests that the invitee joined before the invitation expired.
struct Invitation {
  invitee @0 :Data;          # 32-byte key of the new node
  operator @1 :Text;         # the operator the new node belongs to (its records must say so)
  issuedAtUs @2 :Int64;
  expiresAtUs @3 :Int64;     # unused after this, it admits no one
  inviterAddress @4 :Text;   # where the invitee dials its inviter (the record's author)
  members @5 :List(Data);    # the inviter's founding members, so the invitee admits them
  founders @6 :List(Data);   # the inviter's [federation] founders
  replaces @7 :Data;         # key rotation: the key this one replaces (= the signer); empty otherwise
}

# A node's capacity and whereabouts, gossiped signed by the node itself.
struct NodeRecord {
  nodeId @0 :Data;
  incarnation @1 :UInt64;
  sequence @2 :UInt64;       # newer wins
  name @3 :Text;
  operator @4 :Text;
  region @5 :Text;
  address @6 :Text;          # peer endpoint, tcp://host:port
  accelerators @7 :List(Accelerator);
  cpus @8 :UInt32;
  memoryBytes @9 :UInt64;
  queueLength @10 :UInt32;
  expectedWaitMs @11 :UInt64;
  datasets @12 :List(Dataset);
  links @13 :List(LinkMetric);  # bandwidth this node measured to peers
}

# Bandwidth measured by the record's node on real transfers to one peer
# (an EWMA); peers without a measurement are absent.
struct LinkMetric {
  peer @0 :Data;            # node id, 32 bytes
  bandwidthBps @1 :UInt64;
}

struct Accelerator {
  type @0 :Text;
  total @1 :UInt32;
  free @2 :UInt32;
}

struct Dataset {
  name @0 :Text;
  sizeBytes @1 :UInt64;
}

# What a submitter asks for. Its identity is the hash of the signed spec.
struct JobSpec {
  name @0 :Text;
  command @1 :Text;
  args @2 :List(Text);
  env @3 :List(KeyValue);
  files @4 :List(Text);
  resources @5 :Resources;
  inputs @6 :List(DataInput);
  maxRunTimeS @7 :UInt64;
  maxRetries @8 :UInt32;
  priority @9 :Int32;
  submitter @10 :Data;       # the submitter's Ed25519 key
  constraints @11 :Constraints;
  labels @12 :List(KeyValue);
  submittedAtUs @13 :Int64;
  nonce @14 :UInt64;         # makes two identical submissions two jobs
}

struct KeyValue {
  key @0 :Text;
  value @1 :Text;
}

struct Resources {
  gpus @0 :UInt32;
  gpuType @1 :Text;       # empty: any type
  cpus @2 :UInt32;
  memoryBytes @3 :UInt64;
}

struct DataInput {
  dataset @0 :Text;
  site @1 :Text;          # node name or region that holds it
  sizeBytes @2 :UInt64;
}

struct Constraints {
  allowedRegions @0 :List(Text);
  deniedRegions @1 :List(Text);
  allowedOperators @2 :List(Text);
  deniedOperators @3 :List(Text);
}

# One message of the job protocol. A flat struct: `kind` says which fields
# matter (protocol/messages.h documents each kind).
struct JobMessage {
  kind @0 :UInt16;
  requestId @1 :UInt64;       # a reply echoes its request's id
  jobId @2 :Data;             # 32 bytes, or empty
  attempt @3 :UInt32;
  hasSpec @4 :Bool;
  spec @5 :JobSpec;
  origin @6 :Data;            # the node the job was submitted to
  replicas @7 :List(Data);    # the job's replica set (consensus voters)
  reservation @8 :UInt64;
  granted @9 :Bool;
  gpuSlots @10 :Text;         # "0,1": what CUDA_VISIBLE_DEVICES becomes
  jobs @11 :List(JobView);
  data @12 :Data;             # log bytes
  offset @13 :UInt64;         # log offset of `data`
  done @14 :Bool;             # no more log bytes will come
  message @15 :Text;          # why (a refusal, an error)
  stateFilter @16 :Text;
  nodeFilter @17 :Text;
  truncated @18 :Bool;
  # A work offer (kind 32): what the sending node has free now.
  freeAccelerators @19 :List(Accelerator);  # free of total, per type; at most 64
  freeCpus @20 :UInt32;
  freeMemoryBytes @21 :UInt64;
  # A refused reservation (kReserveReply): the request would fit if the
  # executor's reservations still awaiting their decision were gone.
  heldByReservations @22 :Bool;
}

# A job as one node knows it (`polder status`, `polder list`).
struct JobView {
  jobId @0 :Data;
  name @1 :Text;
  state @2 :Text;             # queued, placed, running, finished, failed, cancelled
  attempt @3 :UInt32;
  executor @4 :Data;          # empty: not placed
  executorName @5 :Text;
  origin @6 :Data;
  exitCode @7 :Int32;
  submittedAtUs @8 :Int64;
  startedAtUs @9 :Int64;
  finishedAtUs @10 :Int64;
  message @11 :Text;          # the last thing that happened, in words
  gpuSlots @12 :Text;
  updatedAtUs @13 :Int64;
  command @14 :Text;
  failures @15 :UInt32;       # failed attempts so far (retry policy)
  submitter @16 :Data;        # the submitting client key (empty: unknown); client reads are checked against it
  leaseGranted @17 :Bool;     # kHeartbeatAck only: the holder grants the executor's lease
}
