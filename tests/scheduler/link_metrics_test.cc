#include "scheduler/link_metrics.h"

#include <gtest/gtest.h>

#include <vector>

namespace polder::scheduler {
namespace {

NodeRecord record(char id, const std::string& name) {
  NodeRecord r;
  r.node_id = *NodeId::from_hex(std::string(64, id));
  r.name = name;
  return r;
}

TEST(RecordedBandwidth, EitherEndsMeasurementAnswersAndTheHigherWins) {
  NodeRecord a = record('a', "dc-a"), b = record('b', "dc-b"), c = record('c', "dc-c");
  std::vector<NodeRecord> records{a, b, c};
  // Nothing measured: the cost model's default applies.
  EXPECT_FALSE(recorded_bandwidth_bps(records, "dc-a", b));
  // Only the candidate measured the site.
  records[1].links.push_back({a.node_id, 400'000'000});
  EXPECT_EQ(recorded_bandwidth_bps(records, "dc-a", records[1]), 400e6);
  // Only the site measured the candidate.
  records[0].links.push_back({c.node_id, 50'000'000});
  EXPECT_EQ(recorded_bandwidth_bps(records, "dc-a", records[2]), 50e6);
  // Both ends: the higher lower bound.
  records[0].links.push_back({b.node_id, 900'000'000});
  EXPECT_EQ(recorded_bandwidth_bps(records, "dc-a", records[1]), 900e6);
  // A measurement between other nodes says nothing about this link.
  EXPECT_FALSE(recorded_bandwidth_bps(records, "dc-b", records[2]));
  // A site no record names.
  EXPECT_FALSE(recorded_bandwidth_bps(records, "dc-z", records[1]));
}

}  // namespace
}  // namespace polder::scheduler
