#include "gossip/codec.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <exception>
#include <string>

#include "gossip/gossip.capnp.h"

// GCC 12 reports a false maybe-uninitialized when a Message (a variant of
// vectors) moves into Result<Message>; the value is fully built first.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace polder::gossip {
namespace {

constexpr std::size_t kScratchWords = 8 * 1024;  // 64 KiB: one segment fits a full message

capnp::Data::Reader as_data(std::span<const std::uint8_t> bytes) {
  return capnp::Data::Reader(bytes.data(), bytes.size());
}

std::size_t round_up_8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

// ---- encode -----------------------------------------------------------------

void build_coordinate(wire::Coordinate::Builder b, const Coordinate& c) {
  auto vec = b.initVec(static_cast<unsigned>(c.vec.size()));
  for (unsigned i = 0; i < c.vec.size(); ++i) vec.set(i, c.vec[i]);
  b.setHeight(c.height_ms);
  b.setError(c.error);
}

void build_updates(wire::Message::Builder b, const std::vector<Update>& updates) {
  if (updates.empty()) return;
  auto list = b.initUpdates(static_cast<unsigned>(updates.size()));
  for (unsigned i = 0; i < updates.size(); ++i) {
    const Update& u = updates[i];
    auto w = list[i];
    w.setKind(static_cast<std::uint8_t>(u.kind));
    w.setNode(as_data(u.node.span()));
    w.setIncarnation(u.incarnation);
    w.setAccuser(u.accuser);
    if (!u.record.empty()) w.setRecord(as_data(u.record));
  }
}

struct BodyBuilder {
  wire::Message::Body::Builder b;
  void operator()(const GossipOnly&) { b.setGossip(); }
  void operator()(const Ping& p) {
    auto w = b.initPing();
    w.setSeq(p.seq);
    if (p.coordinate) build_coordinate(w.initCoordinate(), *p.coordinate);
  }
  void operator()(const Ack& a) {
    auto w = b.initAck();
    w.setSeq(a.seq);
    if (a.coordinate) build_coordinate(w.initCoordinate(), *a.coordinate);
  }
  void operator()(const PingReq& r) {
    auto w = b.initPingReq();
    w.setSeq(r.seq);
    w.setTarget(as_data(r.target.span()));
  }
  void operator()(const Nack& n) { b.initNack().setSeq(n.seq); }
  void operator()(const Digest& d) {
    auto w = b.initDigest();
    w.setLo(d.lo);
    w.setHi(d.hi);
    auto entries = w.initEntries(static_cast<unsigned>(2 * d.entries.size()));
    for (unsigned i = 0; i < d.entries.size(); ++i) {
      entries.set(2 * i, d.entries[i].first);
      entries.set(2 * i + 1, d.entries[i].second);
    }
  }
  void operator()(const DigestReply& r) {
    auto w = b.initDigestReply();
    auto wants = w.initWants(static_cast<unsigned>(r.wants.size()));
    for (unsigned i = 0; i < r.wants.size(); ++i) wants.set(i, r.wants[i]);
    w.setHi(r.hi);
    w.setTruncated(r.truncated);
    w.setResume(r.resume);
  }
  void operator()(const Sync&) { b.setSync(); }
};

// The standard Cap'n Proto framing (segment table, then segments), written
// straight into the output vector.
Bytes flatten(kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments) {
  const std::size_t table_words = (segments.size() + 2) / 2;
  std::size_t words = table_words;
  for (auto s : segments) words += s.size();
  Bytes out(words * sizeof(capnp::word), 0);
  auto put32 = [&](std::size_t at, std::uint32_t v) { std::memcpy(out.data() + 4 * at, &v, 4); };
  put32(0, static_cast<std::uint32_t>(segments.size() - 1));
  for (std::size_t i = 0; i < segments.size(); ++i) put32(1 + i, static_cast<std::uint32_t>(segments[i].size()));
  std::size_t at = table_words * sizeof(capnp::word);
  for (auto s : segments) {
    std::memcpy(out.data() + at, s.begin(), s.size() * sizeof(capnp::word));
    at += s.size() * sizeof(capnp::word);
  }
  return out;
}

// ---- decode -----------------------------------------------------------------

std::optional<Coordinate> read_coordinate(wire::Coordinate::Reader r) {
  auto vec = r.getVec();
  if (vec.size() != kCoordinateDimensions) return std::nullopt;  // other dimensionality: ignore
  Coordinate c;
  for (unsigned i = 0; i < kCoordinateDimensions; ++i) c.vec[i] = vec[i];
  c.height_ms = r.getHeight();
  c.error = r.getError();
  return c;
}

Result<NodeId> read_id(capnp::Data::Reader data, const char* field) {
  auto id = NodeId::from_bytes(std::span<const std::uint8_t>(data.begin(), data.size()));
  if (!id) return invalid_argument(std::string(field) + ": " + id.status().message());
  return *id;
}

Status read_updates(wire::Message::Reader r, const CodecLimits& limits, std::vector<Update>& out) {
  if (!r.hasUpdates()) return Status::ok();
  auto list = r.getUpdates();
  if (list.size() > limits.updates_max) {
    return resource_exhausted("message carries " + std::to_string(list.size()) + " updates, limit " +
                              std::to_string(limits.updates_max));
  }
  out.reserve(list.size());
  for (auto w : list) {
    Update u;
    const std::uint8_t kind = w.getKind();
    if (kind < 1 || kind > 4) return invalid_argument("update of unknown kind " + std::to_string(kind));
    u.kind = static_cast<UpdateKind>(kind);
    auto id = read_id(w.getNode(), "update node");
    if (!id) return id.status();
    u.node = *id;
    u.incarnation = w.getIncarnation();
    u.accuser = w.getAccuser();
    if (w.hasRecord()) {
      auto record = w.getRecord();
      // Oversized records are not a malformed message: the core drops and
      // counts the record alone. A hard cap still bounds what we copy.
      if (record.size() > limits.message_bytes_max) return resource_exhausted("record larger than a message");
      u.record.assign(record.begin(), record.end());
    }
    out.push_back(std::move(u));
  }
  return Status::ok();
}

Status read_body(wire::Message::Body::Reader r, const CodecLimits& limits, Body& out) {
  switch (r.which()) {
    case wire::Message::Body::GOSSIP:
      out.emplace<GossipOnly>();
      return Status::ok();
    case wire::Message::Body::PING: {
      auto w = r.getPing();
      auto& p = out.emplace<Ping>();
      p.seq = w.getSeq();
      if (w.hasCoordinate()) p.coordinate = read_coordinate(w.getCoordinate());
      return Status::ok();
    }
    case wire::Message::Body::ACK: {
      auto w = r.getAck();
      auto& a = out.emplace<Ack>();
      a.seq = w.getSeq();
      if (w.hasCoordinate()) a.coordinate = read_coordinate(w.getCoordinate());
      return Status::ok();
    }
    case wire::Message::Body::PING_REQ: {
      auto w = r.getPingReq();
      auto target = read_id(w.getTarget(), "pingReq target");
      if (!target) return target.status();
      auto& q = out.emplace<PingReq>();
      q.seq = w.getSeq();
      q.target = *target;
      return Status::ok();
    }
    case wire::Message::Body::NACK:
      out.emplace<Nack>().seq = r.getNack().getSeq();
      return Status::ok();
    case wire::Message::Body::DIGEST: {
      auto w = r.getDigest();
      auto entries = w.getEntries();
      if (entries.size() % 2 != 0) return invalid_argument("digest entries are not (prefix, version) pairs");
      if (entries.size() / 2 > limits.digest_entries_max) return resource_exhausted("digest has too many entries");
      auto& d = out.emplace<Digest>();
      d.lo = w.getLo();
      d.hi = w.getHi();
      d.entries.reserve(entries.size() / 2);
      for (unsigned i = 0; i < entries.size(); i += 2) d.entries.emplace_back(entries[i], entries[i + 1]);
      return Status::ok();
    }
    case wire::Message::Body::DIGEST_REPLY: {
      auto w = r.getDigestReply();
      auto wants = w.getWants();
      if (wants.size() > limits.digest_entries_max) return resource_exhausted("digest reply wants too many entries");
      auto& reply = out.emplace<DigestReply>();
      reply.wants.reserve(wants.size());
      for (auto want : wants) reply.wants.push_back(want);
      reply.hi = w.getHi();
      reply.truncated = w.getTruncated();
      reply.resume = w.getResume();
      return Status::ok();
    }
    case wire::Message::Body::SYNC:
      out.emplace<Sync>();
      return Status::ok();
  }
  return invalid_argument("message of an unknown kind (a newer peer?)");
}

}  // namespace

std::size_t update_wire_size_bytes(const Update& update) {
  // List element: 3 data words + 2 pointers; the id's 32 bytes; the record.
  return 40 + 32 + round_up_8(update.record.size());
}

namespace {

// Scratch memory holds no state between calls: shared by the codecs of a thread.
std::vector<capnp::word>& encode_scratch() {
  thread_local std::vector<capnp::word> scratch(kScratchWords);
  return scratch;
}

std::vector<capnp::word>& decode_scratch() {
  thread_local std::vector<capnp::word> scratch;
  return scratch;
}

}  // namespace

Codec::Codec(CodecLimits limits) : limits_(limits) {}
Codec::~Codec() = default;

Result<Bytes> Codec::encode(const Message& message) {
  // The builder zeroes what it used of the scratch segment on destruction,
  // as Cap'n Proto requires of a reused first segment.
  std::vector<capnp::word>& scratch = encode_scratch();
  capnp::MallocMessageBuilder builder(kj::arrayPtr(scratch.data(), scratch.size()));
  auto root = builder.initRoot<wire::Message>();
  build_updates(root, message.updates);
  std::visit(BodyBuilder{root.initBody()}, message.body);
  Bytes out = flatten(builder.getSegmentsForOutput());
  if (out.size() > limits_.message_bytes_max) {
    return resource_exhausted("gossip message of " + std::to_string(out.size()) + " bytes exceeds " +
                              std::to_string(limits_.message_bytes_max));
  }
  return out;
}

Result<Message> Codec::decode(std::span<const std::uint8_t> bytes) {
  if (bytes.size() > limits_.message_bytes_max) {
    return resource_exhausted("gossip message of " + std::to_string(bytes.size()) + " bytes exceeds " +
                              std::to_string(limits_.message_bytes_max));
  }
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
    return invalid_argument("gossip message is truncated or not word-aligned (" + std::to_string(bytes.size()) +
                            " bytes)");
  }
  // Copy into word-aligned memory: transports carry no alignment.
  // capnp::word can be neither copied nor moved, so a too small buffer is
  // replaced, never resized (vector::resize needs a move: GCC let it pass,
  // clang, which builds the fuzz targets, does not).
  std::vector<capnp::word>& scratch = decode_scratch();
  const std::size_t word_count = bytes.size() / sizeof(capnp::word);
  if (scratch.size() < word_count) scratch = std::vector<capnp::word>(word_count);
  std::memcpy(scratch.data(), bytes.data(), bytes.size());
  capnp::ReaderOptions options;
  options.nestingLimit = limits_.nesting_limit;
  options.traversalLimitInWords = 2 * word_count + 64;
  try {
    kj::ArrayPtr<const capnp::word> words(scratch.data(), word_count);
    capnp::FlatArrayMessageReader reader(words, options);
    if (reader.getEnd() != words.end()) return invalid_argument("gossip message has trailing bytes");
    auto root = reader.getRoot<wire::Message>();
    Message message;
    POLDER_RETURN_IF_ERROR(read_updates(root, limits_, message.updates));
    POLDER_RETURN_IF_ERROR(read_body(root.getBody(), limits_, message.body));
    return message;
  } catch (const kj::Exception& e) {
    return invalid_argument(std::string("malformed gossip message: ") + e.getDescription().cStr());
  } catch (const std::exception& e) {
    return invalid_argument(std::string("malformed gossip message: ") + e.what());
  }
}

std::uint64_t id_prefix(const NodeId& id) {
  std::uint64_t prefix = 0;
  for (int i = 0; i < 8; ++i) prefix = (prefix << 8) | id.bytes()[static_cast<std::size_t>(i)];
  return prefix;  // big-endian: prefix order is id order
}

}  // namespace polder::gossip
