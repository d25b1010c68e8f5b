// polderd: the Polder node daemon.
//
//   polderd init --dir DIR [--name NAME] [--listen EP] [--client-listen EP]
//   polderd run --config DIR/polderd.toml
//
// Exit codes: 0 clean exit (including after SIGTERM/SIGINT), 1 runtime
// failure (storage locked, port in use, ...), 2 bad arguments or config.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>
#include <optional>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/polderd_args.h"
#include "node/config.h"
#include "node/daemon.h"

namespace {

using polder::Identity;
using polder::Status;
namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

std::atomic<bool> g_stop{false};  // written only by the signal handler

void on_signal(int) { g_stop.store(true); }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void setup_logging(const polder::node::NodeConfig& cfg) {
  auto logger = spdlog::stderr_color_mt("polderd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  if (cfg.log_json) {
    spdlog::set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%f%z","level":"%l","node":")" + cfg.name +
                        R"(","msg":"%v"})");
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [" + cfg.name + "] %v");
  }
}

// A node name from the directory's last component: "/tmp/n1" -> "n1".
std::string default_name(const std::string& dir) {
  std::string base = fs::path(dir).lexically_normal().filename().string();
  if (base.empty()) base = fs::path(dir).lexically_normal().parent_path().filename().string();
  std::string name;
  for (char c : base) name += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '-';
  return name.empty() ? "node" : name.substr(0, 64);
}

Status write_new_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream out(path, std::ios::out | std::ios::trunc);
  if (!out) return polder::permission_denied("cannot write " + path);
  out << text;
  out.close();
  if (!out) return polder::unavailable("cannot write " + path);
  ::chmod(path.c_str(), mode);
  return Status::ok();
}

using polder::cli::InitArgs;

int run_init(const InitArgs& a) {
  namespace pn = polder::node;
  for (const auto* ep : {&a.listen, &a.client_listen}) {
    if (auto s = pn::validate_tcp_endpoint(*ep); !s.is_ok()) {
      std::cerr << "polderd init: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  std::error_code ec;
  fs::create_directories(a.dir, ec);
  if (ec) {
    std::cerr << "polderd init: cannot create " << a.dir << ": " << ec.message() << "\n";
    return kExitFailure;
  }
  ::chmod(a.dir.c_str(), 0700);
  const std::string config_path = a.dir + "/polderd.toml";
  const std::string client_path = a.dir + "/client.toml";
  if (fs::exists(config_path) || fs::exists(a.dir + "/node.key")) {
    std::cerr << "polderd init: " << a.dir << " is already initialised (" << config_path
              << " or node.key exists); refusing to overwrite it\n";
    return kExitFailure;
  }
  Identity node_key = Identity::generate();
  Identity cli_key = Identity::generate();
  for (auto [id, file] : {std::pair{&node_key, "node.key"}, std::pair{&cli_key, "cli.key"}}) {
    if (auto s = id->save(a.dir + "/" + file); !s.is_ok()) {
      std::cerr << "polderd init: " << s.message() << "\n";
      return kExitFailure;
    }
  }
  pn::NodeConfig cfg;
  cfg.name = a.name.empty() ? default_name(a.dir) : a.name;
  cfg.data_dir = "data";
  cfg.key_file = "node.key";
  cfg.region = a.region;
  cfg.operator_name = a.operator_name;
  cfg.listen = a.listen;
  cfg.client_listen = a.client_listen;
  if (a.http_listen) {
    cfg.http_listen = *a.http_listen;
  } else {
    // One machine may hold many nodes (testnets): derive a distinct port.
    long port = std::stol(a.client_listen.substr(a.client_listen.rfind(':') + 1)) + 10000;
    if (port <= 65535) cfg.http_listen = "127.0.0.1:" + std::to_string(port);
  }
  cfg.authorized_keys = {cli_key.id()};
  cfg.admin_keys = {cli_key.id()};  // the operator's own CLI reads and cancels every job here
  pn::ClientConfig client;
  client.node_address = a.client_listen;
  client.node_key = node_key.id();
  client.key_file = "cli.key";
  // Validate what we are about to write exactly as `run` will read it.
  if (auto parsed = pn::parse_node_config(pn::render_node_config(cfg), config_path); !parsed) {
    std::cerr << "polderd init: " << parsed.status().message() << "\n";
    return kExitUsage;
  }
  for (auto [path, text] : {std::pair{config_path, pn::render_node_config(cfg)},
                            std::pair{client_path, pn::render_client_config(client)}}) {
    if (auto s = write_new_file(path, text, 0600); !s.is_ok()) {
      std::cerr << "polderd init: " << s.message() << "\n";
      return kExitFailure;
    }
  }
  std::cout << "initialised node " << cfg.name << "\n"
            << "  node id:     " << node_key.id().hex() << "\n"
            << "  config:      " << config_path << "\n"
            << "  client conf: " << client_path << "\n"
            << "start it:  polderd run --config " << config_path << "\n"
            << "reach it:  polder --config " << client_path << " ping\n";
  return kExitOk;
}

int run_daemon(const std::string& config_path, const std::string& invitation_file) {
  auto cfg = polder::node::load_node_config(config_path);
  if (!cfg) {
    std::cerr << "polderd: invalid config: " << cfg.status().message() << "\n";
    return kExitUsage;
  }
  setup_logging(*cfg);
  install_signal_handlers();
  spdlog::info("polderd {} starting with config {}", POLDER_VERSION, config_path);
  auto daemon = polder::node::Daemon::start(*cfg, std::make_unique<polder::node::SystemClock>(), invitation_file);
  if (!daemon) {
    spdlog::error("cannot start: {}", daemon.status().to_string());
    return kExitFailure;
  }
  Status stopped = (*daemon)->run(g_stop);
  spdlog::info("stopped");
  return stopped.is_ok() ? kExitOk : kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  polder::cli::DaemonArgs a;
  auto app = polder::cli::make_polderd_app(a);
  try {
    app->parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app->exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  polder::cli::finish(*app, a);
  if (a.command == "init") return run_init(a.init);
  return run_daemon(a.config_path, a.invitation_file);
}
