#include "sim/gossip_records.h"

#include <cstring>

#include "sim/hash.h"

namespace polder::sim {
namespace {

constexpr std::size_t kHeaderBytes = 4 + 32 + 8 + 8 + 2;
constexpr std::size_t kTagBytes = 64;

void put64(Bytes& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t get64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void fill_tag(std::span<const std::uint8_t> signed_part, std::uint8_t* tag) {
  std::uint64_t h = hash_bytes(signed_part) ^ 0x5349474e41545552ULL;  // "SIGNATUR"
  for (std::size_t i = 0; i < kTagBytes; i += 8) {
    h = mix64(h + i);
    std::memcpy(tag + i, &h, 8);
  }
}

}  // namespace

Bytes make_fake_record(const NodeId& subject, std::uint64_t incarnation, std::uint64_t sequence, std::size_t body_bytes) {
  Bytes out;
  out.reserve(kHeaderBytes + body_bytes + kTagBytes);
  for (char c : {'F', 'R', 'E', 'C'}) out.push_back(static_cast<std::uint8_t>(c));
  for (std::uint8_t b : subject.bytes()) out.push_back(b);
  put64(out, incarnation);
  put64(out, sequence);
  out.push_back(static_cast<std::uint8_t>(body_bytes & 0xff));
  out.push_back(static_cast<std::uint8_t>(body_bytes >> 8));
  for (std::size_t i = 0; i < body_bytes; ++i) out.push_back(static_cast<std::uint8_t>('a' + (sequence + i) % 26));
  const std::size_t signed_size = out.size();
  out.resize(signed_size + kTagBytes);
  fill_tag({out.data(), signed_size}, out.data() + signed_size);
  return out;
}

Result<gossip::RecordHeader> FakeRecordVerifier::peek(std::span<const std::uint8_t> bytes) const {
  if (bytes.size() < kHeaderBytes + kTagBytes || std::memcmp(bytes.data(), "FREC", 4) != 0) {
    return invalid_argument("not a fake record");
  }
  const std::size_t body = bytes[kHeaderBytes - 2] | (std::size_t{bytes[kHeaderBytes - 1]} << 8);
  if (bytes.size() != kHeaderBytes + body + kTagBytes) return invalid_argument("fake record has the wrong length");
  gossip::RecordHeader header;
  auto subject = NodeId::from_bytes(bytes.subspan(4, 32));
  if (!subject) return subject.status();
  header.subject = *subject;
  header.incarnation = get64(bytes.data() + 36);
  header.sequence = get64(bytes.data() + 44);
  return header;
}

Result<std::shared_ptr<const gossip::VerifiedRecord>> FakeRecordVerifier::verify(
    std::span<const std::uint8_t> bytes, const gossip::RecordHeader& header) const {
  const std::size_t signed_size = bytes.size() - kTagBytes;
  std::uint8_t tag[kTagBytes];
  fill_tag(bytes.first(signed_size), tag);
  if (std::memcmp(tag, bytes.data() + signed_size, kTagBytes) != 0) {
    return permission_denied("bad signature on the record of " + header.subject.short_hex());
  }
  const std::uint64_t key = hash_bytes(bytes);
  auto it = interned_.find(key);
  if (it != interned_.end() && it->second->bytes.size() == bytes.size() &&
      std::memcmp(it->second->bytes.data(), bytes.data(), bytes.size()) == 0) {
    return it->second;
  }
  auto record = std::make_shared<const gossip::VerifiedRecord>(
      gossip::VerifiedRecord{header, Bytes(bytes.begin(), bytes.end())});
  interned_[key] = record;
  return std::shared_ptr<const gossip::VerifiedRecord>(record);
}

}  // namespace polder::sim
