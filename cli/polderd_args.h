// The `polderd` command line (init and run), apart from what they do
// (node/polderd_main.cc), so it can be tested and fuzzed without a node.
//
// Thread-safety: none; one App per parse.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

namespace polder::cli {

struct InitArgs {
  std::string dir;
  std::string name;
  std::string listen = "tcp://127.0.0.1:7400";
  std::string client_listen = "tcp://127.0.0.1:7401";
  std::optional<std::string> http_listen;  // default: 127.0.0.1:(client port + 10000)
  std::string region = "default";
  std::string operator_name = "default";
};

struct DaemonArgs {
  std::string command;  // "init" or "run", set by finish()
  InitArgs init;
  std::string config_path;      // run
  std::string invitation_file;  // run
};

std::unique_ptr<CLI::App> make_polderd_app(DaemonArgs& args);
void finish(const CLI::App& app, DaemonArgs& args);

}  // namespace polder::cli
