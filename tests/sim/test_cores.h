// Small scripted cores for the simulator's tests: each does one thing that
// a test can predict exactly, unlike the randomised PingPongCore.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "protocol/core.h"
#include "sim/simulator.h"

namespace polder::sim::testing {

// On its first tick, sends `count` messages numbered 0..count-1 to `target`
// (if set), all in one Effects, with a persist op in the same batch when
// `persist_with_send`. Records every message it receives.
class ScriptCore : public Core {
 public:
  struct Received {
    NodeId from;
    std::uint64_t number = 0;
    std::int64_t at_us = 0;
  };

  ScriptCore(std::optional<NodeId> target, std::uint32_t count, bool persist_with_send)
      : target_(target), count_(count), persist_with_send_(persist_with_send) {}

  Effects tick(Instant /*now*/) override {
    Effects effects;
    if (started_) return effects;
    started_ = true;
    if (persist_with_send_) effects.persist.push_back(PersistOp{Column::kMeta, "script/started", Bytes{1}, false});
    if (!target_) return effects;
    for (std::uint64_t i = 0; i < count_; ++i) {
      Bytes bytes(sizeof i);
      std::memcpy(bytes.data(), &i, sizeof i);
      effects.send.push_back(OutMessage{*target_, std::move(bytes)});
    }
    return effects;
  }

  Effects receive(const NodeId& from, std::span<const std::uint8_t> bytes, Instant now) override {
    Received r;
    r.from = from;
    if (bytes.size() == sizeof r.number) std::memcpy(&r.number, bytes.data(), sizeof r.number);
    r.at_us = to_us(now);
    received_.push_back(r);
    return {};
  }

  const std::vector<Received>& received() const { return received_; }

 private:
  std::optional<NodeId> target_;
  std::uint64_t count_;
  bool persist_with_send_;
  bool started_ = false;
  std::vector<Received> received_;
};

// A world of two nodes: sim_node_id(0) sends `count` messages to
// sim_node_id(1) on its first tick; node 1 sends nothing.
inline CoreFactory two_node_script_factory(std::uint32_t count, bool persist_with_send = false) {
  return [count, persist_with_send](const NodeId& self, const DurableRecords&, std::uint64_t) -> std::unique_ptr<Core> {
    if (self == sim_node_id(0)) return std::make_unique<ScriptCore>(sim_node_id(1), count, persist_with_send);
    return std::make_unique<ScriptCore>(std::nullopt, 0, false);
  };
}

// A link with exactly `latency_us` of delay and no faults.
inline LinkOptions fixed_link(std::int64_t latency_us) {
  LinkOptions link;
  link.latency_us_base = latency_us;
  link.jitter_us = 0;
  link.jitter_kind = JitterKind::kNone;
  return link;
}

}  // namespace polder::sim::testing
