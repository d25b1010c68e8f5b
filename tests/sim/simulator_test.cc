#include "sim/simulator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "sim/pingpong_core.h"
#include "tests/sim/test_cores.h"

namespace polder::sim {
namespace {

using testing::ScriptCore;
using testing::fixed_link;
using testing::two_node_script_factory;

constexpr std::int64_t kMs = 1000;

Instant at_ms(std::int64_t ms) { return instant_from_us(ms * kMs); }

struct PingPongWorld {
  std::uint64_t seed = 1;
  std::uint32_t nodes = 10;
  std::int64_t ping_interval_us = 1 * kMs;
  std::uint32_t persist_every = 5;
  LinkOptions link;
  std::int64_t disk_delay_us = 0;
};

std::unique_ptr<Simulator> make_pingpong(const PingPongWorld& world) {
  auto peers = std::make_shared<std::vector<NodeId>>();
  for (std::uint32_t i = 0; i < world.nodes; ++i) peers->push_back(sim_node_id(i));
  PingPongOptions core_options;
  core_options.peers = peers;
  core_options.ping_interval_us = world.ping_interval_us;
  core_options.persist_every_pongs = world.persist_every;
  SimOptions options;
  options.seed = world.seed;
  options.network.default_link = world.link;
  options.disk.write_delay_us = world.disk_delay_us;
  auto sim = Simulator::create(options, make_pingpong_factory(core_options));
  EXPECT_TRUE(sim.is_ok()) << sim.status().to_string();
  for (const auto& id : *peers) EXPECT_TRUE((*sim)->add_node(id).is_ok());
  return std::move(sim).value();
}

std::unique_ptr<Simulator> make_script(std::uint32_t count, const LinkOptions& link, bool persist_with_send = false,
                                       std::uint64_t seed = 1) {
  SimOptions options;
  options.seed = seed;
  options.network.default_link = link;
  auto sim = Simulator::create(options, two_node_script_factory(count, persist_with_send));
  EXPECT_TRUE(sim.is_ok()) << sim.status().to_string();
  EXPECT_TRUE((*sim)->add_node(sim_node_id(0)).is_ok());
  EXPECT_TRUE((*sim)->add_node(sim_node_id(1)).is_ok());
  return std::move(sim).value();
}

const ScriptCore* script_at(Simulator& sim, std::uint32_t index) {
  return dynamic_cast<const ScriptCore*>(sim.core(sim_node_id(index)));
}

const PingPongCore* pingpong_at(Simulator& sim, std::uint32_t index) {
  return dynamic_cast<const PingPongCore*>(sim.core(sim_node_id(index)));
}

std::uint64_t stored_pongs(const Simulator& sim, std::uint32_t index) {
  const DurableRecords* durable = sim.durable(sim_node_id(index));
  auto it = durable->find({PingPongCore::kCounterColumn, PingPongCore::kCounterKey});
  if (it == durable->end()) return 0;
  std::uint64_t pongs;
  std::memcpy(&pongs, it->second.data(), sizeof pongs);
  return pongs;
}

// A faulty run: loss, duplication, jitter, a slow disk and crash/restarts.
std::unique_ptr<Simulator> run_faulty(std::uint64_t seed) {
  PingPongWorld world;
  world.seed = seed;
  world.link.jitter_us = 800;
  world.link.loss_probability = 0.1;
  world.link.duplicate_probability = 0.1;
  world.disk_delay_us = 300;
  auto sim = make_pingpong(world);
  for (std::uint32_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(sim->crash_at(sim_node_id(i * 2), at_ms(100 + 200 * i)).is_ok());
    EXPECT_TRUE(sim->restart(sim_node_id(i * 2), at_ms(150 + 200 * i)).is_ok());
  }
  EXPECT_TRUE(sim->run_until(at_ms(1000)).is_ok());
  return sim;
}

TEST(Simulator, SameSeedGivesSameTraceUnderFaults) {
  auto first = run_faulty(7);
  auto second = run_faulty(7);
  const SimCounters& c = first->counters();
  // The faults really happened, so the hash covers them.
  EXPECT_GT(c.dropped_loss, 0U);
  EXPECT_GT(c.messages_duplicated, 0U);
  EXPECT_EQ(c.crashes, 4U);
  EXPECT_EQ(c.restarts, 4U);
  EXPECT_GT(c.dropped_node_down, 0U);
  EXPECT_GT(c.events_processed, 10'000U);
  EXPECT_EQ(first->trace_hash(), second->trace_hash()) << "seed 7";
  EXPECT_EQ(c.events_processed, second->counters().events_processed);
  EXPECT_EQ(c.messages_delivered, second->counters().messages_delivered);
}

TEST(Simulator, DifferentSeedGivesDifferentTrace) {
  EXPECT_NE(run_faulty(7)->trace_hash(), run_faulty(8)->trace_hash());
}

TEST(Simulator, ObserverSeesEveryProcessedEventInTimeOrder) {
  PingPongWorld world;
  world.link.jitter_us = 500;
  auto sim = make_pingpong(world);
  std::uint64_t seen = 0;
  std::int64_t last_us = 0;
  bool in_order = true;
  sim->set_observer([&](const Simulator& s, const ProcessedEvent& e) {
    ++seen;
    in_order = in_order && to_us(e.time) >= last_us && e.time == s.now();
    last_us = to_us(e.time);
  });
  ASSERT_TRUE(sim->run_for(Duration(100 * kMs)).is_ok());
  EXPECT_GT(seen, 1000U);
  EXPECT_EQ(seen, sim->counters().events_processed);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(sim->now(), at_ms(100));
}

TEST(Simulator, PartitionDropsMessagesBothWaysAndHealRestoresDelivery) {
  PingPongWorld world;
  world.nodes = 2;
  world.link = fixed_link(100);
  auto sim = make_pingpong(world);
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> delivered;  // (from, to) -> count
  sim->set_observer([&](const Simulator&, const ProcessedEvent& e) {
    if (e.kind == EventKind::kDeliver && !e.dropped) ++delivered[{e.from, e.node}];
  });
  ASSERT_TRUE(sim->run_for(Duration(50 * kMs)).is_ok());
  ASSERT_GT(delivered[std::make_pair(0U, 1U)], 0U);
  ASSERT_GT(delivered[std::make_pair(1U, 0U)], 0U);

  ASSERT_TRUE(sim->cut(sim_node_id(0), sim_node_id(1)).is_ok());
  const auto before = delivered;
  const std::uint64_t pings_0 = pingpong_at(*sim, 0)->pings_sent();
  const std::uint64_t pings_1 = pingpong_at(*sim, 1)->pings_sent();
  ASSERT_TRUE(sim->run_for(Duration(50 * kMs)).is_ok());
  EXPECT_EQ(delivered, before);
  EXPECT_GT(pingpong_at(*sim, 0)->pings_sent(), pings_0 + 40);  // both sides kept trying
  EXPECT_GT(pingpong_at(*sim, 1)->pings_sent(), pings_1 + 40);
  EXPECT_GT(sim->counters().dropped_partition, 80U);

  ASSERT_TRUE(sim->heal(sim_node_id(1), sim_node_id(0)).is_ok());
  ASSERT_TRUE(sim->run_for(Duration(50 * kMs)).is_ok());
  EXPECT_GT(delivered[std::make_pair(0U, 1U)], before.at({0U, 1U}) + 40);
  EXPECT_GT(delivered[std::make_pair(1U, 0U)], before.at({1U, 0U}) + 40);
}

TEST(Simulator, TotalLossDeliversNothing) {
  PingPongWorld world;
  world.nodes = 5;
  world.link.loss_probability = 1.0;
  auto sim = make_pingpong(world);
  ASSERT_TRUE(sim->run_for(Duration(200 * kMs)).is_ok());
  const SimCounters& c = sim->counters();
  EXPECT_GT(c.messages_sent, 500U);
  EXPECT_EQ(c.messages_delivered, 0U);
  EXPECT_EQ(c.dropped_loss, c.messages_sent);
  EXPECT_EQ(c.core_events, 0U);  // no pong ever came back
}

TEST(Simulator, DuplicationDeliversEveryMessageTwice) {
  LinkOptions link = fixed_link(1 * kMs);
  link.duplicate_probability = 1.0;
  auto sim = make_script(20, link);
  ASSERT_TRUE(sim->run_for(Duration(10 * kMs)).is_ok());
  const auto& received = script_at(*sim, 1)->received();
  ASSERT_EQ(received.size(), 40U);
  std::map<std::uint64_t, int> copies;
  for (const auto& r : received) ++copies[r.number];
  ASSERT_EQ(copies.size(), 20U);
  for (const auto& [number, count] : copies) EXPECT_EQ(count, 2) << "message " << number;
  EXPECT_EQ(sim->counters().messages_duplicated, 20U);
  EXPECT_EQ(sim->counters().messages_delivered, 40U);
}

TEST(Simulator, JitterReordersMessagesOnALink) {
  LinkOptions link = fixed_link(1 * kMs);
  link.jitter_kind = JitterKind::kUniform;
  link.jitter_us = 1 * kMs;
  auto sim = make_script(200, link);
  ASSERT_TRUE(sim->run_for(Duration(10 * kMs)).is_ok());
  const auto& received = script_at(*sim, 1)->received();
  ASSERT_EQ(received.size(), 200U);
  std::vector<std::uint64_t> numbers;
  for (const auto& r : received) numbers.push_back(r.number);
  EXPECT_FALSE(std::is_sorted(numbers.begin(), numbers.end()));
}

TEST(Simulator, RestartedCoreResumesFromLastDurableCounter) {
  PingPongWorld world;
  world.nodes = 3;
  world.persist_every = 5;
  auto sim = make_pingpong(world);
  // Step until node 0 holds pongs that are not on disk yet.
  const PingPongCore* core = pingpong_at(*sim, 0);
  for (int i = 0; i < 1'000'000 && !(core->pongs_received() > 5 && core->pongs_received() % 5 != 0); ++i) {
    ASSERT_TRUE(sim->step());
  }
  const std::uint64_t in_memory = core->pongs_received();
  const std::uint64_t on_disk = stored_pongs(*sim, 0);
  ASSERT_EQ(on_disk, in_memory - in_memory % 5);
  ASSERT_NE(on_disk, in_memory);

  ASSERT_TRUE(sim->crash(sim_node_id(0)).is_ok());
  EXPECT_FALSE(sim->is_up(sim_node_id(0)));
  EXPECT_EQ(sim->core(sim_node_id(0)), nullptr);
  const Instant back = sim->now() + Duration(10 * kMs);
  ASSERT_TRUE(sim->restart(sim_node_id(0), back).is_ok());
  ASSERT_TRUE(sim->run_until(back).is_ok());
  ASSERT_TRUE(sim->is_up(sim_node_id(0)));
  EXPECT_EQ(pingpong_at(*sim, 0)->pongs_received(), on_disk);
}

TEST(Simulator, MessagesToCrashedNodeAreDropped) {
  auto sim = make_script(10, fixed_link(1 * kMs));
  ASSERT_TRUE(sim->crash(sim_node_id(1)).is_ok());
  ASSERT_TRUE(sim->run_for(Duration(10 * kMs)).is_ok());
  EXPECT_EQ(sim->counters().messages_sent, 10U);
  EXPECT_EQ(sim->counters().dropped_node_down, 10U);
  EXPECT_EQ(sim->counters().messages_delivered, 0U);
  ASSERT_TRUE(sim->restart(sim_node_id(1), at_ms(20)).is_ok());
  ASSERT_TRUE(sim->run_until(at_ms(40)).is_ok());
  EXPECT_TRUE(script_at(*sim, 1)->received().empty());  // nothing was queued for it
}

TEST(Simulator, SlowDiskDelaysSendsThatFollowAPersist) {
  auto sim = make_script(1, fixed_link(1 * kMs), /*persist_with_send=*/true);
  ASSERT_TRUE(sim->set_disk_options(sim_node_id(0), DiskOptions{50 * kMs, 16}).is_ok());
  ASSERT_TRUE(sim->run_until(at_ms(10)).is_ok());
  EXPECT_TRUE(sim->durable(sim_node_id(0))->empty());
  EXPECT_EQ(sim->counters().messages_sent, 0U);
  ASSERT_TRUE(sim->run_until(at_ms(100)).is_ok());
  EXPECT_EQ(sim->durable(sim_node_id(0))->size(), 1U);
  const auto& received = script_at(*sim, 1)->received();
  ASSERT_EQ(received.size(), 1U);
  EXPECT_EQ(received[0].at_us, 51 * kMs);  // tick at 0 + 50 ms disk + 1 ms link
}

TEST(Simulator, CrashBeforeSlowPersistCompletesLosesWriteAndItsSends) {
  auto sim = make_script(1, fixed_link(1 * kMs), /*persist_with_send=*/true);
  ASSERT_TRUE(sim->set_disk_options(sim_node_id(0), DiskOptions{50 * kMs, 16}).is_ok());
  ASSERT_TRUE(sim->crash_at(sim_node_id(0), at_ms(10)).is_ok());
  ASSERT_TRUE(sim->run_until(at_ms(15)).is_ok());
  EXPECT_TRUE(sim->durable(sim_node_id(0))->empty());
  ASSERT_TRUE(sim->restart(sim_node_id(0), at_ms(20)).is_ok());
  ASSERT_TRUE(sim->run_until(at_ms(200)).is_ok());
  // Only the second life's send arrives: 20 ms restart + 50 ms disk + 1 ms link.
  const auto& received = script_at(*sim, 1)->received();
  ASSERT_EQ(received.size(), 1U);
  EXPECT_EQ(received[0].at_us, 71 * kMs);
  EXPECT_EQ(sim->counters().messages_sent, 1U);
}

TEST(Simulator, RejectsBadOptionsAndBadCalls) {
  SimOptions options;
  options.network.default_link.loss_probability = 1.5;
  EXPECT_EQ(Simulator::create(options, two_node_script_factory(1)).status().code(), StatusCode::kInvalidArgument);

  auto sim = make_script(1, fixed_link(1 * kMs));
  EXPECT_EQ(sim->add_node(sim_node_id(0)).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(sim->crash(sim_node_id(9)).code(), StatusCode::kNotFound);
  ASSERT_TRUE(sim->run_until(at_ms(5)).is_ok());
  EXPECT_EQ(sim->run_until(at_ms(4)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(sim->restart(sim_node_id(0), at_ms(1)).code(), StatusCode::kInvalidArgument);
}

// A core that asks to be ticked again at the same instant, forever.
class SpinningCore : public Core {
 public:
  Effects tick(Instant now) override {
    Effects e;
    e.wake_at = now;
    return e;
  }
  Effects receive(const NodeId&, std::span<const std::uint8_t>, Instant) override { return {}; }
};

TEST(Simulator, ReportsLivelockInsteadOfSpinning) {
  SimOptions options;
  options.events_per_instant_max = 1000;
  auto sim = Simulator::create(options, [](const NodeId&, const DurableRecords&, std::uint64_t) {
    return std::unique_ptr<Core>(std::make_unique<SpinningCore>());
  });
  ASSERT_TRUE(sim.is_ok());
  ASSERT_TRUE((*sim)->add_node(sim_node_id(0)).is_ok());
  EXPECT_EQ((*sim)->run_until(at_ms(1)).code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace polder::sim
