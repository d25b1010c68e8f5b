# Wire format of the gossip core (SWIM + Lifeguard + anti-entropy + Vivaldi).
#
# Carried opaquely in the envelope's `gossip @10 :Data`. Owned by gossip/:
# decoded only by gossip/codec.cc, which reads every field once into plain
# values (gossip/wire.h) under reader limits. Compatibility rules are those of
# protocol/polder.capnp: fields and union members are only ever added.
@0x9d2de30411da66d3;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("polder::gossip::wire");

# A Vivaldi network coordinate (Dabek et al., SIGCOMM 2004, with height).
# Units: milliseconds.
struct Coordinate {
  vec @0 :List(Float32);
  height @1 :Float32;
  error @2 :Float32;
}

# One membership update, piggybacked on any message (SWIM section 4.1).
struct Update {
  kind @0 :UInt8;          # 1 alive, 2 suspect, 3 dead, 4 left
  node @1 :Data;           # 32-byte id of the member the update is about
  incarnation @2 :UInt64;
  accuser @3 :UInt64;      # suspect/dead: first 8 bytes of the accuser's id
  record @4 :Data;         # alive: the member's signed record, or empty
}

struct Ping {
  seq @0 :UInt32;
  coordinate @1 :Coordinate;  # the sender's, so the target learns it
}

struct Ack {
  seq @0 :UInt32;
  coordinate @1 :Coordinate;  # the responder's; absent when relayed
}

struct PingReq {
  seq @0 :UInt32;
  target @1 :Data;
}

struct Nack {
  seq @0 :UInt32;
}

# Anti-entropy page (push-pull): the sender's view of members whose id
# prefix lies in [lo, hi], as pairs (prefix, version) flattened in `entries`.
struct Digest {
  lo @0 :UInt64;
  hi @1 :UInt64;
  entries @2 :List(UInt64);
}

# Answer to a Digest: the answerer's differing/missing entries travel as
# `updates` of the enclosing Message; `wants` lists prefixes it needs.
struct DigestReply {
  wants @0 :List(UInt64);
  hi @1 :UInt64;         # the page's upper bound, echoed
  truncated @2 :Bool;    # the answer stopped at `resume` (byte budget)
  resume @3 :UInt64;     # ask again from here: a Digest [resume, hi]
}

struct Message {
  updates @0 :List(Update);
  body :union {
    gossip @1 :Void;
    ping @2 :Ping;
    ack @3 :Ack;
    pingReq @4 :PingReq;
    nack @5 :Nack;
    digest @6 :Digest;
    digestReply @7 :DigestReply;
    sync @8 :Void;   # anti-entropy answer: updates are applied, not re-gossiped
  }
}
