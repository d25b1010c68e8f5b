#include "node/job_outbox.h"

#include <cassert>
#include <map>

namespace polder::node {

std::vector<JobBundle> bundle_by_peer(std::vector<std::pair<NodeId, JobMessage>> outbox, std::size_t bundle_max) {
  assert(bundle_max >= 1);
  std::map<NodeId, std::vector<JobBundle>> by_peer;
  for (auto& [to, m] : outbox) {
    auto& bundles = by_peer[to];
    if (bundles.empty() || bundles.back().messages.size() >= bundle_max) bundles.push_back(JobBundle{to, {}});
    bundles.back().messages.push_back(std::move(m));
  }
  std::vector<JobBundle> out;
  for (auto& [to, bundles] : by_peer) {
    for (auto& b : bundles) out.push_back(std::move(b));
  }
  return out;
}

}  // namespace polder::node
