// ConsensusCore transitions and multi-node behaviours, driven by hand
// through the Harness (harness.h); invariants checked after every step.
#include "consensus/consensus_core.h"

#include <gtest/gtest.h>

#include "harness.h"

namespace polder::consensus {
namespace {

using testing::Envelope;
using testing::Harness;
using testing::decoded;
using testing::node;
using testing::spec_of;

const NodeId n1 = node(1), n2 = node(2), n3 = node(3), n4 = node(4), n5 = node(5);
// Replicas 1,2,3; origin 4 (not a replica); executor 5.
const InstanceSpec kSpec = spec_of(1, 0, {n1, n2, n3}, n4);
const Value kRun5 = Value::run(n5, 77);
const Value kRun3 = Value::run(n3, 88);

Harness five() { return Harness({n1, n2, n3, n4, n5}); }

std::size_t chosen_events_at(const Harness& h, const NodeId& n) {
  std::size_t count = 0;
  for (const auto& [at, e] : h.events()) count += (at == n && e.kind == kChosenEventKind) ? 1 : 0;
  return count;
}

TEST(ConsensusCore, AcceptorPersistsBeforeItsReply) {
  Harness h = five();
  Effects e = h.core(n1).receive(n4, encode_message(Accept{kSpec, Ballot::fast(n4), kRun5}), instant_from_us(h.now_us()));
  ASSERT_EQ(e.persist.size(), 1U);
  EXPECT_EQ(e.persist[0].column, Column::kAcceptor);
  EXPECT_EQ(e.persist[0].key, record_key(RecordKind::kAcceptor, kSpec.key));
  ASSERT_EQ(e.send.size(), 1U);
  auto reply = decode_message(e.send[0].bytes);
  ASSERT_TRUE(reply.is_ok());
  EXPECT_TRUE(std::holds_alternative<Accepted>(*reply));
}

TEST(ConsensusCore, BatchOfAcceptsIsOnePersistBeforeAllReplies) {
  Harness h = five();
  const InstanceSpec other = spec_of(2, 0, {n1, n2, n3}, n4);
  std::vector<Bytes> accepts = {encode_message(Accept{kSpec, Ballot::fast(n4), kRun5}),
                                encode_message(Accept{other, Ballot::fast(n4), kRun3})};
  Effects e = h.core(n1).receive(n4, encode_batch(accepts), instant_from_us(h.now_us()));
  // Both instances' acceptor records in the one persist that precedes
  // both replies, in the order the Accepts came.
  ASSERT_EQ(e.persist.size(), 2U);
  EXPECT_EQ(e.persist[0].key, record_key(RecordKind::kAcceptor, kSpec.key));
  EXPECT_EQ(e.persist[1].key, record_key(RecordKind::kAcceptor, other.key));
  ASSERT_EQ(e.send.size(), 2U);
  for (const auto& m : e.send) {
    auto reply = decode_message(m.bytes);
    ASSERT_TRUE(reply.is_ok());
    EXPECT_TRUE(std::holds_alternative<Accepted>(*reply));
  }
  EXPECT_EQ(h.core(n1).counters().malformed_dropped, 0U);
  // A garbage element is dropped and counted; the rest of its batch is handled.
  std::vector<Bytes> mixed = {Bytes(24, 0x33), encode_message(Accept{kSpec, Ballot::fast(n4), kRun5})};
  Effects again = h.core(n1).receive(n4, encode_batch(mixed), instant_from_us(h.now_us()));
  EXPECT_EQ(h.core(n1).counters().malformed_dropped, 1U);
  EXPECT_EQ(again.send.size(), 1U);
}

TEST(ConsensusCore, FastPathDecidesInOneRoundTrip) {
  Harness h = five();
  h.propose(n4, kSpec, kRun5);
  EXPECT_EQ(decoded<Accept>(h.inflight()).size(), 3U);
  EXPECT_EQ(h.disk(n4).count({Column::kAcceptor, record_key(RecordKind::kProposer, kSpec.key)}), 1U)
      << "ballot 0 is recorded as spent before the Accept leaves";
  h.deliver(nullptr, 1);  // Accept ->
  EXPECT_EQ(decoded<Accepted>(h.inflight()).size(), 3U);
  h.deliver(nullptr, 1);  // <- Accepted
  EXPECT_EQ(h.chosen_at(n4, kSpec.key), kRun5);
  EXPECT_EQ(h.core(n4).instance(kSpec.key)->proposer.ballots_tried(), 1U);
  EXPECT_EQ(h.core(n4).counters().prepares_started, 0U);
}

TEST(ConsensusCore, ChosenReachesReplicasAndExecutorWhichAcks) {
  Harness h = five();
  h.propose(n4, kSpec, kRun5);
  h.deliver();
  for (const NodeId& n : {n1, n2, n3, n4, n5}) EXPECT_EQ(h.chosen_at(n, kSpec.key), kRun5) << n.short_hex();
  EXPECT_EQ(chosen_events_at(h, n5), 1U);
  for (const NodeId& n : {n1, n2, n3, n4}) {
    const Instance* inst = h.core(n).instance(kSpec.key);
    EXPECT_FALSE(inst->announcing && !inst->executor_acked) << "still announcing at " << n.short_hex();
  }
}

TEST(ConsensusCore, LearnerNeedsAMajorityOfDistinctMembers) {
  Harness h = five();
  h.propose(n4, kSpec, kRun5);
  h.deliver(nullptr, 1);
  std::vector<Envelope> replies;
  replies.swap(h.inflight());
  const auto from = [&](const NodeId& n) {
    for (const Envelope& e : replies) if (e.from == n) return e;
    return Envelope{};
  };
  const Envelope a1 = from(n1), a2 = from(n2);
  for (int i = 0; i < 3; ++i) h.apply(n4, h.core(n4).receive(n1, a1.bytes, instant_from_us(h.now_us())));
  EXPECT_FALSE(h.chosen_at(n4, kSpec.key)) << "one member voting three times is not a majority";
  h.apply(n4, h.core(n4).receive(n5, a1.bytes, instant_from_us(h.now_us())));
  EXPECT_FALSE(h.chosen_at(n4, kSpec.key)) << "a non-member cannot vote";
  EXPECT_GE(h.core(n4).counters().non_member_ignored, 1U);
  h.apply(n4, h.core(n4).receive(n2, a2.bytes, instant_from_us(h.now_us())));
  EXPECT_EQ(h.chosen_at(n4, kSpec.key), kRun5);
}

TEST(ConsensusCore, NonMemberPromiseIsIgnored) {
  Harness h = five();
  h.propose(n2, kSpec, kRun3);  // a replica, not the origin: phase 1
  const auto prepares = decoded<Prepare>(h.inflight());
  ASSERT_EQ(prepares.size(), 2U);  // to the two other replicas; its own acceptor answered inline
  const Ballot b = prepares[0].ballot;
  EXPECT_EQ(b.node, n2);
  EXPECT_GE(b.round, 1U);
  h.inflight().clear();
  const Bytes promise = encode_message(Promise{kSpec.key, b, std::nullopt, std::nullopt});
  h.apply(n2, h.core(n2).receive(n5, promise, instant_from_us(h.now_us())));
  h.apply(n2, h.core(n2).receive(n4, promise, instant_from_us(h.now_us())));
  EXPECT_TRUE(decoded<Accept>(h.inflight()).empty()) << "promises from non-members must not complete phase 1";
  h.apply(n2, h.core(n2).receive(n1, promise, instant_from_us(h.now_us())));
  EXPECT_EQ(decoded<Accept>(h.inflight()).size(), 2U);
}

TEST(ConsensusCore, PhaseOneTakeoverAfterOriginCrash) {
  Harness h = five();
  h.propose(n4, kSpec, kRun5);
  h.deliver(nullptr, 1);  // the replicas accepted ballot 0
  h.crash(n4);            // ... and the origin died before hearing back
  h.deliver();
  for (int round = 0; round < 20 && !h.chosen_at(n1, kSpec.key); ++round) {
    h.advance_us(h.core(n1).options().rtt_us * 4);
    h.tick_all();
    h.deliver();
  }
  EXPECT_EQ(h.chosen_at(n1, kSpec.key), kRun5) << "the takeover must finish the origin's value";
  EXPECT_GE(h.core(n1).counters().takeovers + h.core(n2).counters().takeovers + h.core(n3).counters().takeovers, 1U);
}

TEST(ConsensusCore, ContendedProposersAgree) {
  for (std::uint8_t seed = 0; seed < 20; ++seed) {
    Harness h = five();
    const InstanceSpec spec = spec_of(seed, 0, {n1, n2, n3}, n1);
    h.propose(n1, spec, kRun5);
    h.propose(n2, spec, kRun3);
    for (int round = 0; round < 30 && !(h.chosen_at(n1, spec.key) && h.chosen_at(n2, spec.key)); ++round) {
      // Deliver in an order that depends on the seed.
      std::rotate(h.inflight().begin(), h.inflight().begin() + (h.inflight().empty() ? 0 : seed % h.inflight().size()),
                  h.inflight().end());
      h.deliver(nullptr, 1);
      h.advance_us(h.core(n1).options().rtt_us);
      h.tick_all();
    }
    ASSERT_TRUE(h.chosen_at(n1, spec.key));
    EXPECT_EQ(h.chosen_at(n1, spec.key), h.chosen_at(n2, spec.key));
    h.deliver();
    EXPECT_EQ(h.chosen_at(n3, spec.key), h.chosen_at(n1, spec.key));
  }
}

TEST(ConsensusCore, ChosenNeverChanges) {
  Harness h = five();
  h.propose(n4, kSpec, kRun5);
  h.deliver();
  ASSERT_EQ(h.chosen_at(n1, kSpec.key), kRun5);
  (void)h.core(n1).receive(n2, encode_message(Chosen{kSpec, kRun3}), instant_from_us(h.now_us()));
  EXPECT_EQ(h.chosen_at(n1, kSpec.key), kRun5);
  EXPECT_EQ(h.core(n1).counters().conflicting_chosen, 1U);
  // A late Accept of another value meets the decision, not the acceptor.
  Effects e = h.core(n1).receive(n2, encode_message(Accept{kSpec, Ballot{9, n2}, kRun3}), instant_from_us(h.now_us()));
  EXPECT_TRUE(e.persist.empty());
  ASSERT_EQ(e.send.size(), 1U);
  auto reply = decode_message(e.send[0].bytes);
  ASSERT_TRUE(reply.is_ok() && std::holds_alternative<Chosen>(*reply));
  EXPECT_EQ(std::get<Chosen>(*reply).value, kRun5);
}

TEST(ConsensusCore, RestoresPromiseFromDurableRecords) {
  Harness h = five();
  h.apply(n1, h.core(n1).receive(n2, encode_message(Prepare{kSpec, Ballot{5, n2}}), instant_from_us(h.now_us())));
  h.inflight().clear();
  h.crash(n1);
  h.start(n1);
  EXPECT_EQ(h.core(n1).instance(kSpec.key)->acceptor.promised, (Ballot{5, n2}));
  h.apply(n1, h.core(n1).receive(n3, encode_message(Prepare{kSpec, Ballot{4, n3}}), instant_from_us(h.now_us())));
  h.apply(n1, h.core(n1).receive(n3, encode_message(Accept{kSpec, Ballot{4, n3}, kRun3}), instant_from_us(h.now_us())));
  const auto rejects = decoded<Reject>(h.inflight());
  ASSERT_EQ(rejects.size(), 2U);
  EXPECT_EQ(rejects[0].promised, (Ballot{5, n2}));
  EXPECT_FALSE(h.core(n1).instance(kSpec.key)->acceptor.accepted_ballot);
}

TEST(ConsensusCore, RestartedNodeRecoversTheDecision) {
  Harness h = five();
  h.propose(n4, kSpec, kRun5);
  h.deliver();
  h.advance_us(h.core(n1).options().compaction_delay_us);
  h.tick_all();  // compaction
  h.crash(n2);
  h.start(n2);
  EXPECT_EQ(h.chosen_at(n2, kSpec.key), kRun5);
}

TEST(ConsensusCore, DecisionCompactsToOneRecord) {
  Harness h = five();
  h.propose(n4, kSpec, kRun5);
  h.deliver();
  h.tick_all();
  ASSERT_EQ(h.disk(n1).size(), 1U);
  EXPECT_EQ(h.disk(n1).begin()->first.second, record_key(RecordKind::kAcceptor, kSpec.key))
      << "an idle node waits compaction_delay_us before a write of its own";
  h.advance_us(h.core(n1).options().compaction_delay_us);
  h.tick_all();
  for (const NodeId& n : {n1, n2, n3, n4}) {
    ASSERT_EQ(h.disk(n).size(), 1U) << n.short_hex();
    EXPECT_EQ(h.disk(n).begin()->first.second, record_key(RecordKind::kDecision, kSpec.key));
  }
}

// The origin's fast Accept travels with its own Accepted: a replica that
// accepts it holds two accepts of three and learns the value at once,
// without the origin's announcement (half a round trip and the origin's
// next write later).
TEST(ConsensusCore, ReplicaLearnsTheFastBallotWithoutWaitingForTheAnnouncement) {
  Harness h({n1, n2, n3});
  const InstanceSpec spec = spec_of(22, 0, {n1, n2, n3}, n1);
  h.propose(n1, spec, kRun3);
  h.deliver([](const Envelope& e) { return e.from == n1 && e.to == n2; }, 1);
  EXPECT_EQ(h.chosen_at(n2, spec.key), kRun3);
  EXPECT_EQ(h.core(n2).counters().learned_fast, 1U);
  EXPECT_FALSE(h.chosen_at(n1, spec.key)) << "n2's Accepted has not reached the origin yet";
  h.deliver();
  EXPECT_EQ(h.chosen_at(n1, spec.key), kRun3);
  EXPECT_EQ(h.chosen_at(n3, spec.key), kRun3);
}

// A replica that refused the fast ballot (it promised higher) holds no
// accept of it: the origin's Accepted alone is one vote, and it waits.
TEST(ConsensusCore, ReplicaThatRefusedTheFastBallotDoesNotLearnFromItsAccepted) {
  Harness h({n1, n2, n3});
  const InstanceSpec spec = spec_of(23, 0, {n1, n2, n3}, n1);
  h.propose(n3, spec, kRun5);  // Prepare(1, n3) to n1 and n2
  h.deliver([](const Envelope& e) { return e.from == n3 && e.to == n2; }, 1);
  h.inflight().clear();        // n2 promised (1, n3); nothing else arrives
  h.propose(n1, spec, kRun3);
  h.deliver([](const Envelope& e) { return e.from == n1 && e.to == n2; }, 1);
  EXPECT_FALSE(h.chosen_at(n2, spec.key));
  EXPECT_EQ(h.core(n2).counters().learned_fast, 0U);
}

TEST(ConsensusCore, CompactionRidesOnTheNextWriteWithoutWaiting) {
  Harness h({n1, n2, n3});
  const InstanceSpec first = spec_of(20, 0, {n1, n2, n3}, n1);
  const InstanceSpec second = spec_of(21, 0, {n1, n2, n3}, n1);
  h.propose(n1, first, kRun3);
  h.deliver();
  ASSERT_TRUE(h.chosen_at(n2, first.key));
  // The next Accept's durable write at n2 carries the first decision's
  // compaction: one write, no separate one for the compaction.
  Effects e = h.core(n1).propose(second, kRun3, instant_from_us(h.now_us())).value();
  h.apply(n1, std::move(e));
  std::vector<Envelope> to_n2;
  for (auto& m : h.inflight()) {
    if (m.to == n2) to_n2.push_back(m);
  }
  ASSERT_EQ(to_n2.size(), 2U) << "the Accept, then the origin's own Accepted";
  Effects at_n2 = h.core(n2).receive(n1, to_n2[0].bytes, instant_from_us(h.now_us()));
  bool decision = false, accept = false;
  for (const PersistOp& op : at_n2.persist) {
    decision |= op.key == record_key(RecordKind::kDecision, first.key) && !op.erase;
    accept |= op.key == record_key(RecordKind::kAcceptor, second.key) && !op.erase;
  }
  EXPECT_TRUE(decision && accept);
  h.apply(n2, std::move(at_n2));
}

TEST(ConsensusCore, ProposerNeverReusesARoundAfterRestart) {
  Harness h = five();
  h.propose(n2, kSpec, kRun3);
  const std::uint64_t first = decoded<Prepare>(h.inflight())[0].ballot.round;
  h.inflight().clear();
  h.tick_all();  // the next call writes the round
  h.crash(n2);
  h.start(n2);
  h.propose(n2, kSpec, kRun5);
  const auto prepares = decoded<Prepare>(h.inflight());
  ASSERT_FALSE(prepares.empty());
  EXPECT_GT(prepares[0].ballot.round, first);
}

TEST(ConsensusCore, PrepareLeavesBeforeItsRoundIsWrittenAndTheNextCallWritesIt) {
  Harness h = five();
  auto proposed = h.core(n2).propose(kSpec, kRun3, instant_from_us(h.now_us()));
  ASSERT_TRUE(proposed.is_ok());
  EXPECT_TRUE(proposed->persist.empty()) << "no durable write in front of the Prepares";
  EXPECT_EQ(proposed->send.size(), 2U) << "to n1 and n3; n2's own acceptor promises in the next call";
  ASSERT_TRUE(proposed->wake_at.has_value());
  EXPECT_LE(to_us(*proposed->wake_at), h.now_us()) << "the next call is due at once";
  h.apply(n2, std::move(proposed).value());
  Effects next = h.core(n2).tick(instant_from_us(h.now_us()));
  bool round_written = false, promise_written = false;
  for (const PersistOp& op : next.persist) {
    round_written |= op.key == record_key(RecordKind::kProposer, kSpec.key);
    promise_written |= op.key == record_key(RecordKind::kAcceptor, kSpec.key);
  }
  EXPECT_TRUE(round_written);
  EXPECT_TRUE(promise_written);
  h.apply(n2, std::move(next));
}

// The Prepare's round was not yet on disk when the proposer crashed, so
// the restarted proposer uses it again: for a Prepare only, and every
// Accept of a round carries one value (the round was written before the
// first Accept left).
TEST(ConsensusCore, RoundReusedAfterACrashBeforeItsWriteCarriesOneValue) {
  Harness h = five();
  h.propose(n2, kSpec, kRun3);
  const std::uint64_t first = decoded<Prepare>(h.inflight())[0].ballot.round;
  h.deliver(nullptr, 1);  // n1 and n3 promise; the Promises are lost with the crash
  h.crash(n2);
  h.inflight().clear();
  h.start(n2);
  h.propose(n2, kSpec, kRun5);
  const auto prepares = decoded<Prepare>(h.inflight());
  ASSERT_FALSE(prepares.empty());
  EXPECT_EQ(prepares[0].ballot.round, first) << "no Accept of the round left, so it was not written";
  std::map<Ballot, std::vector<Value>> accepts;
  h.deliver([&](const Envelope& e) {
    auto m = decode_message(e.bytes);
    if (m && std::holds_alternative<Accept>(*m)) {
      auto& values = accepts[std::get<Accept>(*m).ballot];
      const Value& v = std::get<Accept>(*m).value;
      if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
    }
    return true;
  });
  EXPECT_EQ(h.chosen_at(n1, kSpec.key), kRun5);
  ASSERT_FALSE(accepts.empty());
  for (const auto& [ballot, values] : accepts) EXPECT_EQ(values.size(), 1U) << ballot.to_string();
  // Written now: one more restart does not use the round again.
  h.crash(n2);
  h.start(n2);
  EXPECT_GE(h.core(n2).instance(kSpec.key) ? h.core(n2).instance(kSpec.key)->proposer.round_max() : 0U, first);
}

TEST(ConsensusCore, AcceptAfterPhaseOneLeavesBeforeTheOwnAcceptorsWrite) {
  Harness h = five();
  h.propose(n2, kSpec, kRun3);
  h.tick_all();  // n2 writes its round and promise
  h.deliver(nullptr, 1);  // n1 and n3 promise
  std::vector<Envelope> promises;
  promises.swap(h.inflight());
  ASSERT_EQ(decoded<Promise>(promises).size(), 2U);
  Effects e = h.core(n2).receive(n1, promises[0].bytes, instant_from_us(h.now_us()));
  EXPECT_TRUE(e.persist.empty()) << "the Accepts do not wait for n2's own acceptor";
  const auto accepts = [&] {
    std::vector<Envelope> out;
    for (OutMessage& m : e.send) out.push_back({n2, m.to, m.bytes});
    return decoded<Accept>(out);
  }();
  EXPECT_EQ(accepts.size(), 2U);
  h.apply(n2, std::move(e));
  Effects next = h.core(n2).tick(instant_from_us(h.now_us()));
  ASSERT_EQ(next.persist.size(), 1U);
  EXPECT_EQ(next.persist[0].key, record_key(RecordKind::kAcceptor, kSpec.key));
  h.apply(n2, std::move(next));
  h.deliver();
  EXPECT_EQ(h.chosen_at(n2, kSpec.key), kRun3);
  EXPECT_EQ(h.chosen_at(n1, kSpec.key), kRun3);
}

TEST(ConsensusCore, TimedOutPhaseIsSentAgainAtTheSameBallot) {
  Harness h = five();
  h.propose(n2, kSpec, kRun3);
  const auto first = decoded<Prepare>(h.inflight());
  ASSERT_EQ(first.size(), 2U);
  h.tick_all();
  h.deliver([&](const Envelope& e) { return e.to != n3; }, 1);  // n1 promises; n3 never hears
  const std::int64_t timeout_us = static_cast<std::int64_t>(h.core(n2).options().phase_timeout_rtts *
                                                             static_cast<double>(h.core(n2).rtt_unit_us()));
  h.deliver([&](const Envelope& e) { return e.to == n2; }, 1);  // n1's Promise counts: phase 2
  h.inflight().clear();                                          // and its Accepts are lost
  h.advance_us(timeout_us + 1);
  h.tick_all();
  const auto again = decoded<Accept>(h.inflight());
  ASSERT_EQ(again.size(), 2U) << "to n1 and n3, which did not answer";
  EXPECT_EQ(again[0].ballot, first[0].ballot) << "no Reject came, so no new round";
  EXPECT_EQ(h.core(n2).counters().retransmissions, 1U);
  h.deliver();
  EXPECT_EQ(h.chosen_at(n2, kSpec.key), kRun3);
  EXPECT_EQ(h.core(n2).instance(kSpec.key)->proposer.ballots_tried(), 1U);
}

TEST(ConsensusCore, TimedOutPhaseWithARejectTriesAHigherRound) {
  Harness h = five();
  // n3 promised (5, n2) already; n1's Prepare (1, n1) then meets it.
  h.apply(n3, h.core(n3).receive(n2, encode_message(Prepare{kSpec, Ballot{5, n2}}), instant_from_us(h.now_us())));
  h.inflight().clear();
  h.propose(n1, kSpec, kRun5);
  h.tick_all();
  h.deliver([&](const Envelope& e) { return e.to != n2; }, 2);  // n2 never hears; n3's Reject reaches n1
  h.inflight().clear();
  const Instance* inst = h.core(n1).instance(kSpec.key);
  ASSERT_EQ(inst->proposer.phase(), Proposer::Phase::kPreparing) << "one Reject of three is no lost majority";
  ASSERT_TRUE(inst->proposer.rejected());
  const std::int64_t timeout_us = static_cast<std::int64_t>(h.core(n1).options().phase_timeout_rtts *
                                                             static_cast<double>(h.core(n1).rtt_unit_us()));
  std::vector<Prepare> prepares;
  for (int i = 0; i < 20 && prepares.empty(); ++i) {
    h.advance_us(timeout_us);
    h.tick_all();
    prepares = decoded<Prepare>(h.inflight());
    h.inflight().clear();
  }
  ASSERT_FALSE(prepares.empty());
  EXPECT_GT(prepares[0].ballot.round, 5U) << "a Reject means only a round above the promised one can win";
  EXPECT_EQ(h.core(n1).counters().retransmissions, 0U);
}

TEST(ConsensusCore, OriginNeverReusesTheFastBallotAfterRestart) {
  Harness h = five();
  h.propose(n4, kSpec, kRun5);
  h.inflight().clear();  // the Accepts may or may not have left
  h.crash(n4);
  h.start(n4);
  h.propose(n4, kSpec, kRun3);
  EXPECT_TRUE(decoded<Accept>(h.inflight()).empty()) << "ballot 0 was spent with another value";
  // The restored origin resumes its own proposal through phase 1.
  h.advance_us(h.core(n4).options().rtt_us * 3);
  h.tick_all();
  EXPECT_TRUE(decoded<Accept>(h.inflight()).empty());
  const auto prepares = decoded<Prepare>(h.inflight());
  ASSERT_FALSE(prepares.empty());
  EXPECT_GE(prepares[0].ballot.round, 1U);
  h.deliver();
  EXPECT_EQ(h.chosen_at(n1, kSpec.key), kRun5) << "the value spent with ballot 0 stays the origin's proposal";
}

TEST(ConsensusCore, MalformedMessageIsDroppedAndCounted) {
  Harness h = five();
  for (const Bytes& bad : {Bytes{}, Bytes(7, 1), Bytes(64, 0xff), Bytes(WireLimits{}.max_message_bytes + 8, 0)}) {
    Effects e = h.core(n1).receive(n2, bad, instant_from_us(h.now_us()));
    EXPECT_TRUE(e.persist.empty());
    EXPECT_TRUE(e.send.empty());
    EXPECT_TRUE(e.events.empty());
  }
  EXPECT_EQ(h.core(n1).counters().malformed_dropped, 4U);
  EXPECT_TRUE(h.core(n1).instances().empty());
}

TEST(ConsensusCore, ForgedBallotsAndOutsidersAreIgnored) {
  Harness h = five();
  // n3 sends a ballot in n2's name; n5 (not a replica, not the origin) proposes.
  Effects forged = h.core(n1).receive(n3, encode_message(Prepare{kSpec, Ballot{3, n2}}), instant_from_us(h.now_us()));
  Effects outsider = h.core(n1).receive(n5, encode_message(Prepare{kSpec, Ballot{3, n5}}), instant_from_us(h.now_us()));
  Effects fast = h.core(n1).receive(n2, encode_message(Accept{kSpec, Ballot::fast(n2), kRun3}), instant_from_us(h.now_us()));
  for (const Effects* e : {&forged, &outsider, &fast}) {
    EXPECT_TRUE(e->persist.empty());
    EXPECT_TRUE(e->send.empty());
  }
  EXPECT_EQ(h.core(n1).counters().bad_ballot_ignored, 2U);
  EXPECT_EQ(h.core(n1).counters().non_member_ignored, 1U);
}

TEST(ConsensusCore, ReplicaSetIsFixedPerInstance) {
  Harness h = five();
  h.apply(n1, h.core(n1).receive(n4, encode_message(Accept{kSpec, Ballot::fast(n4), kRun5}), instant_from_us(h.now_us())));
  InstanceSpec other = kSpec;
  other.replicas = {n1, n2, n5};
  Effects e = h.core(n1).receive(n2, encode_message(Prepare{other, Ballot{2, n2}}), instant_from_us(h.now_us()));
  EXPECT_TRUE(e.send.empty());
  EXPECT_EQ(h.core(n1).counters().spec_mismatch_ignored, 1U);
}

TEST(ConsensusCore, OnlyReplicasAndOriginMayPropose) {
  Harness h = five();
  auto r = h.core(n5).propose(kSpec, kRun5, instant_from_us(h.now_us()));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(h.core(n5).instances().empty());
}

TEST(ConsensusCore, QueryLearnsTheChosenValue) {
  Harness h = five();
  h.propose(n4, kSpec, kRun3);
  h.deliver();
  auto q = h.core(n5).query(kSpec, instant_from_us(h.now_us()));
  ASSERT_TRUE(q.is_ok());
  h.apply(n5, std::move(q).value());
  h.deliver();
  EXPECT_EQ(h.chosen_at(n5, kSpec.key), kRun3);
  EXPECT_EQ(chosen_events_at(h, n5), 1U);
}

TEST(ConsensusCore, ProposingADecidedInstanceRepeatsTheEvent) {
  Harness h = five();
  h.propose(n4, kSpec, kRun5);
  h.deliver();
  const std::size_t before = chosen_events_at(h, n4);
  h.propose(n4, kSpec, kRun3);
  EXPECT_EQ(chosen_events_at(h, n4), before + 1);
  EXPECT_EQ(h.chosen_at(n4, kSpec.key), kRun5);
}

// kSpec decided with kRun5 everywhere, then its job forgotten at n1.
void decide_then_forget_at_n1(Harness& h) {
  h.propose(n4, kSpec, kRun5);
  h.deliver();
  h.tick_all();
  h.apply(n1, h.core(n1).forget(kSpec.key.job, instant_from_us(h.now_us())));
}

TEST(ConsensusCore, ForgetErasesInstancesAfterRetention) {
  ConsensusOptions options = testing::phase_one_at_once();
  options.retention_us = 5'000'000;
  Harness h({n1, n2, n3, n4, n5}, options);
  decide_then_forget_at_n1(h);
  h.advance_us(options.retention_us - 1);
  h.tick_all();
  EXPECT_TRUE(h.core(n1).instance(kSpec.key));
  // Due now, but the erase waits for a write that happens anyway ...
  h.advance_us(1);
  h.tick_all();
  EXPECT_TRUE(h.core(n1).instance(kSpec.key));
  // ... or goes alone once it is compaction_delay_us late.
  h.advance_us(options.compaction_delay_us);
  h.tick_all();
  EXPECT_FALSE(h.core(n1).instance(kSpec.key));
  EXPECT_TRUE(h.disk(n1).empty());
}

TEST(ConsensusCore, ForgottenJobsEraseRidesTheNextWrite) {
  ConsensusOptions options = testing::phase_one_at_once();
  options.retention_us = 5'000'000;
  Harness h({n1, n2, n3, n4, n5}, options);
  decide_then_forget_at_n1(h);
  h.advance_us(options.retention_us);
  // Another instance's Accept makes n1 write: the erase goes in that batch.
  const InstanceSpec other = spec_of(30, 0, {n1, n2, n3}, n2);
  h.propose(n2, other, kRun3);
  h.deliver();
  EXPECT_FALSE(h.core(n1).instance(kSpec.key));
  for (const auto& [key, bytes] : h.disk(n1)) {
    auto parsed = parse_record_key(key.second);
    ASSERT_TRUE(parsed);
    EXPECT_NE(parsed->second.job, kSpec.key.job) << "a forgotten job's record is left";
  }
  EXPECT_EQ(h.chosen_at(n1, other.key), kRun3);
}

TEST(ConsensusCore, ExecutorLearnsDespiteLostAnnouncement) {
  Harness h = five();
  h.propose(n4, kSpec, kRun5);
  // Everything to the executor is lost for a while.
  h.deliver([](const Envelope& e) { return e.to != n5; });
  ASSERT_EQ(h.chosen_at(n1, kSpec.key), kRun5);
  EXPECT_FALSE(h.core(n5).chosen(kSpec.key));
  for (int round = 0; round < 10 && !h.core(n5).chosen(kSpec.key); ++round) {
    h.advance_us(h.core(n1).options().rtt_us * 8);
    h.tick_all();
    h.deliver();
  }
  EXPECT_EQ(h.chosen_at(n5, kSpec.key), kRun5);
}


TEST(RttEstimator, FollowsSamplesWithinItsBounds) {
  RttEstimator rtt(10'000, 200, 10'000, /*adaptive=*/true);
  EXPECT_EQ(rtt.unit_us(), 10'000);
  for (int i = 0; i < 50; ++i) rtt.sample(1'000);
  // srtt -> 1 ms and rttvar -> 0: the unit approaches the phase time.
  EXPECT_GE(rtt.unit_us(), 1'000);
  EXPECT_LE(rtt.unit_us(), 1'100);
  const std::int64_t settled = rtt.unit_us();
  rtt.timed_out();  // Karn: a timeout backs the timer off, no sample
  EXPECT_GE(rtt.unit_us(), 2 * settled - 1);
  rtt.timed_out();
  EXPECT_GE(rtt.unit_us(), 4 * settled - 2);
  // The next completed phase ends the backoff at once (RFC 6298 5.7).
  rtt.sample(1'000);
  EXPECT_GE(rtt.unit_us(), 1'000);
  EXPECT_LE(rtt.unit_us(), 1'100);
  for (int i = 0; i < 20; ++i) rtt.timed_out();
  EXPECT_EQ(rtt.unit_us(), 10'000) << "never above rtt_us";
  for (int i = 0; i < 200; ++i) rtt.sample(10);
  EXPECT_EQ(rtt.unit_us(), 200) << "never below rtt_min_us";
}

TEST(RttEstimator, FixedWhenNotAdaptive) {
  RttEstimator rtt(10'000, 200, 10'000, /*adaptive=*/false);
  rtt.sample(1'000);
  rtt.timed_out();
  EXPECT_EQ(rtt.unit_us(), 10'000);
}

TEST(ConsensusOptions, RttMinMustBePositiveAndAtMostRtt) {
  ConsensusOptions o;
  o.rtt_min_us = 0;
  EXPECT_FALSE(validate_consensus_options(o).is_ok());
  o.rtt_min_us = o.rtt_us + 1;
  EXPECT_FALSE(validate_consensus_options(o).is_ok());
  o.rtt_min_us = o.rtt_us;
  EXPECT_TRUE(validate_consensus_options(o).is_ok());
}

TEST(ConsensusCore, TimeoutUnitLearnsFromCompletedPhases) {
  Harness h({n1, n2, n3});
  EXPECT_EQ(h.core(n1).rtt_unit_us(), h.core(n1).options().rtt_us);
  for (std::uint8_t j = 0; j < 20; ++j) {
    h.propose(n1, spec_of(j, 0, {n1, n2, n3}, n1), kRun3);
    h.advance_us(1'500);  // every fast phase takes 1.5 ms
    h.deliver();
  }
  EXPECT_GE(h.core(n1).rtt_unit_us(), 1'500);
  EXPECT_LT(h.core(n1).rtt_unit_us(), 3'000) << "the unit follows the measured phase, not the 10 ms default";
}

// Two proposers at once: the one that is not the origin lets the origin's
// fast ballot go first, learns its value from the announcement, and never
// spends a ballot (no duel, one round trip for both).
TEST(ConsensusCore, NonOriginLetsTheOriginsFastBallotGoFirstAndLearnsItsValue) {
  Harness h({n1, n2, n3}, ConsensusOptions{});
  const InstanceSpec spec = spec_of(11, 0, {n1, n2, n3}, n1);
  h.propose(n2, spec, kRun3);
  EXPECT_TRUE(decoded<Prepare>(h.inflight()).empty()) << "no Prepare during the origin's grace";
  EXPECT_EQ(h.core(n2).counters().origin_graces, 1U);
  h.propose(n1, spec, kRun5);
  h.deliver();
  EXPECT_EQ(h.chosen_at(n1, spec.key), kRun5);
  EXPECT_EQ(h.chosen_at(n2, spec.key), kRun5);
  // The grace ends with the instance decided: nothing more is sent.
  h.advance_us(3 * h.core(n2).options().rtt_us);
  h.tick_all();
  EXPECT_TRUE(decoded<Prepare>(h.inflight()).empty());
  EXPECT_EQ(h.core(n2).instance(spec.key)->proposer.ballots_tried(), 0U);
  EXPECT_EQ(h.core(n2).counters().prepares_started, 0U);
}

// An origin that never proposes (or is gone) costs the other proposer the
// grace, [2, 2.5) units, and then phase 1 decides its value.
TEST(ConsensusCore, NonOriginStartsPhaseOneWhenTheOriginStaysSilent) {
  Harness h({n1, n2, n3}, ConsensusOptions{});
  const InstanceSpec spec = spec_of(12, 0, {n1, n2, n3}, n1);
  h.propose(n2, spec, kRun3);
  const std::int64_t unit = h.core(n2).rtt_unit_us();
  h.advance_us(2 * unit - 1);
  h.tick_all();
  EXPECT_TRUE(decoded<Prepare>(h.inflight()).empty()) << "still within the grace";
  h.advance_us(unit / 2 + 1);
  h.tick_all();
  EXPECT_EQ(decoded<Prepare>(h.inflight()).size(), 2U) << "phase 1 once the grace is over";
  h.deliver();
  h.tick_all();
  h.deliver();
  EXPECT_EQ(h.chosen_at(n2, spec.key), kRun3);
  EXPECT_EQ(h.chosen_at(n1, spec.key), kRun3);
}

TEST(ConsensusOptions, OriginGraceMustNotBeNegative) {
  ConsensusOptions o;
  o.origin_grace_rtts = -1;
  EXPECT_FALSE(validate_consensus_options(o).is_ok());
  o.origin_grace_rtts = 0;
  EXPECT_TRUE(validate_consensus_options(o).is_ok());
}

TEST(ConsensusCore, LowerProposerYieldsToAHigherBallotAndLearnsItsValue) {
  Harness h({n1, n2, n3});
  const InstanceSpec spec = spec_of(9, 0, {n1, n2, n3}, n1);
  h.propose(n2, spec, kRun3);  // a replica: Prepare(1, n2)
  h.deliver(nullptr, 1);       // n1 and n3 promise; the Promises wait
  std::vector<Envelope> promises;
  promises.swap(h.inflight());
  h.propose(n1, spec, kRun5);  // the origin's fast ballot 0 meets n1's own promise to (1, n2)
  h.deliver(nullptr, 2);     // n1 and n3 reject it for (1, n2); n1 backs off
  const Instance* loser = h.core(n1).instance(spec.key);
  ASSERT_NE(loser, nullptr);
  ASSERT_FALSE(loser->decided());
  ASSERT_EQ(loser->proposer.phase(), Proposer::Phase::kBackoff);
  const std::int64_t unit = h.core(n1).rtt_unit_us();
  EXPECT_GE(loser->proposer_due_us - h.now_us(),
            static_cast<std::int64_t>(h.core(n1).options().phase_timeout_rtts * static_cast<double>(unit)))
      << "a proposer that saw a higher ballot waits a phase timeout, not one backoff unit";
  for (auto& e : promises) h.inflight().push_back(std::move(e));
  h.deliver();  // n2 finishes: phase 2 with its value, then announces
  EXPECT_EQ(h.chosen_at(n1, spec.key), kRun3);
  EXPECT_EQ(h.chosen_at(n2, spec.key), kRun3);
  EXPECT_EQ(h.core(n1).instance(spec.key)->proposer.ballots_tried(), 1U) << "the loser never tried a second ballot";
}

TEST(ConsensusCore, YieldingProposerResumesWhenTheWinnerDies) {
  Harness h({n1, n2, n3});
  const InstanceSpec spec = spec_of(10, 0, {n1, n2, n3}, n1);
  h.propose(n2, spec, kRun3);
  h.deliver(nullptr, 1);  // promises to (1, n2) ...
  h.crash(n2);            // ... whose proposer dies before phase 2
  h.inflight().clear();
  h.propose(n1, spec, kRun5);
  for (int round = 0; round < 40 && !h.chosen_at(n1, spec.key); ++round) {
    h.deliver();
    h.advance_us(h.core(n1).options().rtt_us);
    h.tick_all();
  }
  EXPECT_EQ(h.chosen_at(n1, spec.key), kRun5) << "nothing was accepted, so the survivor's own value may win";
  EXPECT_EQ(h.chosen_at(n3, spec.key), kRun5);
}

TEST(Invariants, DurabilityCheckerFlagsAPromiseLostInACrash) {
  Harness h = five();
  // The Promise leaves, but the host "forgets" to persist first: a bug the
  // checker must catch after the restart.
  Effects e = h.core(n1).receive(n2, encode_message(Prepare{kSpec, Ballot{5, n2}}), instant_from_us(h.now_us()));
  ASSERT_FALSE(e.persist.empty());
  DurabilityChecker checker;
  checker.acknowledged(n1, kSpec.key, Ballot{5, n2}, false);
  EXPECT_TRUE(checker.check(h.core(n1)).is_ok());
  h.crash(n1);
  h.start(n1);
  EXPECT_FALSE(checker.check(h.core(n1)).is_ok());
}

TEST(Invariants, AgreementCheckerFlagsTwoValuesAndUnproposedOnes) {
  AgreementChecker checker;
  checker.proposed(kSpec.key, kRun5);
  checker.proposed(kSpec.key, kRun3);
  EXPECT_FALSE(checker.learned(kSpec.key, Value::cancel(), "a").is_ok());
  EXPECT_TRUE(checker.learned(kSpec.key, kRun5, "a").is_ok());
  EXPECT_TRUE(checker.learned(kSpec.key, kRun5, "b").is_ok());
  EXPECT_FALSE(checker.learned(kSpec.key, kRun3, "c").is_ok());
}

}  // namespace
}  // namespace polder::consensus
