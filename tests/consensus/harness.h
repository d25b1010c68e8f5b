// A tiny hand-driven network of ConsensusCores for unit tests: messages
// wait in a list until the test delivers them (all, some, or none), persist
// ops land on per-node "disks", and a node can crash and restart from its
// disk. Every step ends with check_core() on every core (STYLE.md habit 14).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "consensus/consensus_core.h"
#include "consensus/invariants.h"

namespace polder::consensus::testing {

inline NodeId node(std::uint8_t n) {
  NodeId::Bytes b{};
  b[0] = n;
  return NodeId(b);
}

inline JobId job(std::uint8_t n) {
  JobId::Bytes b{};
  b[0] = 0xA0;
  b[1] = n;
  return JobId(b);
}

struct Envelope {
  NodeId from, to;
  Bytes bytes;
};

// The options the hand-driven tests use: a non-origin's propose() sends
// its Prepares in that call (origin_grace_rtts 0), so a test of phase 1
// needs no timer; tests of the grace itself turn it on.
inline ConsensusOptions phase_one_at_once(ConsensusOptions options = {}) {
  options.origin_grace_rtts = 0;
  return options;
}

class Harness {
 public:
  explicit Harness(std::vector<NodeId> nodes, ConsensusOptions options = phase_one_at_once()) : options_(options) {
    for (const NodeId& n : nodes) start(n);
  }

  ConsensusCore& core(const NodeId& n) { return *cores_.at(n); }
  DurableRecords& disk(const NodeId& n) { return disks_[n]; }
  std::vector<Envelope>& inflight() { return inflight_; }
  const std::vector<std::pair<NodeId, CoreEvent>>& events() const { return events_; }
  std::int64_t now_us() const { return now_us_; }
  void advance_us(std::int64_t us) { now_us_ += us; }

  void apply(const NodeId& n, Effects effects) {
    for (const PersistOp& op : effects.persist) {
      if (op.erase) disks_[n].erase({op.column, op.key});
      else disks_[n][{op.column, op.key}] = op.value;
    }
    for (OutMessage& m : effects.send) inflight_.push_back({n, m.to, std::move(m.bytes)});
    for (CoreEvent& e : effects.events) events_.emplace_back(n, std::move(e));
    check_all();
  }

  void propose(const NodeId& n, const InstanceSpec& spec, const Value& value) {
    auto effects = core(n).propose(spec, value, instant_from_us(now_us_));
    ASSERT_TRUE(effects.is_ok()) << effects.status().to_string();
    apply(n, std::move(effects).value());
  }

  // Delivers messages in flight (and those they cause) for which `keep`
  // is true; the others are dropped. Bounded by `rounds_max`.
  void deliver(std::function<bool(const Envelope&)> keep = nullptr, int rounds_max = 100) {
    for (int round = 0; round < rounds_max && !inflight_.empty(); ++round) {
      std::vector<Envelope> batch;
      batch.swap(inflight_);
      for (Envelope& e : batch) {
        if (keep && !keep(e)) continue;
        if (cores_.count(e.to) == 0 || !cores_.at(e.to)) continue;  // down: lost
        apply(e.to, cores_.at(e.to)->receive(e.from, e.bytes, instant_from_us(now_us_)));
      }
    }
  }

  void tick_all() {
    for (auto& [n, c] : cores_) {
      if (c) apply(n, c->tick(instant_from_us(now_us_)));
    }
  }

  void crash(const NodeId& n) { cores_[n].reset(); }
  void start(const NodeId& n) {
    auto created = ConsensusCore::create(n, options_, disks_[n], 1000 + n.bytes()[0]);
    ASSERT_TRUE(created.is_ok()) << created.status().to_string();
    cores_[n] = std::move(created).value();
  }

  std::optional<Value> chosen_at(const NodeId& n, const InstanceKey& key) { return core(n).chosen(key); }

  void check_all() {
    for (auto& [n, c] : cores_) {
      if (!c) continue;
      const Status s = check_core(*c);
      ASSERT_TRUE(s.is_ok()) << s.to_string();
    }
  }

 private:
  ConsensusOptions options_;
  std::map<NodeId, std::unique_ptr<ConsensusCore>> cores_;
  std::map<NodeId, DurableRecords> disks_;
  std::vector<Envelope> inflight_;
  std::vector<std::pair<NodeId, CoreEvent>> events_;
  std::int64_t now_us_ = 1'000'000;
};

inline InstanceSpec spec_of(std::uint8_t j, std::uint32_t attempt, std::vector<NodeId> replicas, const NodeId& origin) {
  std::sort(replicas.begin(), replicas.end());
  return InstanceSpec{InstanceKey{job(j), Attempt{attempt}}, std::move(replicas), origin};
}

template <typename M>
std::vector<M> decoded(const std::vector<Envelope>& inflight, const NodeId* to = nullptr) {
  std::vector<M> out;
  for (const Envelope& e : inflight) {
    if (to && e.to != *to) continue;
    auto m = decode_message(e.bytes);
    if (m && std::holds_alternative<M>(*m)) out.push_back(std::get<M>(*m));
  }
  return out;
}

}  // namespace polder::consensus::testing
