// Replay protection for envelopes (issue 8).
//
// Peer channel: every envelope a node sends to peers carries the next
// number of one per-process sequence (Daemon::peer_message_id_), which never
// falls behind the node's wall clock in µs (the daemon raises it to the
// clock every turn), so it keeps growing across restarts and tells roughly
// when it was sent. The receiver keeps, per sender, the highest number seen
// and a window of kWidth numbers below it (as IPsec's anti-replay window,
// RFC 4303 §3.4.3): a number already seen, or below the window, is a replay
// and is dropped. One sender reaches one receiver over one ordered stream,
// so nothing legitimate falls below the window.
//
// Across a receiver restart: the highest number of each sender is stored at
// a graceful shutdown and resumed at the next start (everything up to it
// counts as seen). After a crash nothing was stored, so the guard starts
// with a floor instead: a sender not heard since the start is refused below
// it (the daemon sets it to its start time minus the clock skew it allows,
// kPeerClockSkew), so what was recorded before that cannot be replayed.

// Client channel: a request carries a random 64-bit nonce and the client's
// wall time. A request whose time is more than `window` from the node's
// clock is refused (say: check the clock); a nonce seen from the same key
// within the window is a replay. At most `max_per_key` nonces are kept per
// key; when one is forgotten early, requests not newer than it are refused.
//
// Thread-safety: none (event loop).
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <climits>
#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "protocol/ids.h"
#include "protocol/status.h"

namespace polder::node {

// Keys are Ed25519 public keys of admitted members: their first bytes are
// as good as a hash.
struct NodeIdHash {
  std::size_t operator()(const NodeId& key) const {
    std::size_t h = 0;
    std::memcpy(&h, key.span().data(), sizeof h);
    return h;
  }
};

class SequenceWindow {
 public:
  static constexpr std::uint64_t kWidth = 1024;
  // True (and remembered) when `seq` is new; false for a replay, for one
  // below the window, and for 0 (unnumbered).
  bool accept(std::uint64_t seq);
  std::uint64_t highest() const { return highest_; }
  // Everything up to `highest` counts as seen (a window stored at shutdown).
  void resume(std::uint64_t highest) {
    highest_ = highest;
    seen_.set();
  }

 private:
  std::uint64_t highest_ = 0;
  std::bitset<kWidth> seen_;  // bit s % kWidth, for s in (highest_ - kWidth, highest_]
};

class PeerReplayGuard {
 public:
  // A sender with no window yet is refused below `floor` (0: no floor).
  void set_floor(std::uint64_t floor) { floor_ = floor; }
  bool accept(const NodeId& sender, std::uint64_t seq) {
    auto it = windows_.find(sender);
    if (it == windows_.end()) {
      if (seq < floor_) return false;
      it = windows_.emplace(sender, SequenceWindow{}).first;
    }
    return it->second.accept(seq);
  }
  void resume(const NodeId& sender, std::uint64_t highest) { windows_[sender].resume(highest); }
  void forget(const NodeId& sender) { windows_.erase(sender); }
  std::size_t senders() const { return windows_.size(); }
  // (sender, highest number seen), for storing at shutdown.
  std::vector<std::pair<NodeId, std::uint64_t>> highest() const {
    std::vector<std::pair<NodeId, std::uint64_t>> out;
    out.reserve(windows_.size());
    for (const auto& [sender, window] : windows_) out.emplace_back(sender, window.highest());
    return out;
  }

 private:
  std::uint64_t floor_ = 0;
  std::unordered_map<NodeId, SequenceWindow, NodeIdHash> windows_;
};

class ClientReplayGuard {
 public:
  explicit ClientReplayGuard(std::chrono::seconds window = std::chrono::seconds(300), std::size_t max_per_key = 65'536)
      : window_us_(std::chrono::duration_cast<std::chrono::microseconds>(window).count()), max_per_key_(max_per_key) {}
  // OK and remembered, or the reason the request is refused (nothing kept).
  Status accept(const NodeId& key, std::uint64_t nonce, std::int64_t request_us, std::int64_t now_us);

 private:
  struct Seen {
    std::deque<std::pair<std::int64_t, std::uint64_t>> order;  // (request time, nonce), arrival order
    std::unordered_set<std::uint64_t> nonces;
    std::int64_t floor_us = INT64_MIN;  // requests at or before this are refused (forgotten early)
  };
  std::int64_t window_us_;
  std::size_t max_per_key_;
  std::unordered_map<NodeId, Seen, NodeIdHash> by_key_;
};

}  // namespace polder::node
