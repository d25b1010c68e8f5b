#include "consensus/value.h"

namespace polder::consensus {

std::string InstanceKey::to_string() const { return job.short_hex() + "/" + std::to_string(attempt.value); }

Status validate_instance_spec(const InstanceSpec& spec) {
  POLDER_RETURN_IF_ERROR(validate_replica_set(spec.replicas));
  if (spec.origin.is_zero()) return invalid_argument("instance origin is the zero node id");
  return Status::ok();
}

Status validate_value(const Value& value) {
  if (value.kind != Value::Kind::kRun && value.kind != Value::Kind::kCancel) {
    return invalid_argument("value kind is neither run nor cancel");
  }
  if (value.is_run() && value.executor.is_zero()) return invalid_argument("run value names the zero executor");
  if (value.names_next_replicas()) POLDER_RETURN_IF_ERROR(validate_replica_set(value.next_replicas));
  return Status::ok();
}

std::string Value::to_string() const {
  std::string s = is_run() ? "run:" + executor.short_hex() + ":R" + std::to_string(reservation) : "cancel";
  if (names_next_replicas()) s += " next:" + std::to_string(next_replicas.size());
  return s;
}

}  // namespace polder::consensus
