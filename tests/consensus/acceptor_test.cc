// The acceptor's transitions, one behaviour per test (acceptor.h).
#include "consensus/acceptor.h"

#include <gtest/gtest.h>

#include "harness.h"

namespace polder::consensus {
namespace {

using testing::node;
using Reply = AcceptorStep::Reply;

const NodeId kOrigin = node(1);
const NodeId kP = node(2);
const NodeId kQ = node(3);

TEST(Acceptor, PromisesFirstBallotAndMustPersist) {
  AcceptorState s;
  const AcceptorStep step = Acceptor::on_prepare(s, Ballot{1, kP});
  EXPECT_EQ(step.reply, Reply::kPromise);
  EXPECT_TRUE(step.changed);
  EXPECT_EQ(s.promised, (Ballot{1, kP}));
}

TEST(Acceptor, RejectsPrepareBelowPromise) {
  AcceptorState s;
  (void)Acceptor::on_prepare(s, Ballot{2, kP});
  const AcceptorStep step = Acceptor::on_prepare(s, Ballot{1, kQ});
  EXPECT_EQ(step.reply, Reply::kReject);
  EXPECT_FALSE(step.changed);
  EXPECT_EQ(step.promised, (Ballot{2, kP}));
  EXPECT_EQ(s.promised, (Ballot{2, kP}));
}

TEST(Acceptor, SameRoundIsOrderedByNodeId) {
  AcceptorState s;
  (void)Acceptor::on_prepare(s, Ballot{1, kQ});
  EXPECT_EQ(Acceptor::on_prepare(s, Ballot{1, kP}).reply, Reply::kReject);  // kP < kQ
}

TEST(Acceptor, DuplicatePrepareIsPromisedAgainWithoutWrite) {
  AcceptorState s;
  (void)Acceptor::on_prepare(s, Ballot{1, kP});
  const AcceptorStep step = Acceptor::on_prepare(s, Ballot{1, kP});
  EXPECT_EQ(step.reply, Reply::kPromise);
  EXPECT_FALSE(step.changed);
}

TEST(Acceptor, PromiseReportsHighestAccepted) {
  AcceptorState s;
  (void)Acceptor::on_accept(s, Ballot{0, kOrigin}, Value::run(kP, 7), true, kOrigin);
  (void)Acceptor::on_prepare(s, Ballot{3, kQ});
  const Promise p = Acceptor::promise_for({}, Ballot{3, kQ}, s);
  ASSERT_TRUE(p.accepted_ballot);
  EXPECT_EQ(*p.accepted_ballot, (Ballot{0, kOrigin}));
  EXPECT_EQ(*p.accepted_value, Value::run(kP, 7));
}

TEST(Acceptor, AcceptsAtOrAbovePromise) {
  AcceptorState s;
  (void)Acceptor::on_prepare(s, Ballot{2, kP});
  const AcceptorStep step = Acceptor::on_accept(s, Ballot{2, kP}, Value::cancel(), false, kOrigin);
  EXPECT_EQ(step.reply, Reply::kAccepted);
  EXPECT_TRUE(step.changed);
  EXPECT_EQ(s.accepted_ballot, (Ballot{2, kP}));
  EXPECT_EQ(s.accepted_value, Value::cancel());
}

TEST(Acceptor, RejectsAcceptBelowPromise) {
  AcceptorState s;
  (void)Acceptor::on_prepare(s, Ballot{2, kQ});
  const AcceptorStep step = Acceptor::on_accept(s, Ballot{1, kP}, Value::cancel(), false, kOrigin);
  EXPECT_EQ(step.reply, Reply::kReject);
  EXPECT_FALSE(s.accepted_ballot);
}

TEST(Acceptor, FastBallotOnlyFromOrigin) {
  AcceptorState s;
  EXPECT_EQ(Acceptor::on_accept(s, Ballot{0, kP}, Value::cancel(), false, kOrigin).reply, Reply::kIgnore);
  EXPECT_EQ(Acceptor::on_accept(s, Ballot{0, kOrigin}, Value::cancel(), false, kOrigin).reply, Reply::kIgnore);
  EXPECT_FALSE(s.promised);
  EXPECT_EQ(Acceptor::on_accept(s, Ballot{0, kOrigin}, Value::cancel(), true, kOrigin).reply, Reply::kAccepted);
}

TEST(Acceptor, FastBallotRefusedAfterHigherPromise) {
  AcceptorState s;
  (void)Acceptor::on_prepare(s, Ballot{1, kP});
  const AcceptorStep step = Acceptor::on_accept(s, Ballot{0, kOrigin}, Value::cancel(), true, kOrigin);
  EXPECT_EQ(step.reply, Reply::kReject);
  EXPECT_EQ(step.promised, (Ballot{1, kP}));
}

TEST(Acceptor, PrepareForFastBallotIsIgnored) {
  AcceptorState s;
  EXPECT_EQ(Acceptor::on_prepare(s, Ballot{0, kOrigin}).reply, Reply::kIgnore);
  EXPECT_FALSE(s.promised);
}

TEST(Acceptor, SecondValueAtSameBallotIsRefused) {
  AcceptorState s;
  (void)Acceptor::on_accept(s, Ballot{2, kP}, Value::cancel(), false, kOrigin);
  EXPECT_EQ(Acceptor::on_accept(s, Ballot{2, kP}, Value::run(kQ, 1), false, kOrigin).reply, Reply::kIgnore);
  EXPECT_EQ(s.accepted_value, Value::cancel());
  const AcceptorStep dup = Acceptor::on_accept(s, Ballot{2, kP}, Value::cancel(), false, kOrigin);
  EXPECT_EQ(dup.reply, Reply::kAccepted);
  EXPECT_FALSE(dup.changed);
}

}  // namespace
}  // namespace polder::consensus
