#include "consensus/replica_set.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace polder::consensus {
namespace {

std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t absorb(std::uint64_t h, std::span<const std::uint8_t, 32> bytes) {
  for (std::size_t i = 0; i < 32; i += 8) {  // bounded: 4 words
    std::uint64_t word;
    std::memcpy(&word, bytes.data() + i, sizeof word);
    h = mix64(h ^ word) + 0x9e3779b97f4a7c15ULL;
  }
  return h;
}

}  // namespace

Status validate_replica_set(const ReplicaSet& replicas) {
  if (replicas.size() < kReplicasMin || replicas.size() > kReplicasMax) {
    return invalid_argument("replica set must hold " + std::to_string(kReplicasMin) + ".." +
                            std::to_string(kReplicasMax) + " nodes, got " + std::to_string(replicas.size()));
  }
  for (std::size_t i = 0; i < replicas.size(); ++i) {
    if (replicas[i].is_zero()) return invalid_argument("replica set holds a zero node id");
    if (i > 0 && !(replicas[i - 1] < replicas[i])) {
      return invalid_argument("replica set must be sorted and free of duplicates");
    }
  }
  return Status::ok();
}

bool is_member(const ReplicaSet& replicas, const NodeId& node) {
  return std::binary_search(replicas.begin(), replicas.end(), node);
}

std::uint64_t rendezvous_score(const JobId& job, Attempt attempt, const NodeId& node) {
  std::uint64_t h = mix64(0x706f6c6465722d72ULL ^ attempt.value);  // "polder-r"
  h = absorb(h, std::span<const std::uint8_t, 32>(job.bytes()));
  h = absorb(h, std::span<const std::uint8_t, 32>(node.bytes()));
  return mix64(h);
}

Result<ReplicaSet> rendezvous_replica_set(const JobId& job, Attempt attempt, std::span<const NodeId> members,
                                          std::size_t count) {
  if (count < kReplicasMin || count > kReplicasMax) {
    return invalid_argument("replica count must be " + std::to_string(kReplicasMin) + ".." +
                            std::to_string(kReplicasMax) + ", got " + std::to_string(count));
  }
  std::vector<std::pair<std::uint64_t, NodeId>> scored;
  scored.reserve(members.size());
  for (const NodeId& m : members) scored.emplace_back(rendezvous_score(job, attempt, m), m);
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;  // ties: by id, deterministic
  });
  ReplicaSet out;
  for (const auto& [score, node] : scored) {  // bounded by members.size()
    if (out.size() == count) break;
    if (std::find(out.begin(), out.end(), node) == out.end()) out.push_back(node);
  }
  if (out.size() < count) {
    return invalid_argument("need " + std::to_string(count) + " distinct members for a replica set, have " +
                            std::to_string(out.size()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace polder::consensus
