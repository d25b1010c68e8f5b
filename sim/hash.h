// Hashing for the simulator's trace: a 64-bit mixer and a byte-string hash.
//
// Purpose: fold every processed event into one 64-bit trace hash so two runs
// can be compared cheaply ("same seed, same trace"). Not cryptographic; only
// collision-resistant enough that different runs give different hashes.
// Guarantees: results depend only on the input values and byte contents,
// never on addresses. Words are read in host byte order, so hashes match
// across little-endian hosts (x86-64, aarch64) only. Thread-safety: pure
// functions.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

namespace polder::sim {

// The finaliser of splitmix64 / MurmurHash3: a bijection with good avalanche.
inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Folds `value` into the running hash `h`; order matters, as it must for a trace.
inline std::uint64_t hash_combine(std::uint64_t h, std::uint64_t value) {
  return mix64(h ^ (value + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

// Hash of a byte string, 8 bytes at a time. The length is mixed in so that
// "ab" and "ab\0" differ.
inline std::uint64_t hash_bytes(std::span<const std::uint8_t> bytes) {
  std::uint64_t h = mix64(bytes.size() ^ 0x6a09e667f3bcc909ULL);
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes.data() + i, sizeof word);
    h = mix64(h ^ word);
  }
  if (i < bytes.size()) {
    std::uint64_t tail = 0;
    std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
    h = mix64(h ^ tail ^ 0xff00000000000000ULL);
  }
  return h;
}

}  // namespace polder::sim
