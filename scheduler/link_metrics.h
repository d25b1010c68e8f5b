// LinkMetrics: what the scheduler knows about the network, as lookups.
//
// The cost model needs two numbers it cannot measure itself (sans-IO): the
// bandwidth of the link from the site that holds an input to a candidate,
// and the round trip from the proposer to a candidate. The host answers from
// gossiped link metrics and Vivaldi coordinates; an unmeasured link answers
// nullopt and the cost model falls back to its configured default.
//
// A "site" is the name of the node (NodeRecord::name) of the data centre
// that holds a dataset: one polderd per data centre (DESIGN.md).
//
// Thread-safety: implementations are read during ranking only; a const
// implementation shared by several threads must be safe for concurrent reads.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "protocol/messages.h"

namespace polder::scheduler {

class LinkMetrics {
 public:
  virtual ~LinkMetrics() = default;
  // Measured bandwidth, in bits per second, from `from_site` to `to`; nullopt
  // when the link was never measured.
  virtual std::optional<double> bandwidth_bps(std::string_view from_site, const NodeRecord& to) const = 0;
  // Estimated round-trip time, in milliseconds, from the proposer to `to`.
  virtual std::optional<double> rtt_ms(const NodeRecord& to) const = 0;
};

// A table of links keyed by site names: for tests, the simulator and
// benchmarks. Symmetric: a link set from a to b also answers from b to a.
// Hashed, for lookups only: nothing iterates these maps, so their order
// decides nothing (STYLE.md habit 16); lookups do not allocate.
// Not thread-safe for writes; concurrent const reads are safe.
class StaticLinkMetrics final : public LinkMetrics {
 public:
  void set_bandwidth_bps(std::string_view site_a, std::string_view site_b, double bandwidth_bps);
  void set_rtt_ms(std::string_view node_name, double rtt_ms);

  std::optional<double> bandwidth_bps(std::string_view from_site, const NodeRecord& to) const override;
  std::optional<double> rtt_ms(const NodeRecord& to) const override;

 private:
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using NameMap = std::unordered_map<std::string, V, NameHash, std::equal_to<>>;

  // bandwidth_bps_[min(a, b)][max(a, b)], so lookups are symmetric.
  NameMap<NameMap<double>> bandwidth_bps_;
  NameMap<double> rtt_ms_;
};

// Bandwidth from gossiped records: every node's signed record lists the
// links it measured on real transfers (NodeRecord::links, bits per second).
// The link from the node named `from_site` to `to` answers with what either
// end measured, the higher of the two when both did (each is a lower bound
// of the same link: its transfers included a round trip). nullopt when no
// record names `from_site` or neither end measured the other. Pure.
std::optional<double> recorded_bandwidth_bps(std::span<const NodeRecord> records, std::string_view from_site,
                                             const NodeRecord& to);

// No measurements at all: every lookup falls back to the defaults.
class NoLinkMetrics final : public LinkMetrics {
 public:
  std::optional<double> bandwidth_bps(std::string_view, const NodeRecord&) const override { return std::nullopt; }
  std::optional<double> rtt_ms(const NodeRecord&) const override { return std::nullopt; }
};

}  // namespace polder::scheduler
