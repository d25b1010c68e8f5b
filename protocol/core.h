// The one interface every sans-IO core (gossip/, consensus/, scheduler/)
// offers its hosts. node/ drives it with a real clock, ZeroMQ and RocksDB;
// sim/ drives it with a virtual clock, a virtual network and a simulated
// disk. Same code, two homes (DESIGN.md).
//
// The host applies a core's Effects in a fixed order (STYLE.md habit 15):
//   1. persist every record in `persist`, durably, before anything else;
//   2. send every message in `send`;
//   3. deliver `events` to the node;
//   4. call tick() again no later than `wake_at`, if set.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "protocol/ids.h"
#include "protocol/time.h"

namespace polder {

// Where a persisted record lives. Matches the RocksDB column families.
enum class Column : std::uint8_t { kMeta = 0, kAcceptor = 1, kJobs = 2, kLogs = 3 };
inline constexpr int kColumnCount = 4;

using Bytes = std::vector<std::uint8_t>;

struct PersistOp {
  Column column = Column::kMeta;
  std::string key;
  Bytes value;
  bool erase = false;  // delete `key` instead of writing `value`
};

struct OutMessage {
  NodeId to;
  Bytes bytes;  // an encoded Envelope (protocol/codec.h)
};

// Something the node (not the network) should learn about: "job chosen",
// "member dead", ... Later issues give cores richer typed events; the
// contract stays: events are applied after persist and send.
struct CoreEvent {
  std::string kind;
  std::string detail;
};

struct Effects {
  std::vector<PersistOp> persist;
  std::vector<OutMessage> send;
  std::vector<CoreEvent> events;
  std::optional<Instant> wake_at;

  bool empty() const { return persist.empty() && send.empty() && events.empty() && !wake_at; }
};

// What survived on disk for one node: handed to a core when it (re)starts.
using DurableRecords = std::map<std::pair<Column, std::string>, Bytes>;

class Core {
 public:
  virtual ~Core() = default;
  // A message from an authenticated peer `from` arrived at `now`.
  virtual Effects receive(const NodeId& from, std::span<const std::uint8_t> bytes, Instant now) = 0;
  // Time passed; the core does its periodic work.
  virtual Effects tick(Instant now) = 0;
};

}  // namespace polder
