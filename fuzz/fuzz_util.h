// Helpers shared by the libFuzzer targets in fuzz/.
//
// FUZZ_CHECK states an invariant a target checks after the code under test
// returned (a round trip, a core's invariant checker): it prints what broke
// and aborts, which libFuzzer reports as a crash with the input saved.
//
// FrameReader cuts one fuzz input into frames, front to back, so a seed can
// hold several messages and the generator (make_corpus.cc) can write them:
//   frame = op (1 byte) | length (2 bytes, little-endian) | length bytes
// A short tail becomes a last frame with what is left.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#define FUZZ_CHECK(cond, what)                                                         \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d): %s\n", #cond, __FILE__,      \
                   __LINE__, std::string(what).c_str());                               \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

namespace polder::fuzz {

struct Frame {
  std::uint8_t op = 0;
  std::span<const std::uint8_t> bytes;
};

class FrameReader {
 public:
  FrameReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool next(Frame& frame) {
    if (pos_ >= size_) return false;
    frame.op = data_[pos_++];
    std::size_t length = 0;
    if (size_ - pos_ >= 2) {
      length = static_cast<std::size_t>(data_[pos_]) | (static_cast<std::size_t>(data_[pos_ + 1]) << 8);
      pos_ += 2;
    }
    if (length > size_ - pos_) length = size_ - pos_;
    frame.bytes = {data_ + pos_, length};
    pos_ += length;
    return true;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// Appends one frame to `out` (the generator's side of FrameReader).
inline void append_frame(std::vector<std::uint8_t>& out, std::uint8_t op, std::span<const std::uint8_t> bytes) {
  out.push_back(op);
  out.push_back(static_cast<std::uint8_t>(bytes.size() & 0xff));
  out.push_back(static_cast<std::uint8_t>((bytes.size() >> 8) & 0xff));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

}  // namespace polder::fuzz

#include "protocol/ids.h"

namespace polder::fuzz {

// Node i of a target's small federation: distinct ids that differ in the
// first 8 bytes too (gossip names members by that prefix).
inline NodeId member_id(std::uint32_t i) {
  NodeId::Bytes b{};
  for (std::size_t k = 0; k < 8; ++k) b[k] = static_cast<std::uint8_t>(0x11 * (i + 1) + k);
  b[8] = static_cast<std::uint8_t>(i);
  return NodeId(b);
}

}  // namespace polder::fuzz
