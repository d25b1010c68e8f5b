// Strong identifier types, so a NodeId can never be passed where a JobId is
// expected (STYLE.md habit 3).
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "protocol/status.h"

namespace polder {

// 32 raw bytes: an Ed25519 public key (NodeId) or a BLAKE2b-256 hash (JobId).
template <typename Tag>
class Id32 {
 public:
  static constexpr std::size_t kSizeBytes = 32;
  using Bytes = std::array<std::uint8_t, kSizeBytes>;

  Id32() { bytes_.fill(0); }
  explicit Id32(const Bytes& bytes) : bytes_(bytes) {}

  // Copies exactly 32 bytes; anything else is an error (peer input).
  static Result<Id32> from_bytes(std::span<const std::uint8_t> bytes) {
    if (bytes.size() != kSizeBytes) {
      return invalid_argument("identifier must be 32 bytes, got " + std::to_string(bytes.size()));
    }
    Bytes b;
    std::memcpy(b.data(), bytes.data(), kSizeBytes);
    return Id32(b);
  }
  // Parses 64 lowercase or uppercase hex digits.
  static Result<Id32> from_hex(std::string_view hex);

  const Bytes& bytes() const { return bytes_; }
  std::span<const std::uint8_t> span() const { return {bytes_.data(), bytes_.size()}; }
  bool is_zero() const {
    for (auto b : bytes_) if (b != 0) return false;
    return true;
  }
  std::string hex() const;
  // First 6 bytes in hex: what logs and tables print.
  std::string short_hex() const { return hex().substr(0, 12); }

  auto operator<=>(const Id32&) const = default;
  bool operator==(const Id32&) const = default;

 private:
  Bytes bytes_;
};

std::string to_hex(std::span<const std::uint8_t> bytes);
Result<std::array<std::uint8_t, 32>> hex_to_32(std::string_view hex);

template <typename Tag>
std::string Id32<Tag>::hex() const { return to_hex(span()); }

template <typename Tag>
Result<Id32<Tag>> Id32<Tag>::from_hex(std::string_view hex) {
  auto b = hex_to_32(hex);
  if (!b) return b.status();
  return Id32(*b);
}

struct NodeIdTag {};
struct JobIdTag {};
using NodeId = Id32<NodeIdTag>;  // a node is its Ed25519 public key
using JobId = Id32<JobIdTag>;    // hash of the job's signed spec

// Attempt number of a job: the fencing token of DESIGN.md.
struct Attempt {
  std::uint32_t value = 0;
  auto operator<=>(const Attempt&) const = default;
};

// Hash for unordered containers. Never let iteration order of such a
// container decide what is sent or chosen (STYLE.md habit 16).
struct Id32Hash {
  template <typename Tag>
  std::size_t operator()(const Id32<Tag>& id) const {
    std::size_t h;
    std::memcpy(&h, id.bytes().data(), sizeof h);  // keys are uniform already
    return h;
  }
};

}  // namespace polder
