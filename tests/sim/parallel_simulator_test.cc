// ParallelSimulator: the same run whatever the number of partitions
// (threads), under loss, duplication, jitter and crash/restart.
#include "sim/parallel_simulator.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "sim/pingpong_core.h"

namespace polder::sim {
namespace {

constexpr std::int64_t kMs = 1000;
constexpr std::uint32_t kNodes = 24;

Instant at_ms(std::int64_t ms) { return instant_from_us(ms * kMs); }

// Nodes live in "regions" by index % 4: 0.3-0.8 ms inside one, at least
// 5 ms between two. Partition = region % partitions, so every link across
// partitions is a long one.
LinkOptions region_link(std::uint32_t from, std::uint32_t to) {
  LinkOptions link;
  link.loss_probability = 0.1;
  link.duplicate_probability = 0.05;
  if (from % 4 == to % 4) {
    link.latency_us_base = 300;
    link.jitter_us = 500;
  } else {
    link.latency_us_base = 5 * kMs + 1000 * ((from + to) % 3);
    link.jitter_us = 2 * kMs;
  }
  return link;
}

struct PingPongRun {
  std::uint64_t trace_hash = 0;
  SimCounters counters;
  std::uint64_t windows = 0;
};

PingPongRun run_pingpong(std::uint64_t seed, std::uint32_t partitions) {
  auto peers = std::make_shared<std::vector<NodeId>>();
  for (std::uint32_t i = 0; i < kNodes; ++i) peers->push_back(sim_node_id(i));
  PingPongOptions core_options;
  core_options.peers = peers;
  core_options.ping_interval_us = 2 * kMs;
  core_options.persist_every_pongs = 5;
  ParallelSimOptions options;
  options.seed = seed;
  options.partitions = partitions;
  options.lookahead_us = 5 * kMs;
  auto created = ParallelSimulator::create(options, make_pingpong_factory(core_options), region_link);
  EXPECT_TRUE(created.is_ok()) << created.status().to_string();
  ParallelSimulator& sim = **created;
  for (std::uint32_t i = 0; i < kNodes; ++i) EXPECT_TRUE(sim.add_node((*peers)[i], (i % 4) % partitions).is_ok());
  for (std::uint32_t i = 0; i < 6; ++i) {
    EXPECT_TRUE(sim.crash_at((*peers)[i * 3], at_ms(40 + 50 * i)).is_ok());
    EXPECT_TRUE(sim.restart((*peers)[i * 3], at_ms(70 + 50 * i)).is_ok());
  }
  // In steps, as a campaign drives it, with host calls in between.
  for (std::int64_t t = 100; t <= 600; t += 100) EXPECT_TRUE(sim.run_until(at_ms(t)).is_ok());
  return {sim.trace_hash(), sim.counters(), sim.windows()};
}

TEST(ParallelSimulator, SameSeedGivesTheSameRunWhateverThePartitioning) {
  const PingPongRun one = run_pingpong(5, 1);
  EXPECT_GT(one.counters.messages_delivered, 1000U);
  EXPECT_GT(one.counters.messages_duplicated, 0U);
  EXPECT_GT(one.counters.dropped_loss, 0U);
  EXPECT_EQ(one.counters.crashes, 6U);
  EXPECT_EQ(one.counters.restarts, 6U);
  for (std::uint32_t partitions : {1U, 2U, 3U, 4U}) {
    const PingPongRun r = run_pingpong(5, partitions);
    EXPECT_EQ(r.trace_hash, one.trace_hash) << partitions << " partitions";
    EXPECT_EQ(r.counters.events_processed, one.counters.events_processed) << partitions << " partitions";
    EXPECT_EQ(r.counters.messages_delivered, one.counters.messages_delivered) << partitions << " partitions";
    EXPECT_EQ(r.counters.persist_ops, one.counters.persist_ops) << partitions << " partitions";
    if (partitions > 1) {
      EXPECT_GE(r.windows, 600U / 5U) << "windows of the 5 ms lookahead";
    }
  }
}

TEST(ParallelSimulator, DifferentSeedGivesADifferentRun) {
  EXPECT_NE(run_pingpong(5, 2).trace_hash, run_pingpong(6, 2).trace_hash);
}

TEST(ParallelSimulator, RejectsBadOptionsAndBadCalls) {
  PingPongOptions core_options;
  core_options.peers = std::make_shared<std::vector<NodeId>>(std::vector<NodeId>{sim_node_id(0)});
  ParallelSimOptions options;
  options.partitions = 2;  // and no lookahead
  EXPECT_FALSE(ParallelSimulator::create(options, make_pingpong_factory(core_options), region_link).is_ok());
  options.partitions = 0;
  EXPECT_FALSE(ParallelSimulator::create(options, make_pingpong_factory(core_options), region_link).is_ok());
  options.partitions = 1;
  EXPECT_FALSE(ParallelSimulator::create(options, make_pingpong_factory(core_options), LinkModel{}).is_ok());
  auto created = ParallelSimulator::create(options, make_pingpong_factory(core_options), region_link);
  ASSERT_TRUE(created.is_ok());
  ParallelSimulator& sim = **created;
  EXPECT_FALSE(sim.add_node(sim_node_id(0), 1).is_ok()) << "partition out of range";
  ASSERT_TRUE(sim.add_node(sim_node_id(0), 0).is_ok());
  EXPECT_FALSE(sim.add_node(sim_node_id(0), 0).is_ok()) << "duplicate";
  EXPECT_FALSE(sim.crash_at(sim_node_id(9), at_ms(1)).is_ok()) << "unknown node";
  ASSERT_TRUE(sim.run_until(at_ms(10)).is_ok());
  EXPECT_FALSE(sim.run_until(at_ms(5)).is_ok()) << "the past";
  EXPECT_FALSE(sim.crash_at(sim_node_id(0), at_ms(5)).is_ok()) << "the past";
  EXPECT_EQ(sim.now(), at_ms(10));
}

}  // namespace
}  // namespace polder::sim
