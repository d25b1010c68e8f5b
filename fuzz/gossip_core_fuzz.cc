// GossipCore::receive (gossip/gossip_core.h) as one member sees it: the
// core of node 0 in a federation of nodes 0..4, fed a sequence of frames
// (fuzz_util.h). Each frame is one step:
//   op % 8 == 0       time passes (0..65535 ms from the frame) and tick()
//   op % 8 == 1..5    raw bytes received from node 1..4 or the outsider
//   op % 8 == 6       a well-formed message built from the frame's bytes
//                     (FuzzedDataProvider), encoded, received: reaches the
//                     state machine far more often than raw bytes do
//   op % 8 == 7       the host acts: new own record, measured transfer,
//                     leave, or a crash and restart from what was persisted
// After every step: the core's own invariant checker passes; nobody outside
// the allowlist is a member; every record held is about its member (nobody
// speaks for another, DESIGN.md invariant 5); this node's incarnation never
// goes down, across restarts too.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <memory>

#include "fuzz/fuzz_util.h"
#include "gossip/gossip_core.h"
#include "gossip/invariants.h"
#include "sim/gossip_records.h"

namespace polder::fuzz {
namespace {

using namespace polder::gossip;

constexpr std::uint32_t kMembers = 5;      // nodes 0..4, node 0 is self
constexpr std::uint32_t kOutsider = 99;    // never admitted

NodeId pick_id(std::uint8_t b) {
  const std::uint32_t i = b % (kMembers + 1);
  return member_id(i == kMembers ? kOutsider : i);
}

// A sender: a member other than this node, or the outsider. A host never
// delivers a message from the node itself (the transport refuses its own
// key; the core never sends to itself).
NodeId pick_sender(std::uint8_t b) {
  const std::uint32_t i = 1 + b % kMembers;  // 1..4 members, 5 the outsider
  return member_id(i == kMembers ? kOutsider : i);
}

bool admitted(const NodeId& id) {
  for (std::uint32_t i = 0; i < kMembers; ++i) {
    if (member_id(i) == id) return true;
  }
  return false;
}

Bytes make_record(FuzzedDataProvider& p) {
  switch (p.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: return {};
    case 1: {  // about the member it travels with, or not: picked again by the core's caller
      const NodeId subject = pick_id(p.ConsumeIntegral<std::uint8_t>());
      return sim::make_fake_record(subject, p.ConsumeIntegralInRange<std::uint64_t>(0, 4),
                                   p.ConsumeIntegralInRange<std::uint64_t>(0, 8),
                                   p.ConsumeIntegralInRange<std::size_t>(0, 1200));
    }
    case 2: {  // a valid record with one byte flipped: a forgery
      const NodeId subject = pick_id(p.ConsumeIntegral<std::uint8_t>());
      Bytes r = sim::make_fake_record(subject, 1, p.ConsumeIntegralInRange<std::uint64_t>(0, 8));
      r[p.ConsumeIntegralInRange<std::size_t>(0, r.size() - 1)] ^= 0x01;
      return r;
    }
    default: return p.ConsumeBytes<std::uint8_t>(p.ConsumeIntegralInRange<std::size_t>(0, 300));
  }
}

std::optional<Coordinate> make_coordinate(FuzzedDataProvider& p) {
  if (!p.ConsumeBool()) return std::nullopt;
  Coordinate c;
  for (float& v : c.vec) v = p.ConsumeFloatingPoint<float>();  // NaN and infinities included
  c.height_ms = p.ConsumeFloatingPoint<float>();
  c.error = p.ConsumeFloatingPoint<float>();
  return c;
}

Message make_message(FuzzedDataProvider& p) {
  Message m;
  const auto seq = [&] { return p.ConsumeIntegralInRange<std::uint32_t>(0, 32); };
  switch (p.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: m.body = GossipOnly{}; break;
    case 1: m.body = Ping{seq(), make_coordinate(p)}; break;
    case 2: m.body = Ack{seq(), make_coordinate(p)}; break;
    case 3: m.body = PingReq{seq(), pick_id(p.ConsumeIntegral<std::uint8_t>())}; break;
    case 4: m.body = Nack{seq()}; break;
    case 5: {
      Digest d{p.ConsumeIntegral<std::uint64_t>(), p.ConsumeIntegral<std::uint64_t>(), {}};
      if (p.ConsumeBool()) d.lo = 0, d.hi = ~0ULL;
      const std::size_t n = p.ConsumeIntegralInRange<std::size_t>(0, 8);
      for (std::size_t i = 0; i < n; ++i) {
        d.entries.emplace_back(id_prefix(pick_id(p.ConsumeIntegral<std::uint8_t>())),
                               p.ConsumeIntegralInRange<std::uint64_t>(0, 64));
      }
      m.body = std::move(d);
      break;
    }
    case 6: {
      DigestReply r;
      const std::size_t n = p.ConsumeIntegralInRange<std::size_t>(0, 8);
      for (std::size_t i = 0; i < n; ++i) r.wants.push_back(id_prefix(pick_id(p.ConsumeIntegral<std::uint8_t>())));
      r.hi = p.ConsumeBool() ? ~0ULL : p.ConsumeIntegral<std::uint64_t>();
      r.truncated = p.ConsumeBool();
      r.resume = p.ConsumeIntegral<std::uint64_t>();
      m.body = std::move(r);
      break;
    }
    default: m.body = Sync{}; break;
  }
  const std::size_t updates = p.ConsumeIntegralInRange<std::size_t>(0, 6);
  for (std::size_t i = 0; i < updates; ++i) {
    Update u;
    u.kind = static_cast<UpdateKind>(p.ConsumeIntegralInRange<int>(1, 4));
    u.node = pick_id(p.ConsumeIntegral<std::uint8_t>());
    u.incarnation = p.ConsumeIntegralInRange<std::uint64_t>(0, 6);
    u.accuser = id_prefix(pick_id(p.ConsumeIntegral<std::uint8_t>()));
    if (u.kind == UpdateKind::kAlive) u.record = make_record(p);
    m.updates.push_back(std::move(u));
  }
  return m;
}

GossipConfig fuzz_config() {
  GossipConfig c = lan_config();
  c.probe_interval = std::chrono::milliseconds(100);
  c.probe_timeout = std::chrono::milliseconds(40);
  c.probe_deadline = std::chrono::milliseconds(90);
  c.gossip_interval = std::chrono::milliseconds(20);
  c.push_pull_interval = std::chrono::seconds(2);
  c.dead_reap_after = std::chrono::seconds(5);
  c.seeds = {member_id(1)};
  return c;
}

std::unique_ptr<GossipCore> make_core(const std::shared_ptr<sim::FakeRecordVerifier>& verifier,
                                      const DurableRecords& durable, std::uint64_t own_sequence) {
  GossipOptions o;
  o.config = fuzz_config();
  o.verifier = verifier;
  o.admit = admitted;
  for (std::uint32_t i = 1; i < kMembers; ++i) {
    const NodeId id = member_id(i);
    auto rec = verifier->peek(sim::make_fake_record(id, 0, 1));
    std::shared_ptr<const VerifiedRecord> verified;
    if (i % 2 == 0 && rec) verified = *verifier->verify(sim::make_fake_record(id, 0, 1), *rec);
    o.initial_members.emplace_back(id, verified);
  }
  o.own_record = sim::make_fake_record(member_id(0), 0, own_sequence);
  auto core = GossipCore::create(member_id(0), std::move(o), durable, 7);
  FUZZ_CHECK(core.is_ok(), "core does not start from its own persisted state: " + core.status().to_string());
  return std::move(*core);
}

void apply_persist(DurableRecords& durable, const Effects& e) {
  for (const PersistOp& op : e.persist) {
    if (op.erase) {
      durable.erase({op.column, op.key});
    } else {
      durable[{op.column, op.key}] = op.value;
    }
  }
}

void check(const GossipCore& core, std::uint64_t& incarnation_max) {
  const Status s = check_invariants(core);
  FUZZ_CHECK(s.is_ok(), s.to_string());
  for (const MemberInfo& m : core.members()) {
    FUZZ_CHECK(admitted(m.id), "a key outside the allowlist became a member: " + m.id.hex());
    if (m.record) FUZZ_CHECK(m.record->header.subject == m.id, "a member holds a record about another key");
  }
  FUZZ_CHECK(core.incarnation() >= incarnation_max, "own incarnation went down");
  incarnation_max = core.incarnation();
}

}  // namespace
}  // namespace polder::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace polder;
  using namespace polder::fuzz;
  auto verifier = std::make_shared<sim::FakeRecordVerifier>();
  DurableRecords durable;
  std::uint64_t own_sequence = 1;
  std::uint64_t incarnation_max = 0;
  auto core = make_core(verifier, durable, own_sequence);
  gossip::Codec codec;
  std::int64_t now_us = 1'000'000;
  apply_persist(durable, core->tick(instant_from_us(now_us)));
  FrameReader reader(data, size);
  Frame frame;
  for (int steps = 0; steps < 256 && reader.next(frame); ++steps) {
    const Instant now = instant_from_us(now_us);
    Effects effects;
    switch (frame.op % 8) {
      case 0: {
        std::int64_t ms = 0;
        for (std::size_t i = 0; i < std::min<std::size_t>(frame.bytes.size(), 2); ++i) ms = (ms << 8) | frame.bytes[i];
        now_us += ms * 1000;
        effects = core->tick(instant_from_us(now_us));
        break;
      }
      case 6: {
        FuzzedDataProvider p(frame.bytes.data(), frame.bytes.size());
        const NodeId from = pick_sender(p.ConsumeIntegral<std::uint8_t>());
        auto bytes = codec.encode(make_message(p));
        if (bytes) effects = core->receive(from, *bytes, now);
        break;
      }
      case 7: {
        FuzzedDataProvider p(frame.bytes.data(), frame.bytes.size());
        switch (p.ConsumeIntegralInRange<int>(0, 3)) {
          case 0:
            effects = core->set_own_record(sim::make_fake_record(member_id(0), core->incarnation(), ++own_sequence), now);
            break;
          case 1:
            // The host's own measurement of a transfer with a peer: never negative.
            core->observe_transfer(pick_sender(p.ConsumeIntegral<std::uint8_t>()), p.ConsumeIntegral<std::uint64_t>(),
                                   Duration(p.ConsumeIntegralInRange<std::int64_t>(0, 600'000'000)));
            break;
          case 2: effects = core->leave(now); break;
          default:  // crash and restart: only what was persisted survives
            core = make_core(verifier, durable, ++own_sequence);
            effects = core->tick(now);
            break;
        }
        break;
      }
      default:
        effects = core->receive(pick_sender(static_cast<std::uint8_t>(frame.op % 8 - 1)), frame.bytes, now);
        break;
    }
    apply_persist(durable, effects);
    check(*core, incarnation_max);
  }
  return 0;
}
