#include "consensus/records.h"

#include <cstring>

namespace polder::consensus {

std::string record_key(RecordKind kind, const InstanceKey& key) {
  std::string out(kRecordKeySizeBytes, '\0');
  out[0] = static_cast<char>(kind);
  std::memcpy(out.data() + 1, key.job.bytes().data(), 32);
  const std::uint32_t a = key.attempt.value;
  out[33] = static_cast<char>(a >> 24);
  out[34] = static_cast<char>(a >> 16);
  out[35] = static_cast<char>(a >> 8);
  out[36] = static_cast<char>(a);
  return out;
}

Result<std::pair<RecordKind, InstanceKey>> parse_record_key(std::string_view key) {
  if (key.size() != kRecordKeySizeBytes) {
    return invalid_argument("consensus record key is " + std::to_string(key.size()) + " bytes, expected " +
                            std::to_string(kRecordKeySizeBytes));
  }
  const char kind = key[0];
  if (kind != 'a' && kind != 'p' && kind != 'd') return invalid_argument("unknown consensus record kind");
  InstanceKey out;
  JobId::Bytes job;
  std::memcpy(job.data(), key.data() + 1, 32);
  out.job = JobId(job);
  const auto* b = reinterpret_cast<const std::uint8_t*>(key.data()) + 33;
  out.attempt.value = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
  return std::make_pair(static_cast<RecordKind>(kind), out);
}

}  // namespace polder::consensus
