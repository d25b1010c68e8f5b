// Small simulated clusters of GossipCores for the gossip tests.
#pragma once

#include <set>

#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "gossip/gossip_core.h"
#include "gossip/invariants.h"
#include "sim/gossip_records.h"
#include "sim/simulator.h"

namespace polder::gossip::testing {

using namespace std::chrono_literals;

// Fast LAN timings so a test covers many protocol periods in little virtual time.
inline GossipConfig test_config() {
  GossipConfig c = lan_config();
  c.probe_interval = 100ms;
  c.probe_timeout = 40ms;
  c.probe_deadline = 90ms;
  c.gossip_interval = 20ms;
  c.suspicion_mult = 3;
  c.suspicion_max_mult = 3;
  c.push_pull_interval = 2s;
  c.join_retry_interval = 500ms;
  c.dead_reap_after = 5s;
  return c;
}

// N nodes that all know each other, over 1 ms links; every core's
// invariants are checked after every event.
class Cluster {
 public:
  explicit Cluster(std::uint32_t n, std::uint64_t seed = 1, GossipConfig config = test_config())
      : config_(std::move(config)), verifier_(std::make_shared<sim::FakeRecordVerifier>()) {
    for (std::uint32_t i = 0; i < n; ++i) ids_.push_back(sim::sim_node_id(i));
    sim::SimOptions options;
    options.seed = seed;
    options.network.default_link.latency_us_base = 1'000;
    options.network.default_link.jitter_us = 100;
    auto created = sim::Simulator::create(options, [this](const NodeId& self, const DurableRecords& durable,
                                                          std::uint64_t s) { return make(self, durable, s); });
    EXPECT_TRUE(created.is_ok());
    sim_ = std::move(*created);
    sim_->set_observer([this](const sim::Simulator& sim, const sim::ProcessedEvent& e) {
      const Core* core = sim.core_at(e.node);
      if (core == nullptr || !violation_.is_ok()) return;
      violation_ = check_invariants(static_cast<const GossipCore&>(*core));
    });
    for (const NodeId& id : ids_) EXPECT_TRUE(sim_->add_node(id).is_ok());
  }

  std::unique_ptr<Core> make(const NodeId& self, const DurableRecords& durable, std::uint64_t seed) {
    GossipOptions o;
    o.config = config_;
    o.verifier = verifier_;
    o.admit = [this](const NodeId& id) { return !refused_.contains(id); };
    for (const NodeId& id : ids_) {
      if (id != self) o.initial_members.emplace_back(id, nullptr);
    }
    if (!durable.empty()) o.config.seeds = {ids_[0] == self ? ids_[1] : ids_[0]};
    o.own_record = sim::make_fake_record(self, 0, 1 + durable.size());
    auto core = GossipCore::create(self, std::move(o), durable, seed);
    EXPECT_TRUE(core.is_ok()) << core.status().to_string();
    return std::move(*core);
  }

  GossipCore* core(std::uint32_t i) { return static_cast<GossipCore*>(sim_->core(ids_[i])); }
  const NodeId& id(std::uint32_t i) const { return ids_[i]; }
  sim::Simulator& sim() { return *sim_; }
  void run_for(Duration d) {
    ASSERT_TRUE(sim_->run_for(d).is_ok());
    ASSERT_TRUE(violation_.is_ok()) << violation_.to_string();
  }
  // State of member j in node i's table.
  std::optional<MemberState> state(std::uint32_t i, std::uint32_t j) {
    auto m = core(i)->member(ids_[j]);
    if (!m) return std::nullopt;
    return m->state;
  }
  void isolate(std::uint32_t i) {
    for (std::uint32_t j = 0; j < ids_.size(); ++j) {
      if (j != i) {
        ASSERT_TRUE(sim_->cut(ids_[i], ids_[j]).is_ok());
      }
    }
  }
  const std::shared_ptr<sim::FakeRecordVerifier>& verifier() const { return verifier_; }
  // Every core's admit predicate refuses `i` from now on (a revoked key).
  void refuse(std::uint32_t i) { refused_.insert(ids_[i]); }

 private:
  GossipConfig config_;
  std::shared_ptr<sim::FakeRecordVerifier> verifier_;
  std::vector<NodeId> ids_;
  std::set<NodeId> refused_;
  std::unique_ptr<sim::Simulator> sim_;
  Status violation_ = Status::ok();
};

}  // namespace polder::gossip::testing
