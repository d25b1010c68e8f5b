// The lease filter on consensus traffic (node/vote_filter.h): a Prepare or
// Accept of a refused instance stops the payload, alone or inside a batch.
#include "node/vote_filter.h"

#include <gtest/gtest.h>

#include <vector>

#include "consensus/wire.h"
#include "tests/consensus/harness.h"

namespace polder::node {
namespace {

using consensus::Accept;
using consensus::Accepted;
using consensus::Ballot;
using consensus::InstanceKey;
using consensus::InstanceSpec;
using consensus::Message;
using consensus::Prepare;
using consensus::Query;
using consensus::Value;
using consensus::testing::node;
using consensus::testing::spec_of;

const InstanceSpec kLeased = spec_of(1, 2, {node(1), node(2), node(3)}, node(9));  // attempt 2: refused
const InstanceSpec kOther = spec_of(2, 1, {node(1), node(2), node(3)}, node(9));

bool refuse_leased(const InstanceKey& key) { return !(key == kLeased.key); }

Bytes one(const Message& m) { return consensus::encode_message(m); }

TEST(VoteFilter, APrepareOrAcceptOfARefusedInstanceIsDropped) {
  EXPECT_FALSE(consensus_votes_allowed(one(Prepare{kLeased, Ballot{3, node(2)}}), refuse_leased));
  EXPECT_FALSE(consensus_votes_allowed(one(Accept{kLeased, Ballot{3, node(2)}, Value::cancel()}), refuse_leased));
  EXPECT_TRUE(consensus_votes_allowed(one(Prepare{kOther, Ballot{3, node(2)}}), refuse_leased));
}

TEST(VoteFilter, RepliesAndQueriesOfARefusedInstancePass) {
  // Only votes are fenced: answers and questions carry no promise.
  EXPECT_TRUE(consensus_votes_allowed(one(Accepted{kLeased.key, Ballot{3, node(2)}}), refuse_leased));
  EXPECT_TRUE(consensus_votes_allowed(one(Query{kLeased}), refuse_leased));
}

TEST(VoteFilter, ABatchHoldingOneRefusedVoteIsDroppedWhole) {
  std::vector<Bytes> inner = {one(Prepare{kOther, Ballot{1, node(2)}}), one(Accepted{kOther.key, Ballot{1, node(2)}}),
                              one(Accept{kLeased, Ballot{4, node(3)}, Value::cancel()})};
  EXPECT_FALSE(consensus_votes_allowed(consensus::encode_batch(inner), refuse_leased));
  inner.pop_back();
  EXPECT_TRUE(consensus_votes_allowed(consensus::encode_batch(inner), refuse_leased));
}

TEST(VoteFilter, UndecodableBytesAreLeftToTheCore) {
  int asked = 0;
  auto count = [&](const InstanceKey&) { return ++asked, false; };
  EXPECT_TRUE(consensus_votes_allowed(Bytes(13, 0x5a), count));
  EXPECT_TRUE(consensus_votes_allowed(Bytes{}, count));
  EXPECT_EQ(asked, 0);
}

}  // namespace
}  // namespace polder::node
