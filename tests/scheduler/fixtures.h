// Small builders shared by the scheduler tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/ids.h"
#include "protocol/messages.h"
#include "scheduler/placement.h"

namespace polder::scheduler::testing {

inline NodeId node_id(std::uint32_t i) {
  NodeId::Bytes b{};
  b[0] = static_cast<std::uint8_t>(i >> 24);
  b[1] = static_cast<std::uint8_t>(i >> 16);
  b[2] = static_cast<std::uint8_t>(i >> 8);
  b[3] = static_cast<std::uint8_t>(i);
  b[31] = 1;  // never the zero id
  return NodeId(b);
}

inline JobId job_id(std::uint32_t i) {
  JobId::Bytes b{};
  b[0] = static_cast<std::uint8_t>(i >> 8);
  b[1] = static_cast<std::uint8_t>(i);
  b[30] = 7;
  return JobId(b);
}

constexpr std::uint64_t kGB = 1000ull * 1000 * 1000;

inline NodeRecord node(std::uint32_t i, const std::string& name, const std::string& gpu_type = "H100",
                       std::uint32_t gpus = 8, std::uint64_t expected_wait_ms = 0) {
  NodeRecord r;
  r.node_id = node_id(i);
  r.name = name;
  r.operator_name = "op-" + name;
  r.region = "eu";
  r.accelerators = {Accelerator{gpu_type, gpus, gpus}};
  r.cpus = 64;
  r.memory_bytes = 512 * kGB;
  r.expected_wait_ms = expected_wait_ms;
  r.queue_length = expected_wait_ms > 0 ? 1 : 0;
  return r;
}

inline Candidate candidate(NodeRecord record) { return Candidate{std::move(record), Policy{}, 0}; }

inline JobSpec job(std::uint32_t gpus = 1, const std::string& gpu_type = "H100") {
  JobSpec s;
  s.name = "train";
  s.command = "python";
  s.resources.gpus = gpus;
  s.resources.gpu_type = gpu_type;
  s.resources.cpus = 4;
  s.resources.memory_bytes = 16 * kGB;
  s.max_run_time_s = 600;
  return s;
}

}  // namespace polder::scheduler::testing
