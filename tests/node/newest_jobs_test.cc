#include "node/newest_jobs.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace polder::node {
namespace {

JobView view(char id, std::int64_t submitted_at_us) {
  JobView v;
  v.job_id = *JobId::from_hex(std::string(64, id));
  v.submitted_at_us = submitted_at_us;
  return v;
}

std::vector<char> ids(const std::vector<const JobView*>& views) {
  std::vector<char> out;
  for (const JobView* v : views) out.push_back(v->job_id.hex()[0]);
  return out;
}

// A list too long for one reply keeps the newest jobs, oldest first, and
// says that it was cut; the cut does not depend on the order they came in
// (job ids break ties in submission time).
TEST(NewestJobs, ACutListKeepsTheNewestOldestFirstWhateverTheOrderTheyCameIn) {
  std::vector<JobView> held = {view('1', 50), view('9', 10), view('4', 40), view('2', 30), view('3', 30), view('8', 20)};
  std::vector<const JobView*> forward, backward;
  for (const auto& v : held) forward.push_back(&v);
  for (auto it = held.rbegin(); it != held.rend(); ++it) backward.push_back(&*it);

  EXPECT_TRUE(keep_newest(forward, 3));
  EXPECT_EQ(ids(forward), (std::vector<char>{'3', '4', '1'}));  // 30 (id 3 beats id 2), 40, 50
  EXPECT_TRUE(keep_newest(backward, 3));
  EXPECT_EQ(ids(backward), ids(forward));
}

TEST(NewestJobs, AListThatFitsIsSortedOldestFirstAndNotMarkedCut) {
  std::vector<JobView> held = {view('a', 3), view('b', 1), view('c', 2)};
  std::vector<const JobView*> all;
  for (const auto& v : held) all.push_back(&v);
  EXPECT_FALSE(keep_newest(all, 3));
  EXPECT_EQ(ids(all), (std::vector<char>{'b', 'c', 'a'}));
  std::vector<const JobView*> none;
  EXPECT_FALSE(keep_newest(none, 0));
  EXPECT_TRUE(keep_newest(all, 0));
  EXPECT_TRUE(all.empty());
}

}  // namespace
}  // namespace polder::node
