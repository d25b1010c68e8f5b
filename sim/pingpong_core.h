// PingPongCore: a toy sans-IO core for the simulator's tests and its CLI.
//
// Purpose: exercise every path of the simulator with a protocol small
// enough to reason about. Each node, every `ping_interval_us`, sends a ping
// carrying a counter to a peer chosen with its seeded Rng; it answers every
// ping with a pong carrying the same counter; it counts pongs received,
// emits a "pong" event for each, and every `persist_every_pongs` pongs
// persists the count durably. After a restart it resumes from the count on
// disk: pongs counted since the last persist are lost, as a real core's
// volatile state would be.
//
// Wire format (a toy; real cores use Cap'n Proto): 9 bytes, one type byte
// (1 = ping, 2 = pong) then the counter as 8 bytes little-endian. Anything
// else is ignored and counted in malformed_received().
//
// Thread-safety: none; like every core, driven by one host thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "protocol/core.h"
#include "protocol/ids.h"
#include "protocol/rng.h"
#include "protocol/status.h"
#include "protocol/time.h"

namespace polder::sim {

struct PingPongOptions {
  // Everyone who may be pinged; may include the node itself (never pinged).
  std::shared_ptr<const std::vector<NodeId>> peers;
  std::int64_t ping_interval_us = 100'000;
  std::uint32_t persist_every_pongs = 10;
};

Status validate_pingpong_options(const PingPongOptions& options);

class PingPongCore : public Core {
 public:
  static constexpr std::uint8_t kPing = 1;
  static constexpr std::uint8_t kPong = 2;
  static constexpr std::size_t kMessageSizeBytes = 9;
  static constexpr Column kCounterColumn = Column::kMeta;
  static inline const std::string kCounterKey = "pingpong/pongs_received";

  // Fails on bad options, or on a stored counter that is not 8 bytes (DataLoss).
  static Result<std::unique_ptr<PingPongCore>> create(const NodeId& self, const PingPongOptions& options,
                                                      const DurableRecords& durable, std::uint64_t seed);

  // Only create() constructs (it validates); the tag keeps it so while
  // letting std::make_unique reach the constructor.
  class ConstructionTag {
    friend class PingPongCore;
    explicit ConstructionTag() = default;
  };
  PingPongCore(ConstructionTag, const NodeId& self, const PingPongOptions& options, std::uint64_t pongs,
               std::uint64_t seed);

  Effects receive(const NodeId& from, std::span<const std::uint8_t> bytes, Instant now) override;
  Effects tick(Instant now) override;

  std::uint64_t pongs_received() const { return pongs_received_; }
  std::uint64_t pongs_persisted() const { return pongs_persisted_; }
  std::uint64_t pings_sent() const { return pings_sent_; }
  std::uint64_t malformed_received() const { return malformed_received_; }

 private:
  static Bytes encode(std::uint8_t type, std::uint64_t counter);
  bool pick_peer(NodeId& peer);

  NodeId self_;
  PingPongOptions options_;
  std::size_t self_position_;  // index of self_ in peers, or peers->size()
  Rng rng_;
  std::uint64_t pongs_received_ = 0;
  std::uint64_t pongs_persisted_ = 0;
  std::uint64_t pings_sent_ = 0;
  std::uint64_t malformed_received_ = 0;
  std::int64_t next_ping_us_ = -1;  // -1: not yet scheduled
};

// A CoreFactory for the Simulator that builds PingPongCores. Precondition:
// validate_pingpong_options(options) is ok (asserted per node).
std::function<std::unique_ptr<Core>(const NodeId&, const DurableRecords&, std::uint64_t)> make_pingpong_factory(
    PingPongOptions options);

}  // namespace polder::sim
