#include "scheduler/job_validation.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace polder::scheduler {

namespace {

std::string join(const std::set<std::string>& items) {
  if (items.empty()) return "(none)";
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

Status check_name(const std::string& field, const std::string& value, const JobLimits& limits) {
  if (value.empty()) return invalid_argument(field + " is empty");
  if (value.size() > limits.name_length_max) {
    return invalid_argument(field + " is " + std::to_string(value.size()) + " characters, the limit is " +
                            std::to_string(limits.name_length_max));
  }
  return Status::ok();
}

Status check_resources(const Resources& r, const JobLimits& limits) {
  if (r.gpus == 0 && r.cpus == 0) return invalid_argument("resources: the job asks for no CPUs and no GPUs; ask for at least one");
  if (r.gpus > limits.gpus_max) {
    return invalid_argument("resources: gpus = " + std::to_string(r.gpus) + " is over the limit of " +
                            std::to_string(limits.gpus_max));
  }
  if (r.gpus == 0 && !r.gpu_type.empty()) {
    return invalid_argument("resources: gpu_type '" + r.gpu_type + "' is set but gpus = 0; ask for at least one GPU or drop the type");
  }
  if (!r.gpu_type.empty()) POLDER_RETURN_IF_ERROR(check_name("resources: gpu_type", r.gpu_type, limits));
  if (r.cpus > limits.cpus_max) {
    return invalid_argument("resources: cpus = " + std::to_string(r.cpus) + " is over the limit of " +
                            std::to_string(limits.cpus_max));
  }
  if (r.memory_bytes > limits.memory_bytes_max) {
    return invalid_argument("resources: memory_bytes = " + std::to_string(r.memory_bytes) + " is over the limit of " +
                            std::to_string(limits.memory_bytes_max));
  }
  return Status::ok();
}

Status check_inputs(const std::vector<DataInput>& inputs, const JobLimits& limits) {
  if (inputs.size() > limits.inputs_max) {
    return invalid_argument("inputs: " + std::to_string(inputs.size()) + " inputs, the limit is " +
                            std::to_string(limits.inputs_max));
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& in = inputs[i];
    const std::string field = "inputs[" + std::to_string(i) + "]";
    POLDER_RETURN_IF_ERROR(check_name(field + ".dataset", in.dataset, limits));
    POLDER_RETURN_IF_ERROR(check_name(field + ".site", in.site, limits));
    if (in.size_bytes > limits.input_size_bytes_max) {
      return invalid_argument(field + " (" + in.dataset + "): size_bytes = " + std::to_string(in.size_bytes) +
                              " is over the limit of " + std::to_string(limits.input_size_bytes_max));
    }
    if (!seen.emplace(in.dataset, in.site).second) {
      return invalid_argument(field + ": " + in.dataset + "@" + in.site + " is listed twice");
    }
  }
  return Status::ok();
}

Status check_list(const std::string& field, const std::vector<std::string>& list, const JobLimits& limits) {
  if (list.size() > limits.constraint_entries_max) {
    return invalid_argument("constraints: " + field + " has " + std::to_string(list.size()) +
                            " entries, the limit is " + std::to_string(limits.constraint_entries_max));
  }
  for (const auto& s : list) POLDER_RETURN_IF_ERROR(check_name("constraints: an entry of " + field, s, limits));
  return Status::ok();
}

Status check_constraints(const Constraints& c, const JobLimits& limits) {
  POLDER_RETURN_IF_ERROR(check_list("allowed_regions", c.allowed_regions, limits));
  POLDER_RETURN_IF_ERROR(check_list("denied_regions", c.denied_regions, limits));
  POLDER_RETURN_IF_ERROR(check_list("allowed_operators", c.allowed_operators, limits));
  POLDER_RETURN_IF_ERROR(check_list("denied_operators", c.denied_operators, limits));
  for (const auto& r : c.allowed_regions) {
    if (contains(c.denied_regions, r)) return invalid_argument("constraints: region '" + r + "' is both allowed and denied");
  }
  for (const auto& o : c.allowed_operators) {
    if (contains(c.denied_operators, o)) {
      return invalid_argument("constraints: operator '" + o + "' is both allowed and denied");
    }
  }
  return Status::ok();
}

}  // namespace

Status validate_job_shape(const JobSpec& spec, const JobLimits& limits) {
  POLDER_RETURN_IF_ERROR(check_resources(spec.resources, limits));
  if (spec.max_run_time_s == 0) {
    return invalid_argument("max_run_time_s is 0: set a maximum run time (for example --max-time 1h)");
  }
  if (spec.max_run_time_s > limits.run_time_s_max) {
    return invalid_argument("max_run_time_s = " + std::to_string(spec.max_run_time_s) + " is over the limit of " +
                            std::to_string(limits.run_time_s_max) + " s");
  }
  POLDER_RETURN_IF_ERROR(check_inputs(spec.inputs, limits));
  return check_constraints(spec.constraints, limits);
}

namespace {

// GPUs of the requested type on `node` (of any one type when none is named).
std::uint32_t gpus_total_for(const Resources& r, const NodeRecord& node) {
  std::uint32_t best = 0;
  for (const auto& a : node.accelerators) {
    if (r.gpu_type.empty() || a.type == r.gpu_type) best = std::max(best, a.total);
  }
  return best;
}

bool fits_total(const Resources& r, const NodeRecord& node) {
  return gpus_total_for(r, node) >= r.gpus && node.cpus >= r.cpus && node.memory_bytes >= r.memory_bytes;
}

bool allowed_by(const Constraints& c, const NodeRecord& node) {
  if (!c.allowed_regions.empty() && !contains(c.allowed_regions, node.region)) return false;
  if (contains(c.denied_regions, node.region)) return false;
  if (!c.allowed_operators.empty() && !contains(c.allowed_operators, node.operator_name)) return false;
  return !contains(c.denied_operators, node.operator_name);
}

Status check_gpu_type(const Resources& r, std::span<const NodeRecord> federation) {
  if (r.gpus == 0 || r.gpu_type.empty()) return Status::ok();
  std::set<std::string> types;
  for (const auto& node : federation) {
    for (const auto& a : node.accelerators) {
      if (a.total > 0) types.insert(a.type);
    }
  }
  if (types.count(r.gpu_type) == 0) {
    return invalid_argument("resources: unknown GPU type '" + r.gpu_type +
                            "': no node declares it; types in the federation: " + join(types));
  }
  return Status::ok();
}

// Each dimension alone, so the message names the one that is too large.
Status check_largest(const Resources& r, std::span<const NodeRecord> federation) {
  std::uint32_t gpus_max = 0, cpus_max = 0;
  std::uint64_t memory_max = 0;
  for (const auto& node : federation) {
    gpus_max = std::max(gpus_max, gpus_total_for(r, node));
    cpus_max = std::max(cpus_max, node.cpus);
    memory_max = std::max(memory_max, node.memory_bytes);
  }
  const std::string type = r.gpu_type.empty() ? "GPUs" : r.gpu_type + " GPUs";
  if (r.gpus > gpus_max) {
    return invalid_argument("resources: asks for " + std::to_string(r.gpus) + " " + type + ", the most any node has is " +
                            std::to_string(gpus_max));
  }
  if (r.cpus > cpus_max) {
    return invalid_argument("resources: asks for " + std::to_string(r.cpus) + " CPUs, the most any node has is " +
                            std::to_string(cpus_max));
  }
  if (r.memory_bytes > memory_max) {
    return invalid_argument("resources: asks for " + std::to_string(r.memory_bytes) +
                            " bytes of memory, the most any node has is " + std::to_string(memory_max));
  }
  return Status::ok();
}

}  // namespace

Status validate_job_for_federation(const JobSpec& spec, std::span<const NodeRecord> federation,
                                   const JobLimits& limits) {
  POLDER_RETURN_IF_ERROR(validate_job_shape(spec, limits));
  if (federation.empty()) return failed_precondition("no node records are known yet; retry once gossip has converged");
  const Resources& r = spec.resources;
  POLDER_RETURN_IF_ERROR(check_gpu_type(r, federation));
  POLDER_RETURN_IF_ERROR(check_largest(r, federation));
  bool any_fits = false, any_allowed = false, any_both = false;
  std::set<std::string> regions, operators;
  for (const auto& node : federation) {
    const bool fits = fits_total(r, node);
    const bool allowed = allowed_by(spec.constraints, node);
    any_fits |= fits;
    any_allowed |= allowed;
    any_both |= fits && allowed;
    regions.insert(node.region);
    operators.insert(node.operator_name);
  }
  if (!any_fits) {
    return invalid_argument("resources: no single node has all of " + std::to_string(r.gpus) + " GPUs, " +
                            std::to_string(r.cpus) + " CPUs and " + std::to_string(r.memory_bytes) +
                            " bytes of memory together");
  }
  if (!any_allowed) {
    return invalid_argument("constraints: no node is in an allowed region and operator; regions in the federation: " +
                            join(regions) + "; operators: " + join(operators));
  }
  if (!any_both) {
    return invalid_argument("constraints: no node that the constraints allow is large enough for the resources asked");
  }
  return Status::ok();
}

}  // namespace polder::scheduler
