// Sample protocol values shared by the protocol tests.
#pragma once

#include <array>

#include "protocol/identity.h"
#include "protocol/messages.h"

namespace polder::testing {

inline Identity identity_from(std::uint8_t fill) {
  std::array<std::uint8_t, 32> seed;
  seed.fill(fill);
  return Identity::from_seed(seed);
}

inline NodeRecord sample_node_record(const NodeId& id) {
  NodeRecord r;
  r.node_id = id;
  r.incarnation = 3;
  r.sequence = 42;
  r.name = "dc-berlin-2";
  r.operator_name = "acme";
  r.region = "eu-central";
  r.address = "tcp://127.0.0.1:7400";
  r.accelerators = {{"H100", 8, 5}, {"A100", 4, 4}};
  r.cpus = 128;
  r.memory_bytes = 1ULL << 40;
  r.queue_length = 7;
  r.expected_wait_ms = 12000;
  r.datasets = {{"imagenet", 150ULL << 30}};
  return r;
}

inline JobSpec sample_job_spec(const NodeId& submitter) {
  JobSpec s;
  s.name = "train-resnet";
  s.command = "/usr/bin/python3";
  s.args = {"train.py", "--epochs", "3"};
  s.env = {{"BATCH", "256"}};
  s.files = {"train.py"};
  s.resources = {2, "H100", 16, 64ULL << 30};
  s.inputs = {{"imagenet", "dc-berlin-2", 150ULL << 30}};
  s.max_run_time_s = 3600;
  s.max_retries = 2;
  s.priority = 5;
  s.submitter = submitter;
  s.constraints.allowed_regions = {"eu-central", "eu-west"};
  s.constraints.denied_operators = {"evil"};
  s.labels = {{"team", "vision"}};
  s.submitted_at_us = 1764000000000000;
  s.nonce = 99;
  return s;
}

}  // namespace polder::testing
