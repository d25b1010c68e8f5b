// Validation of a JobSpec before it is placed: on submit, at any node.
//
// Two layers. validate_job_shape() needs nothing but the spec: zero or absurd
// values, malformed inputs and constraints. validate_job_for_federation()
// also checks the spec against the gossiped node records: a GPU type no node
// declares, a request larger than any single node, constraints that exclude
// every node. Each error is an InvalidArgument whose message names the field
// and says what would be accepted, so a submitter can fix the spec.
//
// Guarantees: pure; never aborts on any spec or record (both are input).
// Thread-safety: free functions over their arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "protocol/messages.h"
#include "protocol/status.h"

namespace polder::scheduler {

// Bounds on what one job may ask for. An operator may tighten them.
struct JobLimits {
  std::uint32_t gpus_max = 4096;
  std::uint32_t cpus_max = 1u << 20;
  std::uint64_t memory_bytes_max = std::uint64_t{1} << 50;      // 1 PiB
  std::uint64_t run_time_s_max = 90ull * 24 * 3600;              // 90 days
  std::size_t inputs_max = 256;
  std::uint64_t input_size_bytes_max = std::uint64_t{1} << 56;  // 64 PiB
  std::size_t constraint_entries_max = 64;
  std::size_t name_length_max = 256;  // gpu type, dataset, site, region, operator
};

// The spec alone. max_run_time_s must be set (> 0): the host fills in its
// default before validating, because the executor enforces it.
Status validate_job_shape(const JobSpec& spec, const JobLimits& limits = {});

// The shape, then the spec against the federation's node records.
Status validate_job_for_federation(const JobSpec& spec, std::span<const NodeRecord> federation,
                                   const JobLimits& limits = {});

}  // namespace polder::scheduler
