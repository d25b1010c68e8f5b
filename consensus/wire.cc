#include "consensus/wire.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>
#include <kj/io.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <exception>
#include <string>
#include <type_traits>

#include "consensus/consensus.capnp.h"
#include "consensus/records.h"

namespace polder::consensus {
namespace {

// First segment sized for the largest ordinary message, so encoding a
// message allocates once.
constexpr unsigned kFirstSegmentWords = 128;

capnp::Data::Reader as_data(std::span<const std::uint8_t> bytes) {
  return capnp::Data::Reader(bytes.data(), bytes.size());
}

template <typename Id>
Result<Id> read_id(capnp::Data::Reader data, const char* field) {
  auto id = Id::from_bytes(std::span<const std::uint8_t>(data.begin(), data.size()));
  if (!id) return invalid_argument(std::string(field) + ": " + id.status().message());
  return *id;
}

// ---- builders ---------------------------------------------------------------

void build_ballot(wire::Ballot::Builder b, const Ballot& ballot) {
  b.setRound(ballot.round);
  b.setNode(as_data(ballot.node.span()));
}

void build_key(wire::InstanceKey::Builder b, const InstanceKey& key) {
  b.setJob(as_data(key.job.span()));
  b.setAttempt(key.attempt.value);
}

void build_nodes(capnp::List<capnp::Data>::Builder list, const ReplicaSet& nodes) {
  for (unsigned i = 0; i < nodes.size(); ++i) list.set(i, as_data(nodes[i].span()));
}

void build_spec(wire::InstanceSpec::Builder b, const InstanceSpec& spec) {
  build_key(b.initKey(), spec.key);
  build_nodes(b.initReplicas(static_cast<unsigned>(spec.replicas.size())), spec.replicas);
  b.setOrigin(as_data(spec.origin.span()));
}

void build_value(wire::Value::Builder b, const Value& value) {
  if (value.is_run()) {
    auto run = b.initRun();
    run.setExecutor(as_data(value.executor.span()));
    run.setReservation(value.reservation);
  } else {
    b.setCancel();
  }
  if (value.names_next_replicas()) {
    build_nodes(b.initNextReplicas(static_cast<unsigned>(value.next_replicas.size())), value.next_replicas);
  }
}

void build_body(wire::Message::Body::Builder b, const Prepare& m) {
  auto p = b.initPrepare();
  build_spec(p.initSpec(), m.spec);
  build_ballot(p.initBallot(), m.ballot);
}
void build_body(wire::Message::Body::Builder b, const Promise& m) {
  auto p = b.initPromise();
  build_key(p.initKey(), m.key);
  build_ballot(p.initBallot(), m.ballot);
  p.setHasAccepted(m.accepted_ballot.has_value());
  if (m.accepted_ballot) {
    build_ballot(p.initAcceptedBallot(), *m.accepted_ballot);
    build_value(p.initAcceptedValue(), *m.accepted_value);
  }
}
void build_body(wire::Message::Body::Builder b, const Accept& m) {
  auto p = b.initAccept();
  build_spec(p.initSpec(), m.spec);
  build_ballot(p.initBallot(), m.ballot);
  build_value(p.initValue(), m.value);
}
void build_body(wire::Message::Body::Builder b, const Accepted& m) {
  auto p = b.initAccepted();
  build_key(p.initKey(), m.key);
  build_ballot(p.initBallot(), m.ballot);
}
void build_body(wire::Message::Body::Builder b, const Reject& m) {
  auto p = b.initReject();
  build_key(p.initKey(), m.key);
  build_ballot(p.initBallot(), m.ballot);
  build_ballot(p.initPromised(), m.promised);
}
void build_body(wire::Message::Body::Builder b, const Chosen& m) {
  auto p = b.initChosen();
  build_spec(p.initSpec(), m.spec);
  build_value(p.initValue(), m.value);
}
void build_body(wire::Message::Body::Builder b, const ChosenAck& m) { build_key(b.initChosenAck().initKey(), m.key); }
void build_body(wire::Message::Body::Builder b, const Query& m) { build_spec(b.initQuery().initSpec(), m.spec); }

// Serialises straight into the returned vector: one allocation per message.
Bytes finish(capnp::MessageBuilder& message) {
  Bytes out(capnp::computeSerializedSizeInWords(message) * sizeof(capnp::word));
  kj::ArrayOutputStream stream(kj::arrayPtr(reinterpret_cast<kj::byte*>(out.data()), out.size()));
  capnp::writeMessage(stream, message);
  assert(stream.getArray().size() == out.size());
  return out;
}

// A builder whose first segment lives on the caller's stack (zeroed, as
// Cap'n Proto requires), so small messages never touch the heap to build.
struct StackBuilder {
  capnp::word scratch[kFirstSegmentWords];
  capnp::MallocMessageBuilder builder;
  StackBuilder() : builder((std::memset(scratch, 0, sizeof scratch), kj::arrayPtr(scratch, kFirstSegmentWords))) {}
};

// ---- readers (every field read once; every id and set validated) -----------

Result<Ballot> read_ballot(wire::Ballot::Reader b, const char* what) {
  auto node = read_id<NodeId>(b.getNode(), what);
  if (!node) return node.status();
  return Ballot{b.getRound(), *node};
}

Result<InstanceKey> read_key(wire::InstanceKey::Reader b) {
  auto job = read_id<JobId>(b.getJob(), "instance job");
  if (!job) return job.status();
  return InstanceKey{*job, Attempt{b.getAttempt()}};
}

Result<ReplicaSet> read_nodes(capnp::List<capnp::Data>::Reader list, const char* what) {
  if (list.size() > kReplicasMax) {
    return invalid_argument(std::string(what) + " lists " + std::to_string(list.size()) + " nodes, at most " +
                            std::to_string(kReplicasMax) + " allowed");
  }
  ReplicaSet out;
  out.reserve(list.size());
  for (auto d : list) {
    auto id = read_id<NodeId>(d, what);
    if (!id) return id.status();
    out.push_back(*id);
  }
  POLDER_RETURN_IF_ERROR(validate_replica_set(out));
  return out;
}

Result<InstanceSpec> read_spec(wire::InstanceSpec::Reader b) {
  InstanceSpec spec;
  auto key = read_key(b.getKey());
  if (!key) return key.status();
  spec.key = *key;
  auto replicas = read_nodes(b.getReplicas(), "replica set");
  if (!replicas) return replicas.status();
  spec.replicas = std::move(replicas).value();
  auto origin = read_id<NodeId>(b.getOrigin(), "instance origin");
  if (!origin) return origin.status();
  spec.origin = *origin;
  POLDER_RETURN_IF_ERROR(validate_instance_spec(spec));
  return spec;
}

Result<Value> read_value(wire::Value::Reader b) {
  ReplicaSet next;
  if (b.hasNextReplicas() && b.getNextReplicas().size() > 0) {  // an empty list names none
    auto list = read_nodes(b.getNextReplicas(), "next replica set");
    if (!list) return list.status();
    next = std::move(list).value();
  }
  Result<Value> value = invalid_argument("value of an unknown kind");  // a newer peer's kind
  if (b.which() == wire::Value::RUN) {
    auto run = b.getRun();
    auto executor = read_id<NodeId>(run.getExecutor(), "run executor");
    if (!executor) return executor.status();
    value = Value::run(*executor, run.getReservation(), std::move(next));
  } else if (b.which() == wire::Value::CANCEL) {
    value = Value::cancel(std::move(next));
  }
  if (value) POLDER_RETURN_IF_ERROR(validate_value(*value));
  return value;
}

Result<Message> read_prepare(wire::Prepare::Reader p) {
  auto spec = read_spec(p.getSpec());
  if (!spec) return spec.status();
  auto ballot = read_ballot(p.getBallot(), "prepare ballot");
  if (!ballot) return ballot.status();
  return Message(Prepare{std::move(spec).value(), *ballot});
}

Result<Message> read_promise(wire::Promise::Reader p) {
  Promise out;
  auto key = read_key(p.getKey());
  if (!key) return key.status();
  out.key = *key;
  auto ballot = read_ballot(p.getBallot(), "promise ballot");
  if (!ballot) return ballot.status();
  out.ballot = *ballot;
  if (p.getHasAccepted()) {
    auto accepted = read_ballot(p.getAcceptedBallot(), "promise accepted ballot");
    if (!accepted) return accepted.status();
    auto value = read_value(p.getAcceptedValue());
    if (!value) return value.status();
    if (!(*accepted < out.ballot)) return invalid_argument("promise reports an accepted ballot not below its own");
    out.accepted_ballot = *accepted;
    out.accepted_value = std::move(value).value();
  }
  return Message(std::move(out));
}

Result<Message> read_accept(wire::Accept::Reader p) {
  auto spec = read_spec(p.getSpec());
  if (!spec) return spec.status();
  auto ballot = read_ballot(p.getBallot(), "accept ballot");
  if (!ballot) return ballot.status();
  auto value = read_value(p.getValue());
  if (!value) return value.status();
  return Message(Accept{std::move(spec).value(), *ballot, std::move(value).value()});
}

Result<Message> read_key_ballot_message(wire::Accepted::Reader p) {
  auto key = read_key(p.getKey());
  if (!key) return key.status();
  auto ballot = read_ballot(p.getBallot(), "accepted ballot");
  if (!ballot) return ballot.status();
  return Message(Accepted{*key, *ballot});
}

Result<Message> read_reject(wire::Reject::Reader p) {
  auto key = read_key(p.getKey());
  if (!key) return key.status();
  auto ballot = read_ballot(p.getBallot(), "reject ballot");
  if (!ballot) return ballot.status();
  auto promised = read_ballot(p.getPromised(), "reject promised");
  if (!promised) return promised.status();
  if (!(*ballot < *promised)) return invalid_argument("reject names a promised ballot not above the refused one");
  return Message(Reject{*key, *ballot, *promised});
}

Result<Message> read_chosen(wire::Chosen::Reader p) {
  auto spec = read_spec(p.getSpec());
  if (!spec) return spec.status();
  auto value = read_value(p.getValue());
  if (!value) return value.status();
  return Message(Chosen{std::move(spec).value(), std::move(value).value()});
}

Result<Message> read_body(wire::Message::Reader m) {
  if (m.getVersion() != wire::CONSENSUS_VERSION) {
    return invalid_argument("consensus message version " + std::to_string(m.getVersion()) + ", expected " +
                            std::to_string(wire::CONSENSUS_VERSION));
  }
  auto body = m.getBody();
  switch (body.which()) {
    case wire::Message::Body::PREPARE: return read_prepare(body.getPrepare());
    case wire::Message::Body::PROMISE: return read_promise(body.getPromise());
    case wire::Message::Body::ACCEPT: return read_accept(body.getAccept());
    case wire::Message::Body::ACCEPTED: return read_key_ballot_message(body.getAccepted());
    case wire::Message::Body::REJECT: return read_reject(body.getReject());
    case wire::Message::Body::CHOSEN: return read_chosen(body.getChosen());
    case wire::Message::Body::CHOSEN_ACK: {
      auto key = read_key(body.getChosenAck().getKey());
      if (!key) return key.status();
      return Message(ChosenAck{*key});
    }
    case wire::Message::Body::QUERY: {
      auto spec = read_spec(body.getQuery().getSpec());
      if (!spec) return spec.status();
      return Message(Query{std::move(spec).value()});
    }
    case wire::Message::Body::BATCH: return invalid_argument("consensus batch inside a batch");
  }
  return invalid_argument("consensus message of an unknown kind");  // a newer peer's message
}

// Runs `read(root)` over `bytes` as a Cap'n Proto message of type Root,
// enforcing the limits and turning every exception into a Status.
template <typename Root, typename T, typename Read>
Result<T> read_message(std::span<const std::uint8_t> bytes, const WireLimits& limits, const char* what, Read read) {
  if (bytes.size() > limits.max_message_bytes) {
    return resource_exhausted(std::string(what) + " of " + std::to_string(bytes.size()) +
                              " bytes exceeds the limit of " + std::to_string(limits.max_message_bytes));
  }
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
    return invalid_argument(std::string(what) + " is truncated or not word-aligned (" + std::to_string(bytes.size()) +
                            " bytes)");
  }
  // Copy into word-aligned memory: a transport's buffers carry no alignment.
  constexpr std::size_t kStackWords = 256;
  capnp::word stack[kStackWords];
  kj::Array<capnp::word> heap;
  const std::size_t word_count = bytes.size() / sizeof(capnp::word);
  capnp::word* words = stack;
  if (word_count > kStackWords) {
    heap = kj::heapArray<capnp::word>(word_count);
    words = heap.begin();
  }
  std::memcpy(words, bytes.data(), bytes.size());
  capnp::ReaderOptions options;
  options.nestingLimit = limits.nesting_limit;
  options.traversalLimitInWords = limits.traversal_limit_words != 0 ? limits.traversal_limit_words : 2 * word_count + 64;
  try {
    kj::ArrayPtr<const capnp::word> view(words, word_count);
    capnp::FlatArrayMessageReader reader(view, options);
    if (reader.getEnd() != view.end()) return invalid_argument(std::string(what) + " has trailing bytes");
    return read(reader.getRoot<Root>());
  } catch (const kj::Exception& e) {
    return invalid_argument(std::string("malformed ") + what + ": " + e.getDescription().cStr());
  } catch (const std::exception& e) {
    return invalid_argument(std::string("malformed ") + what + ": " + e.what());
  }
}

template <typename T>
Result<T> as_data_loss(Result<T> r) {
  if (r) return r;
  return data_loss("corrupt consensus record: " + r.status().message());
}

}  // namespace

const InstanceKey& message_key(const Message& message) {
  return std::visit(
      [](const auto& m) -> const InstanceKey& {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, Prepare> || std::is_same_v<M, Accept> || std::is_same_v<M, Chosen> ||
                      std::is_same_v<M, Query>) {
          return m.spec.key;
        } else {
          return m.key;
        }
      },
      message);
}

const char* message_name(const Message& message) {
  static constexpr const char* kNames[] = {"prepare", "promise", "accept", "accepted",
                                           "reject",  "chosen",  "chosen_ack", "query"};
  return kNames[message.index()];
}

Bytes encode_message(const Message& message) {
  StackBuilder stack;
  auto root = stack.builder.initRoot<wire::Message>();
  root.setVersion(wire::CONSENSUS_VERSION);
  std::visit([&](const auto& m) { build_body(root.initBody(), m); }, message);
  return finish(stack.builder);
}

Result<Message> decode_message(std::span<const std::uint8_t> bytes, const WireLimits& limits) {
  return read_message<wire::Message, Message>(bytes, limits, "consensus message", read_body);
}

Bytes encode_batch(std::span<const Bytes> messages) {
  assert(messages.size() <= kBatchMessagesMax && "batch within kBatchMessagesMax");
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<wire::Message>();
  root.setVersion(wire::CONSENSUS_VERSION);
  auto list = root.initBody().initBatch(static_cast<unsigned>(messages.size()));
  for (unsigned i = 0; i < messages.size(); ++i) {
    list.set(i, capnp::Data::Reader(messages[i].data(), messages[i].size()));
  }
  Bytes out = finish(builder);
  assert(out.size() <= kBatchBytesMax && "batch within kBatchBytesMax");
  return out;
}

Result<std::vector<Result<Message>>> decode_messages(std::span<const std::uint8_t> bytes, const WireLimits& limits) {
  using Decoded = std::vector<Result<Message>>;
  // Only a batch may exceed the single-message limit.
  WireLimits outer = limits;
  outer.max_message_bytes = std::max(limits.max_message_bytes, kBatchBytesMax);
  const bool oversized_for_one = bytes.size() > limits.max_message_bytes;
  return read_message<wire::Message, Decoded>(
      bytes, outer, "consensus message", [&](wire::Message::Reader m) -> Result<Decoded> {
        Decoded out;
        if (m.getVersion() != wire::CONSENSUS_VERSION || m.getBody().which() != wire::Message::Body::BATCH) {
          if (oversized_for_one) {
            return resource_exhausted("consensus message of " + std::to_string(bytes.size()) +
                                      " bytes exceeds the limit of " + std::to_string(limits.max_message_bytes));
          }
          auto one = read_body(m);
          if (!one) return one.status();
          out.push_back(std::move(one));
          return out;
        }
        auto list = m.getBody().getBatch();
        if (list.size() > kBatchMessagesMax) {
          return resource_exhausted("consensus batch of " + std::to_string(list.size()) +
                                    " messages exceeds the limit of " + std::to_string(kBatchMessagesMax));
        }
        out.reserve(list.size());
        for (auto inner : list) {
          out.push_back(decode_message(std::span<const std::uint8_t>(inner.begin(), inner.size()), limits));
        }
        return out;
      });
}

// ---- records ----------------------------------------------------------------

Bytes encode_record(const AcceptorRecord& r) {
  capnp::MallocMessageBuilder builder(kFirstSegmentWords);
  auto b = builder.initRoot<wire::AcceptorRecord>();
  build_spec(b.initSpec(), r.spec);
  b.setHasPromised(r.promised.has_value());
  if (r.promised) build_ballot(b.initPromised(), *r.promised);
  b.setHasAccepted(r.accepted_ballot.has_value());
  if (r.accepted_ballot) {
    build_ballot(b.initAcceptedBallot(), *r.accepted_ballot);
    build_value(b.initAcceptedValue(), *r.accepted_value);
  }
  return finish(builder);
}

Bytes encode_record(const ProposerRecord& r) {
  capnp::MallocMessageBuilder builder(kFirstSegmentWords);
  auto b = builder.initRoot<wire::ProposerRecord>();
  build_spec(b.initSpec(), r.spec);
  b.setRoundMax(r.round_max);
  b.setFastUsed(r.fast_value.has_value());
  if (r.fast_value) build_value(b.initFastValue(), *r.fast_value);
  return finish(builder);
}

Bytes encode_record(const DecisionRecord& r) {
  capnp::MallocMessageBuilder builder(kFirstSegmentWords);
  auto b = builder.initRoot<wire::DecisionRecord>();
  build_spec(b.initSpec(), r.spec);
  build_value(b.initValue(), r.value);
  return finish(builder);
}

Result<AcceptorRecord> decode_acceptor_record(std::span<const std::uint8_t> bytes) {
  return as_data_loss(read_message<wire::AcceptorRecord, AcceptorRecord>(
      bytes, WireLimits{}, "acceptor record", [](wire::AcceptorRecord::Reader b) -> Result<AcceptorRecord> {
        AcceptorRecord r;
        auto spec = read_spec(b.getSpec());
        if (!spec) return spec.status();
        r.spec = std::move(spec).value();
        if (b.getHasPromised()) {
          auto promised = read_ballot(b.getPromised(), "promised");
          if (!promised) return promised.status();
          r.promised = *promised;
        }
        if (b.getHasAccepted()) {
          auto ballot = read_ballot(b.getAcceptedBallot(), "accepted ballot");
          if (!ballot) return ballot.status();
          auto value = read_value(b.getAcceptedValue());
          if (!value) return value.status();
          r.accepted_ballot = *ballot;
          r.accepted_value = std::move(value).value();
          if (!r.promised || *r.promised < *r.accepted_ballot) {
            return invalid_argument("accepted ballot above the promised one");
          }
        }
        return r;
      }));
}

Result<ProposerRecord> decode_proposer_record(std::span<const std::uint8_t> bytes) {
  return as_data_loss(read_message<wire::ProposerRecord, ProposerRecord>(
      bytes, WireLimits{}, "proposer record", [](wire::ProposerRecord::Reader b) -> Result<ProposerRecord> {
        ProposerRecord r;
        auto spec = read_spec(b.getSpec());
        if (!spec) return spec.status();
        r.spec = std::move(spec).value();
        r.round_max = b.getRoundMax();
        if (b.getFastUsed()) {
          auto value = read_value(b.getFastValue());
          if (!value) return value.status();
          r.fast_value = std::move(value).value();
        }
        return r;
      }));
}

Result<DecisionRecord> decode_decision_record(std::span<const std::uint8_t> bytes) {
  return as_data_loss(read_message<wire::DecisionRecord, DecisionRecord>(
      bytes, WireLimits{}, "decision record", [](wire::DecisionRecord::Reader b) -> Result<DecisionRecord> {
        DecisionRecord r;
        auto spec = read_spec(b.getSpec());
        if (!spec) return spec.status();
        r.spec = std::move(spec).value();
        auto value = read_value(b.getValue());
        if (!value) return value.status();
        r.value = std::move(value).value();
        return r;
      }));
}

}  // namespace polder::consensus
