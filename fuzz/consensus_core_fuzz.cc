// ConsensusCore::receive (consensus/consensus_core.h) as replica node 1 sees
// it, with nodes 1..5 as possible senders (node 5 is in no replica set the
// generator builds unless picked as origin). Frames (fuzz_util.h), one step
// each:
//   op % 8 == 0       time passes (0..65535 ms from the frame) and tick()
//   op % 8 == 1..4    raw bytes received from node 2..5
//   op % 8 == 5, 6    a well-formed Paxos message built from the frame's
//                     bytes (FuzzedDataProvider), encoded, received
//   op % 8 == 7       the host acts: propose, query, forget, or a crash and
//                     restart from what was persisted
// After every step: check_core() passes (the acceptor never went back on a
// promise, ...), and a value this node learned chosen for an instance never
// changes — not by a later message, not across a restart (DESIGN.md 4).
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <map>
#include <memory>

#include "consensus/consensus_core.h"
#include "consensus/invariants.h"
#include "consensus/wire.h"
#include "fuzz/fuzz_util.h"

namespace polder::fuzz {
namespace {

using namespace polder::consensus;

NodeId node(std::uint8_t n) {
  NodeId::Bytes b{};
  b[0] = n;
  return NodeId(b);
}

NodeId pick_node(FuzzedDataProvider& p) { return node(p.ConsumeIntegralInRange<std::uint8_t>(1, 5)); }

ReplicaSet pick_replicas(FuzzedDataProvider& p) {
  switch (p.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: return {node(1), node(2), node(3)};
    case 1: return {node(2), node(3), node(4)};  // without this node
    case 2: return {node(1)};
    default: {
      ReplicaSet r;
      const int n = p.ConsumeIntegralInRange<int>(0, 5);
      for (int i = 0; i < n; ++i) r.push_back(pick_node(p));
      if (p.ConsumeBool()) {
        std::sort(r.begin(), r.end());
        r.erase(std::unique(r.begin(), r.end()), r.end());
      }
      return r;  // possibly empty, unsorted or with duplicates: must be refused
    }
  }
}

InstanceKey pick_key(FuzzedDataProvider& p) {
  JobId::Bytes b{};
  b[0] = 0xA0;
  b[1] = p.ConsumeIntegralInRange<std::uint8_t>(0, 2);
  return InstanceKey{JobId(b), Attempt{p.ConsumeIntegralInRange<std::uint32_t>(0, 2)}};
}

InstanceSpec pick_spec(FuzzedDataProvider& p) {
  InstanceSpec spec{pick_key(p), pick_replicas(p), {}};
  spec.origin = p.ConsumeBool() ? node(1) : pick_node(p);
  return spec;
}

Ballot pick_ballot(FuzzedDataProvider& p) {
  return Ballot{p.ConsumeIntegralInRange<std::uint64_t>(0, 5), pick_node(p)};
}

Value pick_value(FuzzedDataProvider& p) {
  ReplicaSet next;
  if (p.ConsumeBool()) next = pick_replicas(p);
  if (p.ConsumeBool()) return Value::cancel(next);
  return Value::run(pick_node(p), p.ConsumeIntegralInRange<std::uint64_t>(0, 3), next);
}

Message make_message(FuzzedDataProvider& p) {
  switch (p.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: return Prepare{pick_spec(p), pick_ballot(p)};
    case 1: {
      Promise m{pick_key(p), pick_ballot(p), std::nullopt, std::nullopt};
      if (p.ConsumeBool()) {
        m.accepted_ballot = pick_ballot(p);
        m.accepted_value = pick_value(p);
      }
      return m;
    }
    case 2: return Accept{pick_spec(p), pick_ballot(p), pick_value(p)};
    case 3: return Accepted{pick_key(p), pick_ballot(p)};
    case 4: return Reject{pick_key(p), pick_ballot(p), pick_ballot(p)};
    case 5: return Chosen{pick_spec(p), pick_value(p)};
    case 6: return ChosenAck{pick_key(p)};
    default: return Query{pick_spec(p)};
  }
}

std::unique_ptr<ConsensusCore> make_core(const DurableRecords& durable) {
  ConsensusOptions options;
  options.instances_max = 64;
  options.retention_us = 5'000'000;
  auto core = ConsensusCore::create(node(1), options, durable, 11);
  FUZZ_CHECK(core.is_ok(), "core does not restart from its own records: " + core.status().to_string());
  return std::move(*core);
}

struct World {
  DurableRecords durable;
  std::map<InstanceKey, Value> learned;  // everything node 1 ever learned chosen

  void apply(const ConsensusCore& core, const Effects& e) {
    for (const PersistOp& op : e.persist) {
      if (op.erase) {
        durable.erase({op.column, op.key});
      } else {
        durable[{op.column, op.key}] = op.value;
      }
    }
    for (const CoreEvent& event : e.events) {
      if (event.kind != kChosenEventKind) continue;
      auto chosen = parse_chosen_event(event);
      FUZZ_CHECK(chosen.is_ok(), "unparseable chosen event: " + event.detail);
      learn(chosen->key, chosen->value);
    }
    const Status s = check_core(core);
    FUZZ_CHECK(s.is_ok(), s.to_string());
    for (const auto& [key, inst] : core.instances()) {
      if (auto v = core.chosen(key)) learn(key, *v);
    }
  }

  // After a restart the core knows only what it persisted; what it knows
  // must agree with what it learned in its earlier lives. A Byzantine
  // sender (the fuzzer plays all peers) may make it learn an instance that
  // was decided but not yet compacted to disk anew, so the map restarts.
  void restarted(const ConsensusCore& core) {
    const std::map<InstanceKey, Value> before = std::move(learned);
    learned.clear();
    for (const auto& [key, inst] : core.instances()) {
      auto v = core.chosen(key);
      if (!v) continue;
      auto it = before.find(key);
      FUZZ_CHECK(it == before.end() || it->second == *v, "a restart changed the chosen value of " + key.to_string());
      learn(key, *v);
    }
  }

  // forget(job) ends the job: a later instance of it starts afresh.
  void forgot(const JobId& job) {
    std::erase_if(learned, [&](const auto& entry) { return entry.first.job == job; });
  }

  void learn(const InstanceKey& key, const Value& value) {
    auto [it, inserted] = learned.emplace(key, value);
    FUZZ_CHECK(inserted || it->second == value,
               "chosen value changed for " + key.to_string() + ": " + it->second.to_string() + " then " +
                   value.to_string());
  }
};

}  // namespace
}  // namespace polder::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace polder;
  using namespace polder::fuzz;
  World world;
  auto core = make_core(world.durable);
  std::int64_t now_us = 1'000'000;
  FrameReader reader(data, size);
  Frame frame;
  for (int steps = 0; steps < 256 && reader.next(frame); ++steps) {
    const Instant now = instant_from_us(now_us);
    FuzzedDataProvider p(frame.bytes.data(), frame.bytes.size());
    Effects effects;
    switch (frame.op % 8) {
      case 0: {
        std::int64_t ms = 0;
        for (std::size_t i = 0; i < std::min<std::size_t>(frame.bytes.size(), 2); ++i) ms = (ms << 8) | frame.bytes[i];
        now_us += ms * 1000;
        effects = core->tick(instant_from_us(now_us));
        break;
      }
      case 5:
      case 6: {
        const NodeId from = pick_node(p);
        effects = core->receive(from, consensus::encode_message(make_message(p)), now);
        break;
      }
      case 7: {
        switch (p.ConsumeIntegralInRange<int>(0, 3)) {
          case 0: {
            const consensus::InstanceSpec spec = pick_spec(p);
            if (auto r = core->propose(spec, pick_value(p), now)) effects = std::move(*r);
            break;
          }
          case 1:
            if (auto r = core->query(pick_spec(p), now)) effects = std::move(*r);
            break;
          case 2: {
            const JobId job = pick_key(p).job;
            effects = core->forget(job, now);
            world.forgot(job);
            break;
          }
          default:  // crash: memory lost, disk kept
            core = make_core(world.durable);
            world.restarted(*core);
            break;
        }
        break;
      }
      default:
        effects = core->receive(node(static_cast<std::uint8_t>(frame.op % 8 + 1)), frame.bytes, now);
        break;
    }
    world.apply(*core, effects);
  }
  return 0;
}
