# Test-only: the wire protocol as a *newer* Polder might speak it, with a
# payload union member this build does not know.
@0xc1af8955d49158fb;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("polder::future");

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
    gossip @10 :Data;
    consensus @11 :Data;
    nodesRequest @12 :Void;
    nodesReply @13 :Data;
    job @14 :Data;
    jobBatch @15 :Data;
    futureThing @16 :FutureThing;
  }
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
  kind @1 :UInt16;      # RecordKind: 1 = NodeRecord, 2 = JobSpec
  body @2 :Data;        # a Cap'n Proto message of that kind
  signature @3 :Data;   # 64 bytes
}

struct FutureThing {
  answer @0 :UInt64;
}
