#include "sim/pingpong_core.h"

#include <cassert>
#include <cstring>
#include <functional>
#include <utility>

namespace polder::sim {

Status validate_pingpong_options(const PingPongOptions& options) {
  if (!options.peers) return invalid_argument("pingpong peers list is missing");
  if (options.ping_interval_us <= 0) {
    return invalid_argument("ping_interval_us must be positive, got " + std::to_string(options.ping_interval_us));
  }
  if (options.persist_every_pongs == 0) return invalid_argument("persist_every_pongs must be at least 1");
  return Status::ok();
}

Result<std::unique_ptr<PingPongCore>> PingPongCore::create(const NodeId& self, const PingPongOptions& options,
                                                           const DurableRecords& durable, std::uint64_t seed) {
  POLDER_RETURN_IF_ERROR(validate_pingpong_options(options));
  std::uint64_t pongs = 0;
  auto it = durable.find({kCounterColumn, kCounterKey});
  if (it != durable.end()) {
    if (it->second.size() != sizeof pongs) {
      return data_loss("stored pong counter is " + std::to_string(it->second.size()) + " bytes, expected 8");
    }
    std::memcpy(&pongs, it->second.data(), sizeof pongs);
  }
  return std::make_unique<PingPongCore>(ConstructionTag(), self, options, pongs, seed);
}

PingPongCore::PingPongCore(ConstructionTag, const NodeId& self, const PingPongOptions& options, std::uint64_t pongs,
                           std::uint64_t seed)
    : self_(self),
      options_(options),
      self_position_(options.peers->size()),
      rng_(seed),
      pongs_received_(pongs),
      pongs_persisted_(pongs) {
  const auto& peers = *options_.peers;
  for (std::size_t i = 0; i < peers.size(); ++i) {  // bounded by peers.size()
    if (peers[i] == self_) {
      self_position_ = i;
      break;
    }
  }
}

Bytes PingPongCore::encode(std::uint8_t type, std::uint64_t counter) {
  Bytes bytes(kMessageSizeBytes);
  bytes[0] = type;
  std::memcpy(bytes.data() + 1, &counter, sizeof counter);
  return bytes;
}

bool PingPongCore::pick_peer(NodeId& peer) {
  const auto& peers = *options_.peers;
  const bool self_listed = self_position_ < peers.size();
  const std::size_t choices = peers.size() - (self_listed ? 1 : 0);
  if (choices == 0) return false;
  std::size_t i = static_cast<std::size_t>(rng_.uniform(choices));
  if (self_listed && i >= self_position_) ++i;  // skip self without bias
  peer = peers[i];
  return true;
}

Effects PingPongCore::tick(Instant now) {
  Effects effects;
  const std::int64_t now_us = to_us(now);
  if (next_ping_us_ < 0) {
    // First tick of this life: a random phase, so nodes do not ping in lockstep.
    next_ping_us_ = now_us + static_cast<std::int64_t>(rng_.uniform(static_cast<std::uint64_t>(options_.ping_interval_us)));
  }
  if (now_us >= next_ping_us_) {
    NodeId peer;
    if (pick_peer(peer)) {
      ++pings_sent_;
      effects.send.push_back(OutMessage{peer, encode(kPing, pings_sent_)});
    }
    next_ping_us_ = now_us + options_.ping_interval_us;
  }
  effects.wake_at = instant_from_us(next_ping_us_);
  return effects;
}

Effects PingPongCore::receive(const NodeId& from, std::span<const std::uint8_t> bytes, Instant /*now*/) {
  Effects effects;
  if (bytes.size() != kMessageSizeBytes || (bytes[0] != kPing && bytes[0] != kPong)) {
    ++malformed_received_;  // peer input: ignore, change nothing else
    return effects;
  }
  std::uint64_t counter;
  std::memcpy(&counter, bytes.data() + 1, sizeof counter);
  if (bytes[0] == kPing) {
    effects.send.push_back(OutMessage{from, encode(kPong, counter)});
    return effects;
  }
  ++pongs_received_;
  if (pongs_received_ % options_.persist_every_pongs == 0) {
    Bytes value(sizeof pongs_received_);
    std::memcpy(value.data(), &pongs_received_, sizeof pongs_received_);
    effects.persist.push_back(PersistOp{kCounterColumn, kCounterKey, std::move(value), false});
    // Counted as persisted now: the host applies persist before anything
    // else, and a crash before it completes discards this core as well.
    pongs_persisted_ = pongs_received_;
  }
  effects.events.push_back(CoreEvent{"pong", {}});
  return effects;
}

std::function<std::unique_ptr<Core>(const NodeId&, const DurableRecords&, std::uint64_t)> make_pingpong_factory(
    PingPongOptions options) {
  assert(validate_pingpong_options(options).is_ok());
  return [options = std::move(options)](const NodeId& self, const DurableRecords& durable,
                                        std::uint64_t seed) -> std::unique_ptr<Core> {
    auto core = PingPongCore::create(self, options, durable, seed);
    // The simulated disk only holds what this core wrote, so a failure
    // here is a bug in the core or the disk, not bad input.
    assert(core.is_ok() && "PingPongCore failed to restore from its own disk");
    if (!core.is_ok()) return nullptr;
    return std::move(core).value();
  };
}

}  // namespace polder::sim
