#include "cli/args.h"

#include "node/config.h"
#include "node/job_file.h"

namespace polder::cli {

namespace {

constexpr const char* kExitCodesHelp =
    "Exit codes: 0 ok, 1 node answered with an error, 2 bad arguments or config, "
    "3 node unreachable/timeout, 4 node refused this client's key or this request (not allowed for it).\n"
    "The client config comes from --config or $POLDER_CONFIG (written by `polderd init` as DIR/client.toml).";

}  // namespace

std::unique_ptr<CLI::App> make_app(Args& a) {
  auto app = std::make_unique<CLI::App>("polder: submit and follow jobs on a Polder federation, through any node.");
  app->footer(kExitCodesHelp);
  app->set_version_flag("--version", std::string("polder ") + POLDER_VERSION);
  app->add_option("-c,--config", a.o.config_path, "Client config (DIR/client.toml)")->envname("POLDER_CONFIG");
  app->add_flag("--json", a.o.json, "Print machine-readable JSON");
  app->add_option("--timeout-ms", a.o.timeout_ms, "Reply timeout (default: client.toml timeout_ms)")
      ->check(CLI::Range(1, 600000));
  app->require_subcommand(1);
  app->add_subcommand("ping", "Check that the node answers, and how fast");
  app->add_subcommand("info", "Show the node's id, name, version, uptime and peers");
  app->add_subcommand("nodes", "List the federation's members as this node sees them: state, "
                                            "operator, region, GPUs free/total, queue, estimated RTT (* = this node)");
  app->add_subcommand("links", "Estimated RTT (Vivaldi) and bandwidth between every pair of live "
                                            "members, as this node sees them");
  auto* submit = app->add_subcommand("submit", "Submit a job to the federation through this node; prints its id");
  submit->add_option("-f,--file", a.submit.file, "Job spec file (job.toml; flags override it)")->check(CLI::ExistingFile);
  submit->add_option("--gpus", a.submit.gpus, "GPUs the job needs")->check(CLI::Range(0, 4096));
  submit->add_option("--gpu-type", a.submit.gpu_type, "GPU model, e.g. H100 (default: any)");
  submit->add_option("--cpus", a.submit.cpus, "CPU cores (default 1 when nothing else is asked)")->check(CLI::Range(0, 1 << 20));
  submit->add_option("--mem", a.submit.mem, "Memory, e.g. 8G");
  submit->add_option("--input", a.submit.inputs, "Input dataset NAME@SITE:SIZE (repeatable), e.g. imagenet@dc-a:40G");
  submit->add_option("--region", a.submit.regions, "Run only in this region (repeatable)");
  submit->add_option("--env", a.submit.env, "Environment variable KEY=VALUE for the job (repeatable)");
  submit->add_option("--max-time", a.submit.max_time, "Maximum run time (90s, 30m, 1h, 2d); default: the node's");
  submit->add_option("--name", a.submit.name, "Job name (default: the command)");
  submit->add_option("--retries", a.submit.retries, "Run again this many times if it fails")
      ->check(CLI::Range(0, 100))->each([&](const std::string&) { a.submit.retries_set = true; });
  submit->add_flag("--wait", a.submit.wait,
                   "Follow the job (queued -> placed -> running -> finished) with its output, "
                   "and exit with the job's exit status");
  submit->add_option("command", a.submit.command, "-- COMMAND ARGS...: what to run");
  auto* status = app->add_subcommand("status", "Show a job's state, from any node");
  status->add_option("job", a.job_id, "Job id (64 hex digits)")->required();
  auto* logs = app->add_subcommand("logs", "Print a job's output (stdout and stderr), from any node");
  logs->add_option("job", a.job_id, "Job id")->required();
  logs->add_flag("-f,--follow", a.follow, "Keep printing output until the job ends");
  auto* cancel = app->add_subcommand("cancel", "Cancel a job (stops it if it runs)");
  cancel->add_option("job", a.job_id, "Job id")->required();
  auto* list = app->add_subcommand("list", "List the federation's jobs known to the live nodes");
  list->add_option("--state", a.state_filter, "Only jobs in this state")
      ->check(CLI::IsMember({"queued", "placed", "running", "finished", "failed", "cancelled"}));
  list->add_option("--node", a.node_filter, "Only jobs run by this node (name or id prefix)");
  auto* revoke = app->add_subcommand(
      "revoke", "Remove a node or CLI key from the federation: signed with this CLI's key, which must be a founder "
                "([federation] founders) and an admin of the node; every member refuses the key from then on");
  revoke->add_option("key", a.revoke_key, "The key to revoke (64 hex digits)")->required();
  revoke->add_option("--reason", a.revoke_reason, "Why, for the operators' logs (at most 256 bytes)");
  auto* invite = app->add_subcommand(
      "invite", "Invite a new node into the federation: this node (a member) signs an invitation of KEY and spreads "
                "it to every member; needs an admin key of the node. Prints the invitation, or writes it to --out");
  invite->add_option("--key", a.invite_key, "The new node's key (64 hex digits: `polderd init` prints it)")->required();
  invite->add_option("--operator", a.invite_operator, "The operator the new node belongs to")->required();
  invite->add_option("--expires", a.invite_expires, "Use it within this long (90s, 30m, 24h, 7d)")->capture_default_str();
  invite->add_option("-o,--out", a.invite_out, "Write the invitation to this file (must not exist)");
  app->add_subcommand(
      "rotate-key", "Give the node a new key pair: it signs the new key with its current one (keeping its identity "
                    "history), tells every member, and switches at its next restart; needs an admin key of the node");
  return app;
}

void finish(const CLI::App& app, Args& args) {
  auto chosen = app.get_subcommands();
  args.command = chosen.empty() ? "" : chosen.front()->get_name();
}

Result<JobSpec> spec_from(const SubmitOptions& s) {
  JobSpec spec;
  if (!s.file.empty()) {
    auto f = node::load_job_file(s.file);
    if (!f) return f.status();
    spec = std::move(*f);
  }
  if (!s.command.empty()) {
    spec.command = s.command[0];
    spec.args.assign(s.command.begin() + 1, s.command.end());
  }
  if (spec.command.empty()) {
    return invalid_argument("nothing to run: give -f job.toml or `-- COMMAND ARGS...`");
  }
  if (s.gpus) spec.resources.gpus = s.gpus;
  if (!s.gpu_type.empty()) spec.resources.gpu_type = s.gpu_type;
  if (s.cpus) spec.resources.cpus = s.cpus;
  if (!s.mem.empty()) {
    auto b = node::parse_size_bytes(s.mem);
    if (!b) return invalid_argument("--mem: " + b.status().message());
    spec.resources.memory_bytes = *b;
  }
  for (const auto& in : s.inputs) {
    auto parsed = node::parse_input(in);
    if (!parsed) return invalid_argument("--input: " + parsed.status().message());
    spec.inputs.push_back(*parsed);
  }
  for (const auto& r : s.regions) spec.constraints.allowed_regions.push_back(r);
  for (const auto& e : s.env) {
    auto eq = e.find('=');
    if (eq == std::string::npos || eq == 0) return invalid_argument("--env: \"" + e + "\" is not KEY=VALUE");
    spec.env.push_back({e.substr(0, eq), e.substr(eq + 1)});
  }
  if (!s.max_time.empty()) {
    auto secs = node::parse_duration_s(s.max_time);
    if (!secs) return invalid_argument("--max-time: " + secs.status().message());
    spec.max_run_time_s = *secs;
  }
  if (!s.name.empty()) spec.name = s.name;
  if (s.retries_set) spec.max_retries = s.retries;
  return spec;
}

}  // namespace polder::cli
