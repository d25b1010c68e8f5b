// Network: the simulator's virtual network between nodes.
//
// Purpose: decide, for each message a core sends, whether it arrives, after
// how long, and whether a second copy arrives too. Every link (ordered pair
// of nodes) has a latency model — base latency plus jitter drawn from a
// distribution — a loss probability and a duplication probability. Jitter is
// what reorders messages: two messages on one link overtake each other when
// the second draws less jitter. A partition is a set of cut links; cut() and
// heal() always act on both directions.
//
// Guarantees: every decision draws from the Rng it is handed, in a fixed
// order (loss, latency, duplicate, duplicate's latency), so a run is a pure
// function of its seed. Nodes are dense indices (the Simulator maps NodeIds
// to them). Bad options are refused with a Status and change nothing.
//
// Thread-safety: none; one network per simulator.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "protocol/rng.h"
#include "protocol/status.h"

namespace polder::sim {

enum class JitterKind : std::uint8_t {
  kNone = 0,         // latency is exactly latency_us_base
  kUniform = 1,      // + uniform in [0, jitter_us]
  kExponential = 2,  // + exponential with mean jitter_us, capped at kExponentialCapFactor·jitter_us
};

struct LinkOptions {
  static constexpr std::int64_t kLatencyUsMax = 3'600'000'000;  // one hour: anything more is a typo

  std::int64_t latency_us_base = 1'000;
  std::int64_t jitter_us = 200;
  JitterKind jitter_kind = JitterKind::kUniform;
  double loss_probability = 0.0;
  double duplicate_probability = 0.0;
};

// Ok, or why `options` cannot describe a link.
Status validate_link_options(const LinkOptions& options);

struct NetworkOptions {
  LinkOptions default_link;  // every link without an override
  std::uint32_t in_flight_messages_max = 1U << 24;
};

Status validate_network_options(const NetworkOptions& options);

// What the network does with one sent message.
struct Route {
  enum class Outcome : std::uint8_t { kDeliver, kLost, kPartitioned };
  Outcome outcome = Outcome::kDeliver;
  std::int64_t delay_us = 0;
  bool duplicate = false;
  std::int64_t duplicate_delay_us = 0;
};

// Computes the options of the link from -> to for links without a per-link
// override: how a model with a structure (a geography of sites and regions)
// describes millions of links without storing them. Must be deterministic
// and return options that validate_link_options() accepts.
using LinkModel = std::function<LinkOptions(std::uint32_t from, std::uint32_t to)>;

class Network {
 public:
  static constexpr std::int64_t kExponentialCapFactor = 10;

  // Precondition: validate_network_options(options) is ok.
  explicit Network(const NetworkOptions& options);

  const NetworkOptions& options() const { return options_; }

  Status set_default_link(const LinkOptions& options);
  // Overrides the one-way link from -> to.
  Status set_link(std::uint32_t from, std::uint32_t to, const LinkOptions& options);
  void clear_link(std::uint32_t from, std::uint32_t to) { links_.erase({from, to}); }
  const LinkOptions& link(std::uint32_t from, std::uint32_t to) const;
  // Replaces the default link by a model for every link without an
  // override; an empty model restores the default.
  void set_link_model(LinkModel model) { model_ = std::move(model); }

  // Partitions: cut and heal act on both directions.
  void cut(std::uint32_t a, std::uint32_t b);
  void heal(std::uint32_t a, std::uint32_t b);
  void heal_all() { cuts_.clear(); }
  bool is_cut(std::uint32_t from, std::uint32_t to) const {
    return !cuts_.empty() && cuts_.count({from, to}) > 0;
  }
  std::size_t cut_count() const { return cuts_.size() / 2; }

  // Decides the fate of one message from -> to, drawing from `rng`.
  Route route(std::uint32_t from, std::uint32_t to, Rng& rng) const;

 private:
  static std::int64_t draw_latency_us(const LinkOptions& link, Rng& rng);

  NetworkOptions options_;
  // Ordered containers: only looked up, but ordered keeps any future
  // iteration (a trace dump) deterministic (STYLE.md habit 16).
  std::map<std::pair<std::uint32_t, std::uint32_t>, LinkOptions> links_;
  std::set<std::pair<std::uint32_t, std::uint32_t>> cuts_;
  LinkModel model_;
};

}  // namespace polder::sim
