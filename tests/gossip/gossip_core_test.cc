// State transitions of the gossip core, one behaviour per test, in small
// simulated clusters whose invariants are checked after every event.
#include "gossip/gossip_core.h"

#include <gtest/gtest.h>

#include "gossip/codec.h"
#include "tests/gossip/gossip_test_util.h"

namespace polder::gossip {
namespace {

using testing::Cluster;

Bytes encode(const Message& m) {
  Codec codec;
  auto bytes = codec.encode(m);
  EXPECT_TRUE(bytes.is_ok());
  return *bytes;
}

Message alive_with_record(const NodeId& about, Bytes record) {
  Update u;
  u.kind = UpdateKind::kAlive;
  u.node = about;
  u.incarnation = 0;
  u.record = std::move(record);
  return Message{GossipOnly{}, {u}};
}

std::uint64_t record_sequence(GossipCore& core, const NodeId& id) {
  auto m = core.member(id);
  return m && m->record ? m->record->header.sequence : 0;
}

TEST(GossipCore, ProbesKeepAHealthyClusterAlive) {
  Cluster c(5);
  c.run_for(5s);
  for (std::uint32_t i = 0; i < 5; ++i) {
    EXPECT_GT(c.core(i)->counters().probes, 20U);
    EXPECT_EQ(c.core(i)->counters().suspicions, 0U);
    for (std::uint32_t j = 0; j < 5; ++j) EXPECT_EQ(c.state(i, j), MemberState::kAlive);
  }
}

TEST(GossipCore, IndirectProbeKeepsAMemberBehindOneBrokenLinkAlive) {
  Cluster c(5);
  ASSERT_TRUE(c.sim().cut(c.id(0), c.id(1)).is_ok());
  c.run_for(5s);
  EXPECT_GT(c.core(0)->counters().probes_indirect, 0U);
  for (std::uint32_t i = 0; i < 5; ++i) EXPECT_EQ(c.state(i, 1), MemberState::kAlive) << "at node " << i;
}

TEST(GossipCore, UnreachableMemberIsSuspectedThenDeclaredDead) {
  Cluster c(5);
  c.run_for(1s);
  c.isolate(4);
  bool suspected = false;
  for (int step = 0; step < 40 && !suspected; ++step) {
    c.run_for(50ms);
    for (std::uint32_t i = 0; i < 4; ++i) suspected = suspected || c.state(i, 4) == MemberState::kSuspect;
  }
  EXPECT_TRUE(suspected);
  c.run_for(5s);
  for (std::uint32_t i = 0; i < 4; ++i) EXPECT_EQ(c.state(i, 4), MemberState::kDead) << "at node " << i;
}

TEST(GossipCore, SuspectedMemberRefutesWithAHigherIncarnation) {
  Cluster c(5);
  c.run_for(1s);
  const std::uint64_t before = c.core(4)->incarnation();
  c.isolate(4);
  bool suspected = false;
  for (int step = 0; step < 40 && !suspected; ++step) {
    c.run_for(20ms);
    for (std::uint32_t i = 0; i < 4; ++i) suspected = suspected || c.state(i, 4) == MemberState::kSuspect;
  }
  ASSERT_TRUE(suspected);
  c.sim().heal_all();
  c.run_for(2s);
  EXPECT_GT(c.core(4)->incarnation(), before);
  EXPECT_GE(c.core(4)->counters().refutations, 1U);
  for (std::uint32_t i = 0; i < 5; ++i) EXPECT_EQ(c.state(i, 4), MemberState::kAlive) << "at node " << i;
}

TEST(GossipCore, GracefulLeaveIsDistinctFromFailure) {
  Cluster c(5);
  c.run_for(1s);
  ASSERT_TRUE(c.sim().act(c.id(2), [](Core& core, Instant now) { return static_cast<GossipCore&>(core).leave(now); }).is_ok());
  c.run_for(1s);
  for (std::uint32_t i = 0; i < 5; ++i) {
    if (i != 2) {
      EXPECT_EQ(c.state(i, 2), MemberState::kLeft) << "at node " << i;
    }
  }
}

TEST(GossipCore, DeadMemberIsReapedAndRejoinsWithAHigherIncarnation) {
  Cluster c(5);
  c.run_for(1s);
  ASSERT_TRUE(c.sim().crash(c.id(3)).is_ok());
  c.run_for(3s);
  EXPECT_EQ(c.state(0, 3), MemberState::kDead);
  c.run_for(6s);  // past dead_reap_after
  EXPECT_FALSE(c.state(0, 3).has_value());
  ASSERT_TRUE(c.sim().restart(c.id(3), c.sim().now()).is_ok());
  c.run_for(3s);
  ASSERT_NE(c.core(3), nullptr);
  EXPECT_GE(c.core(3)->incarnation(), 1U);
  for (std::uint32_t i = 0; i < 5; ++i) {
    EXPECT_EQ(c.state(i, 3), MemberState::kAlive) << "at node " << i;
    EXPECT_EQ(c.core(i)->member(c.id(3))->incarnation, c.core(3)->incarnation());
  }
}

// A revoked key: every other node expels it. Its member goes at once (not
// after dead_reap_after), and what it keeps sending, or what others still
// say about it, does not bring it back.
TEST(GossipCore, AnExpelledMemberIsDroppedAtOnceAndStaysOut) {
  Cluster c(5);
  c.run_for(1s);
  c.refuse(4);
  for (std::uint32_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(c.sim().act(c.id(i), [&](Core& core, Instant now) {
      return static_cast<GossipCore&>(core).expel(c.id(4), now);
    }).is_ok());
    EXPECT_FALSE(c.state(i, 4).has_value()) << "at node " << i;
    EXPECT_EQ(c.core(i)->counters().members_expelled, 1U);
  }
  c.run_for(5s);  // node 4 keeps probing and gossiping about itself
  std::uint64_t refused = 0;
  for (std::uint32_t i = 0; i < 4; ++i) {
    EXPECT_FALSE(c.state(i, 4).has_value()) << "at node " << i;
    for (std::uint32_t j = 0; j < 4; ++j) EXPECT_EQ(c.state(i, j), MemberState::kAlive) << i << " sees " << j;
    refused += c.core(i)->counters().members_refused;
  }
  EXPECT_GT(refused, 0U);
  // Expelling an unknown id, or this node itself, changes nothing.
  ASSERT_TRUE(c.sim().act(c.id(0), [&](Core& core, Instant now) {
    auto& g = static_cast<GossipCore&>(core);
    (void)g.expel(c.id(4), now);  // only a wake-up: nothing to send
    return g.expel(c.id(0), now);
  }).is_ok());
  EXPECT_EQ(c.core(0)->counters().members_expelled, 1U);
  EXPECT_EQ(c.state(0, 0), MemberState::kAlive);
}

TEST(GossipCore, PublishedRecordReachesEveryMember) {
  Cluster c(8);
  c.run_for(500ms);
  const Bytes record = sim::make_fake_record(c.id(0), 0, 10);
  ASSERT_TRUE(c.sim().act(c.id(0), [&](Core& core, Instant now) {
    return static_cast<GossipCore&>(core).set_own_record(record, now);
  }).is_ok());
  c.run_for(1s);
  for (std::uint32_t i = 0; i < 8; ++i) EXPECT_EQ(record_sequence(*c.core(i), c.id(0)), 10U) << "at node " << i;
}

TEST(GossipCore, ForgedRecordIsDroppedAndCounted) {
  Cluster c(3);
  c.run_for(100ms);
  Bytes forged = sim::make_fake_record(c.id(1), 0, 7);
  forged[60] ^= 0x01;  // a byte of the body: the tag no longer matches
  c.core(0)->receive(c.id(2), encode(alive_with_record(c.id(1), forged)), c.sim().now());
  EXPECT_EQ(c.core(0)->counters().records_bad_signature, 1U);
  EXPECT_NE(record_sequence(*c.core(0), c.id(1)), 7U);
}

TEST(GossipCore, RecordAboutAnotherKeyIsDroppedAndCounted) {
  Cluster c(3);
  c.run_for(100ms);
  const Bytes foreign = sim::make_fake_record(c.id(2), 0, 9);  // validly signed, but by node 2
  c.core(0)->receive(c.id(2), encode(alive_with_record(c.id(1), foreign)), c.sim().now());
  EXPECT_EQ(c.core(0)->counters().records_foreign, 1U);
  EXPECT_NE(record_sequence(*c.core(0), c.id(1)), 9U);
}

TEST(GossipCore, OversizedRecordIsDroppedAndCounted) {
  Cluster c(3);
  c.run_for(100ms);
  const Bytes big = sim::make_fake_record(c.id(1), 0, 9, 2000);
  c.core(0)->receive(c.id(2), encode(alive_with_record(c.id(1), big)), c.sim().now());
  EXPECT_EQ(c.core(0)->counters().records_oversized, 1U);
  EXPECT_NE(record_sequence(*c.core(0), c.id(1)), 9U);
}

TEST(GossipCore, ReplayedOlderRecordIsDroppedAndCounted) {
  Cluster c(3);
  c.run_for(100ms);
  c.core(0)->receive(c.id(2), encode(alive_with_record(c.id(1), sim::make_fake_record(c.id(1), 0, 5))), c.sim().now());
  ASSERT_EQ(record_sequence(*c.core(0), c.id(1)), 5U);
  c.core(0)->receive(c.id(2), encode(alive_with_record(c.id(1), sim::make_fake_record(c.id(1), 0, 3))), c.sim().now());
  EXPECT_EQ(c.core(0)->counters().records_replayed, 1U);
  EXPECT_EQ(record_sequence(*c.core(0), c.id(1)), 5U);
}

TEST(GossipCore, MalformedMessagesAreDroppedCountedAndChangeNothing) {
  Cluster c(3);
  c.run_for(200ms);
  GossipCore& core = *c.core(0);
  const auto before = core.members();
  Rng rng(7);
  Bytes valid = encode(alive_with_record(c.id(1), sim::make_fake_record(c.id(1), 0, 5)));
  std::uint64_t sent = 0;
  for (int i = 0; i < 2000; ++i) {
    Bytes bytes;
    if (i % 2 == 0) {
      bytes.resize(rng.uniform(200));
      for (auto& b : bytes) b = static_cast<std::uint8_t>(rng.next());
    } else {
      bytes = valid;
      bytes.resize(rng.uniform(valid.size()) & ~std::size_t{7});  // truncated
    }
    core.receive(c.id(2), bytes, c.sim().now());
    ++sent;
  }
  EXPECT_EQ(core.counters().malformed, sent);
  const auto after = core.members();
  ASSERT_EQ(before.size(), after.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].state, after[i].state);
    EXPECT_EQ(before[i].incarnation, after[i].incarnation);
  }
  EXPECT_TRUE(check_invariants(core).is_ok());
}

TEST(GossipCore, RefusesAStoredIncarnationOfTheWrongSize) {
  DurableRecords durable;
  durable[{Column::kMeta, kIncarnationKey}] = Bytes{1, 2, 3};
  GossipOptions o;
  o.verifier = std::make_shared<sim::FakeRecordVerifier>();
  auto core = GossipCore::create(sim::sim_node_id(0), std::move(o), durable, 1);
  ASSERT_FALSE(core.is_ok());
  EXPECT_EQ(core.status().code(), StatusCode::kDataLoss);
}

TEST(GossipCore, EstimatesRttFromVivaldiCoordinates) {
  Cluster c(4);
  c.run_for(20s);
  auto rtt = c.core(0)->estimated_rtt(c.id(1));
  ASSERT_TRUE(rtt.has_value());
  EXPECT_GT(rtt->count(), 500);    // true RTT is ~2 ms (1 ms each way)
  EXPECT_LT(rtt->count(), 6'000);
  auto between = c.core(0)->estimated_rtt(c.id(2), c.id(3));
  EXPECT_TRUE(between.has_value());
  EXPECT_EQ(c.core(0)->bandwidth_bps(c.id(1)), c.core(0)->config().bandwidth_default_bps);
  c.core(0)->observe_transfer(c.id(1), 1'000'000, 100ms);
  EXPECT_EQ(c.core(0)->bandwidth_bps(c.id(1)), 80'000'000U);
}

TEST(GossipCore, MeasuredLinksAreAnEwmaAndReportChangesOnce) {
  Cluster c(3);
  GossipCore& core = *c.core(0);
  EXPECT_TRUE(core.measured_links().empty());
  EXPECT_FALSE(core.take_links_changed());
  core.observe_transfer(c.id(1), 1'000'000, 100ms);  // 80 Mbit/s
  core.observe_transfer(c.id(2), 0, 100ms);          // nothing moved: no sample
  core.observe_transfer(c.id(2), 1'000, Duration::zero());  // no time: no sample
  ASSERT_EQ(core.measured_links().size(), 1U);
  EXPECT_EQ(core.measured_links()[0], std::make_pair(c.id(1), std::uint64_t{80'000'000}));
  EXPECT_TRUE(core.take_links_changed());
  EXPECT_FALSE(core.take_links_changed());
  // 76 Mbit/s with alpha 0.2: 0.2 x 76 + 0.8 x 80 = 79.2 Mbit/s, 1% moved.
  core.observe_transfer(c.id(1), 950'000, 100ms);
  EXPECT_NEAR(static_cast<double>(core.bandwidth_bps(c.id(1))), 79.2e6, 2.0);
  EXPECT_FALSE(core.take_links_changed());
  core.observe_transfer(c.id(1), 250'000, 100ms);  // 20 Mbit/s: 67.4, 16% below what was taken
  EXPECT_NEAR(static_cast<double>(core.bandwidth_bps(c.id(1))), 67.36e6, 2.0);
  EXPECT_TRUE(core.take_links_changed());
  EXPECT_EQ(core.bandwidth_bps(c.id(2)), core.config().bandwidth_default_bps);
}

// One core alone with two members that never answer; the test plays them.
std::unique_ptr<GossipCore> lone_core(std::shared_ptr<sim::FakeRecordVerifier> verifier,
                                      GossipConfig config = testing::test_config()) {
  GossipOptions o;
  o.config = std::move(config);
  o.verifier = std::move(verifier);
  o.initial_members.emplace_back(sim::sim_node_id(1), nullptr);
  o.initial_members.emplace_back(sim::sim_node_id(2), nullptr);
  o.initial_members.emplace_back(sim::sim_node_id(3), nullptr);
  o.own_record = sim::make_fake_record(sim::sim_node_id(0), 0, 1);
  auto core = GossipCore::create(sim::sim_node_id(0), std::move(o), {}, 1);
  EXPECT_TRUE(core.is_ok());
  return std::move(*core);
}

std::vector<Message> decoded(const Effects& effects) {
  Codec codec;
  std::vector<Message> out;
  for (const OutMessage& m : effects.send) {
    auto message = codec.decode(m.bytes);
    EXPECT_TRUE(message.is_ok());
    out.push_back(std::move(*message));
  }
  return out;
}

TEST(GossipCore, RefutationTravelsWithoutTheRecord) {
  auto core = lone_core(std::make_shared<sim::FakeRecordVerifier>());
  // Let the start-up announcement (with the record) run out its budget
  // first: a refutation would rightly carry a record still spreading.
  // (10 sends, 3 per 20 ms gossip round: gone well within 150 ms.)
  for (std::int64_t t_us = 0; t_us <= 150'000; t_us += 10'000) core->tick(instant_from_us(t_us));
  Update accusation;
  accusation.kind = UpdateKind::kSuspect;
  accusation.node = core->self();
  accusation.incarnation = 0;
  accusation.accuser = id_prefix(sim::sim_node_id(1));
  const Effects effects = core->receive(sim::sim_node_id(1), encode(Message{GossipOnly{}, {accusation}}), instant_from_us(155'000));
  EXPECT_EQ(core->incarnation(), 1U);
  bool refuted = false;
  for (const Message& m : decoded(effects)) {
    for (const Update& u : m.updates) {
      if (u.node != core->self() || u.kind != UpdateKind::kAlive) continue;
      EXPECT_EQ(u.incarnation, 1U);
      EXPECT_TRUE(u.record.empty()) << "members hold the record already";
      refuted = true;
    }
  }
  EXPECT_TRUE(refuted) << "own news goes out at once";
}

TEST(GossipCore, UnansweredPingIsRetriedWithTheIndirectProbes) {
  auto core = lone_core(std::make_shared<sim::FakeRecordVerifier>());
  std::optional<std::uint32_t> seq;
  NodeId target;
  std::int64_t now_us = 0;
  for (int i = 0; i < 100 && !seq; ++i, now_us += 10'000) {  // bounded: first probe within one interval
    for (const auto& [to, m] : [&] {
           std::vector<std::pair<NodeId, Message>> v;
           const Effects e = core->tick(instant_from_us(now_us));
           const auto ms = decoded(e);
           for (std::size_t k = 0; k < ms.size(); ++k) v.emplace_back(e.send[k].to, ms[k]);
           return v;
         }()) {
      if (const auto* ping = std::get_if<Ping>(&m.body)) {
        seq = ping->seq;
        target = to;
      }
    }
  }
  ASSERT_TRUE(seq.has_value());
  const Effects later = core->tick(instant_from_us(now_us + to_us(testing::test_config().probe_timeout)));
  const auto messages = decoded(later);
  std::size_t ping_reqs = 0, retries = 0;
  for (std::size_t k = 0; k < messages.size(); ++k) {
    if (std::holds_alternative<PingReq>(messages[k].body)) ++ping_reqs;
    const auto* ping = std::get_if<Ping>(&messages[k].body);
    if (ping != nullptr && ping->seq == *seq && later.send[k].to == target) ++retries;
  }
  EXPECT_EQ(ping_reqs, 2U);  // the other two members
  EXPECT_EQ(retries, 1U);
}

// Starts the first probe; returns its seq and target, and the time it went out.
std::optional<std::uint32_t> first_probe(GossipCore& core, NodeId& target, std::int64_t& now_us) {
  for (int i = 0; i < 100; ++i, now_us += 10'000) {  // bounded: first probe within one interval
    const Effects e = core.tick(instant_from_us(now_us));
    const auto ms = decoded(e);
    for (std::size_t k = 0; k < ms.size(); ++k) {
      if (const auto* ping = std::get_if<Ping>(&ms[k].body)) {
        target = e.send[k].to;
        return ping->seq;
      }
    }
  }
  return std::nullopt;
}

TEST(GossipCore, StagedProbeRetriesDirectlyBeforeAskingOthers) {
  GossipConfig config = testing::test_config();
  config.retry_before_indirect = true;  // timeout 40 ms, deadline 90 ms
  auto core = lone_core(std::make_shared<sim::FakeRecordVerifier>(), config);
  NodeId target;
  std::int64_t start_us = 0;
  const auto seq = first_probe(*core, target, start_us);
  ASSERT_TRUE(seq.has_value());
  auto count = [&](const Effects& e, std::size_t& ping_reqs, std::size_t& retries) {
    const auto ms = decoded(e);
    for (std::size_t k = 0; k < ms.size(); ++k) {
      if (std::holds_alternative<PingReq>(ms[k].body)) ++ping_reqs;
      const auto* ping = std::get_if<Ping>(&ms[k].body);
      if (ping != nullptr && ping->seq == *seq && e.send[k].to == target) ++retries;
    }
  };
  std::size_t ping_reqs = 0, retries = 0;
  // The retry by a third of the deadline (30 ms), alone.
  const Effects retry = core->tick(instant_from_us(start_us + 30'000));
  count(retry, ping_reqs, retries);
  EXPECT_EQ(retries, 1U);
  EXPECT_EQ(ping_reqs, 0U);
  EXPECT_LE(to_us(*retry.wake_at), start_us + 45'000) << "wakes for the indirect stage";
  // The others at min(2 x timeout, deadline / 2) = 45 ms; no third ping.
  ping_reqs = retries = 0;
  count(core->tick(instant_from_us(start_us + 45'000)), ping_reqs, retries);
  EXPECT_EQ(ping_reqs, 2U);
  EXPECT_EQ(retries, 0U);
}

TEST(GossipCore, StagedProbeAnsweredByTheRetryAsksNoOne) {
  GossipConfig config = testing::test_config();
  config.retry_before_indirect = true;
  auto core = lone_core(std::make_shared<sim::FakeRecordVerifier>(), config);
  NodeId target;
  std::int64_t start_us = 0;
  const auto seq = first_probe(*core, target, start_us);
  ASSERT_TRUE(seq.has_value());
  (void)core->tick(instant_from_us(start_us + 30'000));  // the retry
  (void)core->receive(target, encode(Message{Ack{*seq, std::nullopt}, {}}), instant_from_us(start_us + 32'000));
  EXPECT_EQ(core->probes_in_flight(), 0U);
  const auto later = decoded(core->tick(instant_from_us(start_us + 45'000)));
  for (const Message& m : later) EXPECT_FALSE(std::holds_alternative<PingReq>(m.body));
  EXPECT_EQ(core->counters().probes_indirect, 0U);
}

TEST(GossipCore, SharedInitialMembersMaySkipSelfAndAddToTheOwnList) {
  GossipOptions o;
  o.config = testing::test_config();
  o.verifier = std::make_shared<sim::FakeRecordVerifier>();
  o.initial_members.emplace_back(sim::sim_node_id(1), nullptr);
  auto shared = std::make_shared<GossipOptions::InitialMembers>();
  for (std::uint32_t i = 0; i < 4; ++i) shared->emplace_back(sim::sim_node_id(i), nullptr);  // self and 1 again
  o.shared_initial_members = shared;
  auto core = GossipCore::create(sim::sim_node_id(0), std::move(o), {}, 1);
  ASSERT_TRUE(core.is_ok());
  EXPECT_EQ((*core)->member_count(), 4U);  // self, 1, 2, 3: once each
  EXPECT_EQ((*core)->alive_count(), 4U);
  EXPECT_TRUE(check_invariants(**core).is_ok());
}

TEST(GossipCore, WithADirectoryKeepsDirectoryMembersAndNewcomersAlike) {
  std::vector<NodeId> ids;
  for (std::uint32_t i = 0; i < 4; ++i) ids.push_back(sim::sim_node_id(i));
  GossipOptions o;
  o.config = testing::test_config();
  o.verifier = std::make_shared<sim::FakeRecordVerifier>();
  auto shared = std::make_shared<GossipOptions::InitialMembers>();
  for (const NodeId& id : ids) shared->emplace_back(id, nullptr);
  o.shared_initial_members = shared;
  o.directory = std::make_shared<const MemberDirectory>(ids);
  auto created = GossipCore::create(ids[2], std::move(o), {}, 1);
  ASSERT_TRUE(created.is_ok());
  GossipCore& core = **created;
  EXPECT_EQ(core.self_slot(), MemberDirectory(ids).find(ids[2]));  // its place in the directory
  EXPECT_EQ(core.member_count(), 4U);
  // A member the directory does not know joins like any other.
  const NodeId newcomer = sim::sim_node_id(9);
  Update alive;
  alive.kind = UpdateKind::kAlive;
  alive.node = newcomer;
  alive.incarnation = 3;
  (void)core.receive(ids[1], encode(Message{GossipOnly{}, {alive}}), instant_from_us(1000));
  ASSERT_TRUE(core.member(newcomer).has_value());
  EXPECT_EQ(core.member(newcomer)->incarnation, 3U);
  EXPECT_GE(core.table().find(newcomer), 4U);
  EXPECT_EQ(core.member_count(), 5U);
  EXPECT_EQ(core.alive_count(), 5U);
  EXPECT_TRUE(check_invariants(core).is_ok());
  const auto members = core.members();
  ASSERT_EQ(members.size(), 5U);
  for (std::size_t i = 1; i < members.size(); ++i) EXPECT_LT(members[i - 1].id, members[i].id);
}

TEST(GossipCore, ProbesTwiceAsOftenUntilVivaldiHasItsFirstSamples) {
  GossipConfig slow = testing::test_config();
  slow.vivaldi.fast_start_samples = 0;
  Cluster fast_start(4);
  Cluster steady(4, 1, slow);
  fast_start.run_for(2s);
  steady.run_for(2s);
  EXPECT_GT(fast_start.core(0)->counters().probes, steady.core(0)->counters().probes * 3 / 2);
}

}  // namespace
}  // namespace polder::gossip
