#include "scheduler/link_metrics.h"

#include <algorithm>

namespace polder::scheduler {

void StaticLinkMetrics::set_bandwidth_bps(std::string_view site_a, std::string_view site_b, double bandwidth_bps) {
  if (site_b < site_a) std::swap(site_a, site_b);
  bandwidth_bps_[std::string(site_a)][std::string(site_b)] = bandwidth_bps;
}

void StaticLinkMetrics::set_rtt_ms(std::string_view node_name, double rtt_ms) {
  rtt_ms_[std::string(node_name)] = rtt_ms;
}

std::optional<double> StaticLinkMetrics::bandwidth_bps(std::string_view from_site, const NodeRecord& to) const {
  std::string_view a = from_site, b = to.name;
  if (b < a) std::swap(a, b);
  auto row = bandwidth_bps_.find(a);
  if (row == bandwidth_bps_.end()) return std::nullopt;
  auto it = row->second.find(b);
  if (it == row->second.end()) return std::nullopt;
  return it->second;
}

std::optional<double> StaticLinkMetrics::rtt_ms(const NodeRecord& to) const {
  auto it = rtt_ms_.find(std::string_view(to.name));
  if (it == rtt_ms_.end()) return std::nullopt;
  return it->second;
}

std::optional<double> recorded_bandwidth_bps(std::span<const NodeRecord> records, std::string_view from_site,
                                             const NodeRecord& to) {
  const NodeRecord* site = nullptr;
  for (const auto& r : records) {
    if (r.name == from_site) {
      site = &r;
      break;
    }
  }
  if (site == nullptr) return std::nullopt;
  std::optional<double> best;
  auto consider = [&](const NodeRecord& by, const NodeId& peer) {
    for (const auto& link : by.links) {
      if (link.peer == peer && link.bandwidth_bps > 0) best = std::max(best.value_or(0.0), double(link.bandwidth_bps));
    }
  };
  consider(to, site->node_id);
  consider(*site, to.node_id);
  return best;
}

}  // namespace polder::scheduler
