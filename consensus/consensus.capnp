# Polder consensus: the messages of single-decree Paxos per (job, attempt)
# and the acceptor's durable records. Carried opaquely in the envelope's
# `consensus @11 :Data` (protocol/polder.capnp); decoded only by
# consensus/wire.cc, with limits.
#
# Compatibility: fields and union members are only ever added, with the next
# ordinal; `version` is bumped only for changes old nodes cannot ignore.
@0x94f63cfb96fa0bb0;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("polder::consensus::wire");

const consensusVersion :UInt16 = 1;

# Ballots are totally ordered by (round, node). Round 0 belongs to the job's
# origin (the fast path); every other proposer uses round >= 1.
struct Ballot {
  round @0 :UInt64;
  node @1 :Data;          # 32-byte NodeId of the proposer
}

struct InstanceKey {
  job @0 :Data;           # 32-byte JobId
  attempt @1 :UInt32;
}

# Everything an acceptor needs to know about an instance it has never seen.
# Fixed for the life of the instance.
struct InstanceSpec {
  key @0 :InstanceKey;
  replicas @1 :List(Data);  # sorted, distinct NodeIds
  origin @2 :Data;          # owner of ballot 0
}

struct Value {
  union {
    run @0 :Run;            # "node N runs (j, a) under reservation R"
    cancel @1 :Void;        # "job j cancelled"
  }
  nextReplicas @2 :List(Data);  # replica set of attempt a+1; empty: none named
}

struct Run {
  executor @0 :Data;
  reservation @1 :UInt64;
}

struct Message {
  version @0 :UInt16;
  body :union {
    prepare @1 :Prepare;      # phase 1a
    promise @2 :Promise;      # phase 1b
    accept @3 :Accept;        # phase 2a
    accepted @4 :Accepted;    # phase 2b
    reject @5 :Reject;        # the acceptor promised a higher ballot
    chosen @6 :Chosen;        # the learners' announcement
    chosenAck @7 :ChosenAck;  # the executor heard it
    query @8 :Query;          # "what is chosen for (j, a)?"
    batch @9 :List(Data);     # several encoded Messages (none a batch) for one peer, in order
  }
}

struct Prepare {
  spec @0 :InstanceSpec;
  ballot @1 :Ballot;
}

struct Promise {
  key @0 :InstanceKey;
  ballot @1 :Ballot;
  hasAccepted @2 :Bool;
  acceptedBallot @3 :Ballot;
  acceptedValue @4 :Value;
}

struct Accept {
  spec @0 :InstanceSpec;
  ballot @1 :Ballot;
  value @2 :Value;
}

struct Accepted {
  key @0 :InstanceKey;
  ballot @1 :Ballot;
}

struct Reject {
  key @0 :InstanceKey;
  ballot @1 :Ballot;      # the ballot refused
  promised @2 :Ballot;    # the higher ballot the acceptor promised
}

struct Chosen {
  spec @0 :InstanceSpec;
  value @1 :Value;
}

struct ChosenAck {
  key @0 :InstanceKey;
}

struct Query {
  spec @0 :InstanceSpec;
}

# ---- Durable records, Column::kAcceptor (see consensus/records.h) ----------

struct AcceptorRecord {
  spec @0 :InstanceSpec;
  hasPromised @1 :Bool;
  promised @2 :Ballot;
  hasAccepted @3 :Bool;
  acceptedBallot @4 :Ballot;
  acceptedValue @5 :Value;
}

struct ProposerRecord {
  spec @0 :InstanceSpec;
  roundMax @1 :UInt64;      # highest round this node has used; never reused
  fastUsed @2 :Bool;        # ballot 0 was used, with fastValue
  fastValue @3 :Value;
}

struct DecisionRecord {
  spec @0 :InstanceSpec;
  value @1 :Value;
}
