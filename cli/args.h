// The `polder` command line: every subcommand, flag and check, apart from
// what running a command does (cli/polder_main.cc). Kept apart so the
// parser can be tested and fuzzed (fuzz/cli_args_fuzz.cc) without a node:
// parsing reads no config file and dials nothing.
//
// Thread-safety: none; one App per parse.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "protocol/messages.h"
#include "protocol/status.h"

namespace polder::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitNodeError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;
inline constexpr int kExitRefused = 4;

struct Options {
  std::string config_path;
  bool json = false;
  int timeout_ms = 0;  // 0: from client.toml
};

struct SubmitOptions {
  std::string file;
  std::uint32_t gpus = 0;
  std::string gpu_type;
  std::uint32_t cpus = 0;
  std::string mem;
  std::vector<std::string> inputs;
  std::vector<std::string> regions;
  std::vector<std::string> env;
  std::string max_time;
  std::string name;
  std::uint32_t retries = 0;
  bool retries_set = false;
  bool wait = false;
  std::vector<std::string> command;
};

// What a parse fills in. `command` is the subcommand's name ("submit").
struct Args {
  Options o;
  SubmitOptions submit;
  std::string command;
  std::string job_id;  // status, logs, cancel
  bool follow = false;  // logs
  std::string state_filter, node_filter;  // list
  std::string revoke_key, revoke_reason;
  std::string invite_key, invite_operator, invite_expires = "24h", invite_out;
};

// The CLI11 app writing into `args`, which must outlive it. After a parse
// that did not throw, call finish(): it sets args.command.
std::unique_ptr<CLI::App> make_app(Args& args);
void finish(const CLI::App& app, Args& args);

// The job a `submit` asks for: -f's file (read here) overridden by flags.
// InvalidArgument with the flag's name when a value does not parse.
Result<JobSpec> spec_from(const SubmitOptions& s);

}  // namespace polder::cli
