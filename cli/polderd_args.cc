#include "cli/polderd_args.h"

namespace polder::cli {

std::unique_ptr<CLI::App> make_polderd_app(DaemonArgs& a) {
  auto app = std::make_unique<CLI::App>("polderd: the Polder node daemon. One per operator site; nodes gossip capacity, "
                                        "agree on job placement and run jobs for each other.");
  app->set_version_flag("--version", std::string("polderd ") + POLDER_VERSION);
  app->require_subcommand(1);

  auto* init_cmd = app->add_subcommand("init", "Create a node: key pair, a commented polderd.toml and the CLI's client.toml");
  init_cmd->add_option("--dir", a.init.dir, "Directory for the node's files (created, mode 0700)")->required();
  init_cmd->add_option("--name", a.init.name, "Node name (default: the directory's name)");
  init_cmd->add_option("--listen", a.init.listen, "Peer endpoint tcp://HOST:PORT")->capture_default_str();
  init_cmd->add_option("--client-listen", a.init.client_listen, "CLI endpoint tcp://HOST:PORT")->capture_default_str();
  init_cmd->add_option("--http-listen", a.init.http_listen,
                       "HTTP endpoint HOST:PORT for /metrics, /healthz and the dashboard (\"\" = off; "
                       "default 127.0.0.1 at the client port + 10000)");
  init_cmd->add_option("--region", a.init.region, "Region label")->capture_default_str();
  init_cmd->add_option("--operator", a.init.operator_name, "Operator label")->capture_default_str();

  auto* run_cmd = app->add_subcommand("run", "Run the node until SIGTERM/SIGINT");
  run_cmd->add_option("--config", a.config_path, "Path to polderd.toml")->required();
  run_cmd->add_option("--invitation", a.invitation_file,
                      "Join with this invitation (written by `polder invite` at a member): admits the inviter and "
                      "the federation it names; needed on the first run only")
      ->check(CLI::ExistingFile);

  return app;
}

void finish(const CLI::App& app, DaemonArgs& args) {
  auto chosen = app.get_subcommands();
  args.command = chosen.empty() ? "" : chosen.front()->get_name();
}

}  // namespace polder::cli
