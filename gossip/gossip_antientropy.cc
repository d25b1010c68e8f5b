// Push-pull anti-entropy, bounded: the initiator sends its member table as
// pages of (id prefix, version) pairs; the peer answers each page with the
// entries where it differs (as updates, up to a byte budget, with a resume
// point when cut short) and the prefixes it wants; the initiator sends those.
// No message grows with the cluster, and a 10,000-member exchange is about
// 20 pages of 8 KiB. Anti-entropy updates repair state but are not
// re-gossiped (they are old news), except a member's word about itself.
#include <algorithm>
#include <cassert>
#include <limits>

#include "gossip/gossip_core.h"

namespace polder::gossip {
namespace {

using Sorted = std::vector<std::pair<std::uint64_t, std::uint32_t>>;

Sorted::const_iterator first_at_or_after(const Sorted& sorted, std::uint64_t prefix) {
  return std::lower_bound(sorted.begin(), sorted.end(), std::make_pair(prefix, std::uint32_t{0}));
}

}  // namespace

void GossipCore::push_pull_tick(std::int64_t now_us) {
  if (now_us < next_push_pull_us_) return;
  next_push_pull_us_ = now_us + to_us(push_pull_interval(options_.config, n()));
  if (leaving_) return;
  const std::vector<std::uint32_t> peer = random_members(1, nullptr);
  if (!peer.empty()) start_push_pull(table_.at(peer.front()).id);
}

void GossipCore::start_push_pull(const NodeId& peer) {
  ++counters_.push_pulls;
  send_digest_pages(peer, 0, std::numeric_limits<std::uint64_t>::max());
}

void GossipCore::send_digest_pages(const NodeId& peer, std::uint64_t lo, std::uint64_t hi) {
  const Sorted& sorted = table_.sorted();
  const std::size_t page = options_.config.digest_page_entries;
  auto it = first_at_or_after(sorted, lo);
  std::uint64_t page_lo = lo;
  bool first = true;
  // Bounded: each page consumes up to `page` entries of a finite table.
  while (true) {
    Digest digest;
    digest.lo = page_lo;
    for (; it != sorted.end() && it->first <= hi && digest.entries.size() < page; ++it) {
      digest.entries.emplace_back(it->first, version_of(table_.at(it->second)));
    }
    const bool last = it == sorted.end() || it->first > hi;
    digest.hi = last ? hi : it->first - 1;
    Message message{std::move(digest), {}};
    if (first) message.updates.push_back(self_alive_update());  // how a joiner announces itself
    first = false;
    send(peer, std::move(message));
    if (last) break;
    page_lo = it->first;
  }
}

void GossipCore::on_digest(const NodeId& from, const Digest& digest) {
  if (digest.lo > digest.hi) return;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> theirs = digest.entries;
  std::sort(theirs.begin(), theirs.end());
  const Sorted& sorted = table_.sorted();
  auto ours = first_at_or_after(sorted, digest.lo);
  auto end = std::upper_bound(sorted.begin(), sorted.end(),
                              std::make_pair(digest.hi, std::numeric_limits<std::uint32_t>::max()));
  auto their = theirs.begin();
  Message reply{DigestReply{}, {}};
  auto& body = std::get<DigestReply>(reply.body);
  body.hi = digest.hi;
  std::size_t used = kMessageOverheadBytes + 8 * theirs.size();
  auto offer = [&](std::uint32_t slot) {  // false when the byte budget is spent
    Update u = update_for(table_.at(slot));
    const std::size_t size = update_wire_size_bytes(u);
    if (used + size > options_.config.push_pull_reply_bytes_max) return false;
    used += size;
    reply.updates.push_back(std::move(u));
    return true;
  };
  // Merge walk over two prefix-sorted lists: bounded by their lengths.
  while (ours != end || their != theirs.end()) {
    const bool take_ours = their == theirs.end() || (ours != end && ours->first < their->first);
    const bool take_theirs = ours == end || (their != theirs.end() && their->first < ours->first);
    // Same prefix on both sides: one version computed (it reads the member
    // and its record, cold lines at 10,000 members).
    const bool differ = !take_ours && !take_theirs && version_of(table_.at(ours->second)) != their->second;
    if (take_ours || differ) {
      if (!offer(ours->second)) {
        body.truncated = true;
        body.resume = ours->first;
        break;
      }
    }
    if (take_theirs || differ) {
      body.wants.push_back(their->first);
    }
    if (!take_theirs) ++ours;
    if (!take_ours) ++their;
  }
  send(from, std::move(reply));
}

void GossipCore::on_digest_reply(const NodeId& from, const DigestReply& reply) {
  const Sorted& sorted = table_.sorted();
  Message answer{Sync{}, {}};
  std::size_t used = kMessageOverheadBytes;
  for (std::uint64_t want : reply.wants) {  // bounded by the codec's digest_entries_max
    auto it = first_at_or_after(sorted, want);
    if (it == sorted.end() || it->first != want) continue;
    Update u = update_for(table_.at(it->second));
    used += update_wire_size_bytes(u);
    if (used > options_.config.push_pull_reply_bytes_max) break;  // the next exchange repairs the rest
    answer.updates.push_back(std::move(u));
  }
  if (!answer.updates.empty()) send(from, std::move(answer));
  if (reply.truncated && reply.resume <= reply.hi) send_digest_pages(from, reply.resume, reply.hi);
}

}  // namespace polder::gossip
