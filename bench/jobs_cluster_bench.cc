// polder-bench-jobs: jobs end to end on a running federation of real
// polderd processes (issue 6, "Real cluster" target): submit → placed →
// running → finished, fsync on (the job store always writes kSync).
//
//   polder-bench-jobs --client n1/client.toml ... --client n5/client.toml [--seconds 60]
//
// Load: --threads client threads (thread t talks to node t % N, one
// RpcClient each: RpcClient is not thread-safe), each submitting `true`
// (cpus 1, max_run_time 60 s) in a closed loop for --seconds, so at most
// --threads submits are in flight; with --rate R the threads submit open
// loop, R jobs/s in total on a fixed schedule (the pure pipeline latency
// at a low R). Then every thread polls kStatus for its
// jobs at their origin until each is final or --drain-seconds pass.
//
// Prints one JSON object: submit and placement rates, outcomes, and
// submit → running latency two ways:
//   - metrics: the nodes' polder_job_submit_to_running_seconds histograms
//     (origin accepted → executor reported running), summed over nodes,
//     after minus before, p50/p99 interpolated inside the fixed buckets;
//   - views: started_at_us − submitted_at_us of every job's final view
//     (stamped by the executor and the origin; same machine, same clock).
// A submit a node refuses as busy (admission backpressure, kUnavailable:
// placement there lags by jobs.admission_lag_ms) counts in
// submits_refused_busy, not in submit_errors; a closed-loop thread then
// waits 20 ms before its next submit.
// The metrics come from http_listen in the polderd.toml beside each
// client.toml (the testnet layout); without it they are null.
//
// Exit status: 0 when at least one job was submitted and none was lost;
// 1 otherwise; 2 on bad arguments.
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "node/config.h"
#include "node/jobs.h"
#include "node/rpc_client.h"
#include "protocol/identity.h"

namespace {

using namespace polder;
using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr const char* kHistogram = "polder_job_submit_to_running_seconds_bucket";
constexpr std::size_t kHttpReplyBytesMax = 4 << 20;

struct Options {
  std::vector<std::string> clients;
  double seconds = 60;
  int threads = 10;
  double drain_seconds = 120;
  int timeout_ms = 5000;
  std::size_t jobs_per_thread_max = 200'000;
  double rate = 0;  // total submits/s, open loop, spread over the threads; 0 = closed loop
};

// One node as the bench reaches it.
struct Target {
  node::ClientConfig client;
  Identity key;
  std::string http_listen;  // "" = no metrics
};

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// GET http://host:port/metrics (HTTP/1.0, read to close). nullopt on any error.
std::optional<std::string> http_get_metrics(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = host_port.substr(0, colon), port = host_port.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) return std::nullopt;
  int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  bool ok = fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0;
  freeaddrinfo(res);
  std::string out;
  if (ok) {
    std::string req = "GET /metrics HTTP/1.0\r\nHost: " + host_port + "\r\n\r\n";
    ok = send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size());
    char buf[16384];
    for (ssize_t n; ok && (n = recv(fd, buf, sizeof buf, 0)) > 0 && out.size() < kHttpReplyBytesMax;) {
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  if (fd >= 0) close(fd);
  if (!ok || out.empty()) return std::nullopt;
  return out;
}

// Adds the histogram's cumulative bucket counts (le in seconds → count) of one
// /metrics text into `into`, times `sign` (so after − before is two calls).
void add_buckets(const std::string& text, double sign, std::map<double, double>& into) {
  std::size_t pos = 0;
  while ((pos = text.find(kHistogram, pos)) != std::string::npos) {
    std::size_t eol = text.find('\n', pos);
    std::string line = text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    pos += std::strlen(kHistogram);
    auto q1 = line.find("le=\""), close_brace = line.find('}');
    if (q1 == std::string::npos || close_brace == std::string::npos) continue;
    std::string le = line.substr(q1 + 4, line.find('"', q1 + 4) - q1 - 4);
    double bound = le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr);
    into[bound] += sign * std::strtod(line.c_str() + close_brace + 1, nullptr);
  }
}

// Quantile (ms) of a cumulative Prometheus histogram, linear inside a bucket
// as histogram_quantile() does; the last finite bound when it lands in +Inf.
std::optional<double> histogram_quantile_ms(const std::map<double, double>& cumulative, double q) {
  if (cumulative.empty() || cumulative.rbegin()->second <= 0) return std::nullopt;
  double rank = q * cumulative.rbegin()->second, lower = 0, below = 0;
  for (const auto& [bound, count] : cumulative) {
    if (count >= rank) {
      if (std::isinf(bound)) return lower * 1000;
      double share = count > below ? (rank - below) / (count - below) : 1;
      return (lower + (bound - lower) * share) * 1000;
    }
    lower = bound;
    below = count;
  }
  return lower * 1000;
}

std::optional<double> percentile(std::vector<double> v, double q) {
  if (v.empty()) return std::nullopt;
  std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

ordered_json opt(std::optional<double> v) { return v ? ordered_json(std::round(*v * 100) / 100) : ordered_json(); }

Result<Target> load_target(const std::string& client_path) {
  auto cfg = node::load_client_config(client_path);
  if (!cfg) return cfg.status();
  auto key = Identity::load(cfg->key_file);
  if (!key) return Status(key.status().code(), client_path + ": client key: " + key.status().message());
  Target t{*cfg, std::move(*key), ""};
  auto daemon_toml = std::filesystem::path(client_path).parent_path() / "polderd.toml";
  if (auto nc = node::load_node_config(daemon_toml.string())) t.http_listen = nc->http_listen;
  return t;
}

JobSpec bench_spec() {
  JobSpec spec;
  spec.name = "bench-true";
  spec.command = "true";
  spec.resources.cpus = 1;
  spec.max_run_time_s = 60;
  return spec;
}

// What one client thread did.
struct ThreadResult {
  std::uint64_t submit_errors = 0;
  std::uint64_t submits_refused_busy = 0;  // refused by admission backpressure (jobs.admission_lag_ms)
  std::string first_error;
  std::vector<JobId> jobs;
  std::vector<JobView> finals;     // the last view of each job polled (final or not)
  std::vector<bool> final_seen;
};

void note_error(ThreadResult& r, const Status& s) {
  ++r.submit_errors;
  if (r.first_error.empty()) r.first_error = s.message();
}

constexpr auto kBusyBackoff = std::chrono::milliseconds(20);

// An admission refusal (node/jobs.cc admission_open): kUnavailable like a
// timeout, told apart by its text (RpcClient turns the ErrorReply into a Status).
bool is_busy(const Status& s) {
  return s.code() == StatusCode::kUnavailable && s.message().find(" is behind: ") != std::string::npos;
}

// Closed loop (interval zero): the next submit as soon as the last is
// answered. Open loop: one submit every `interval` from `start`, on
// schedule whatever the replies took (a late one is sent at once).
void submit_loop(node::RpcClient& client, Clock::time_point start, Clock::duration interval, Clock::time_point end,
                 std::size_t jobs_max, ThreadResult& r) {
  for (std::uint64_t n = 0; Clock::now() < end && r.jobs.size() < jobs_max; ++n) {
    if (interval > Clock::duration::zero()) {
      auto at = start + interval * static_cast<std::int64_t>(n);
      if (at >= end) break;
      std::this_thread::sleep_until(at);
    }
    JobMessage m;
    m.kind = JobMessageKind::kSubmit;
    m.spec = bench_spec();
    auto reply = client.call(std::move(m));
    if (!reply && is_busy(reply.status())) {
      // The node is behind placing what it accepted (admission
      // backpressure): not an error of the run. A closed loop backs off
      // briefly instead of asking again at once; an open loop keeps its
      // schedule, so the offered rate stays what --rate says.
      ++r.submits_refused_busy;
      if (interval == Clock::duration::zero()) std::this_thread::sleep_for(kBusyBackoff);
      continue;
    }
    if (!reply) {
      note_error(r, reply.status());
      continue;
    }
    auto* job = std::get_if<JobMessage>(&reply->payload);
    if (!job || !job->job_id) {
      note_error(r, internal_error("submit reply without a job id"));
      continue;
    }
    r.jobs.push_back(*job->job_id);
  }
}

// Polls every job of this thread at its origin until final or `deadline`;
// sweeps repeat (with a pause when a sweep found nothing new) — bounded by the deadline.
void drain_loop(node::RpcClient& client, Clock::time_point deadline, ThreadResult& r) {
  r.finals.assign(r.jobs.size(), JobView{});
  r.final_seen.assign(r.jobs.size(), false);
  std::size_t left = r.jobs.size();
  while (left > 0 && Clock::now() < deadline) {
    std::size_t before = left;
    for (std::size_t i = 0; i < r.jobs.size() && Clock::now() < deadline; ++i) {
      if (r.final_seen[i]) continue;
      JobMessage m;
      m.kind = JobMessageKind::kStatus;
      m.job_id = r.jobs[i];
      auto reply = client.call(std::move(m));
      if (!reply) continue;
      auto* job = std::get_if<JobMessage>(&reply->payload);
      if (!job || job->jobs.empty()) continue;
      r.finals[i] = job->jobs[0];
      const std::string& s = r.finals[i].state;
      if (s == "finished" || s == "failed" || s == "cancelled") {
        r.final_seen[i] = true;
        --left;
      }
    }
    if (left == before) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

std::map<double, double> scrape(const std::vector<Target>& targets, double sign, std::map<double, double> into,
                                 int& scraped) {
  for (const auto& t : targets) {
    if (t.http_listen.empty()) continue;
    if (auto text = http_get_metrics(t.http_listen)) {
      add_buckets(*text, sign, into);
      ++scraped;
    }
  }
  return into;
}

bool placed_or_later(const std::string& s) {
  return s == "placed" || s == "running" || s == "finished" || s == "failed";
}

int run(const Options& o) {
  std::vector<Target> targets;
  for (const auto& path : o.clients) {
    auto t = load_target(path);
    if (!t) {
      std::cerr << "polder-bench-jobs: " << t.status().message() << "\n";
      return 2;
    }
    targets.push_back(std::move(*t));
  }
  std::vector<std::unique_ptr<node::RpcClient>> clients;
  for (int i = 0; i < o.threads; ++i) {
    const Target& t = targets[static_cast<std::size_t>(i) % targets.size()];
    auto c = node::RpcClient::connect(t.key, t.client.node_key, t.client.node_address,
                                      std::chrono::milliseconds(o.timeout_ms));
    if (!c) {
      std::cerr << "polder-bench-jobs: " << c.status().message() << "\n";
      return 2;
    }
    clients.push_back(std::move(*c));
  }
  int scraped_before = 0, scraped_after = 0;
  auto buckets = scrape(targets, -1, {}, scraped_before);
  std::string load_before = load_average();

  std::vector<ThreadResult> results(static_cast<std::size_t>(o.threads));
  std::int64_t start_wall_us = wall_us();
  auto start = Clock::now();
  auto end = start + std::chrono::microseconds(static_cast<std::int64_t>(o.seconds * 1e6));
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < o.threads; ++i) {
      // Open loop: thread i of T sends every T/rate seconds, offset by i/rate.
      const auto interval = o.rate > 0 ? std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(o.threads / o.rate))
                                       : Clock::duration::zero();
      const auto offset = o.rate > 0 ? std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(i / o.rate))
                                     : Clock::duration::zero();
      threads.emplace_back(
          [&, i, interval, offset] { submit_loop(*clients[i], start + offset, interval, end, o.jobs_per_thread_max, results[i]); });
    }
  }
  double submit_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::int64_t end_wall_us = wall_us();
  std::string load_during = load_average();
  auto drain_start = Clock::now();
  auto drain_deadline = drain_start + std::chrono::microseconds(static_cast<std::int64_t>(o.drain_seconds * 1e6));
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < o.threads; ++i) {
      threads.emplace_back([&, i] { drain_loop(*clients[i], drain_deadline, results[i]); });
    }
  }
  double drain_s = std::chrono::duration<double>(Clock::now() - drain_start).count();
  buckets = scrape(targets, +1, std::move(buckets), scraped_after);

  std::uint64_t submitted = 0, submit_errors = 0, refused_busy = 0, finished = 0, failed = 0, cancelled = 0, lost = 0;
  std::uint64_t placed = 0, started_in_window = 0;
  std::int64_t last_started_us = start_wall_us;
  std::vector<double> latency_ms;
  std::string first_error;
  for (const auto& r : results) {
    submitted += r.jobs.size();
    submit_errors += r.submit_errors;
    refused_busy += r.submits_refused_busy;
    if (first_error.empty()) first_error = r.first_error;
    for (std::size_t i = 0; i < r.finals.size(); ++i) {
      const JobView& v = r.finals[i];
      if (!r.final_seen[i]) ++lost;
      if (v.state == "finished") ++finished;
      if (v.state == "failed") ++failed;
      if (v.state == "cancelled") ++cancelled;
      if (placed_or_later(v.state)) ++placed;
      if (v.started_at_us > 0) {
        latency_ms.push_back(static_cast<double>(v.started_at_us - v.submitted_at_us) / 1000.0);
        if (v.started_at_us <= end_wall_us) ++started_in_window;
        last_started_us = std::max(last_started_us, v.started_at_us);
      }
    }
  }
  bool metrics_ok = scraped_before == static_cast<int>(targets.size()) && scraped_after == scraped_before;
  double placed_span_s = std::max(submit_s, static_cast<double>(last_started_us - start_wall_us) / 1e6);
  ordered_json out;
  out["bench"] = "jobs-cluster";
  out["nodes"] = targets.size();
  out["threads"] = o.threads;
  out["in_flight_max"] = o.threads;
  out["rate_per_s"] = o.rate > 0 ? ordered_json(o.rate) : ordered_json("closed loop");
  out["fsync"] = true;
  out["job"] = "true, cpus 1, max_run_time 60 s";
  out["seconds"] = std::round(submit_s * 100) / 100;
  out["jobs_submitted"] = submitted;
  out["submit_errors"] = submit_errors;
  out["submits_refused_busy"] = refused_busy;  // admission backpressure: retryable, not errors
  if (!first_error.empty()) out["first_submit_error"] = first_error;
  out["submit_per_s"] = std::round(static_cast<double>(submitted) / submit_s * 10) / 10;
  // Lower bound on placements inside the window: running implies placed.
  out["placed_per_s"] = std::round(static_cast<double>(started_in_window) / submit_s * 10) / 10;
  out["placed_total"] = placed;
  out["placed_total_per_s"] = std::round(static_cast<double>(placed) / placed_span_s * 10) / 10;
  out["last_start_after_s"] = std::round(placed_span_s * 100) / 100;
  out["finished"] = finished;
  out["failed"] = failed;
  out["cancelled"] = cancelled;
  out["lost"] = lost;
  out["drain_s"] = std::round(drain_s * 100) / 100;
  out["latency_source"] = metrics_ok ? "metrics" : "views";
  std::optional<double> p50 = metrics_ok ? histogram_quantile_ms(buckets, 0.5) : percentile(latency_ms, 0.5);
  std::optional<double> p99 = metrics_ok ? histogram_quantile_ms(buckets, 0.99) : percentile(latency_ms, 0.99);
  // A quantile past the last finite bucket (5 s) is only known to be above it.
  double top_ms = std::end(node::LatencyHistogram::kBucketsMs)[-1];
  auto shown = [&](std::optional<double> v) {
    return metrics_ok && v && *v >= top_ms ? ordered_json(">" + std::to_string(static_cast<int>(top_ms))) : opt(v);
  };
  out["submit_to_running_p50_ms"] = shown(p50);
  out["submit_to_running_p99_ms"] = shown(p99);
  out["metrics_jobs_observed"] = metrics_ok && !buckets.empty() ? buckets.rbegin()->second : 0.0;
  out["views_submit_to_running_p50_ms"] = opt(percentile(latency_ms, 0.5));
  out["views_submit_to_running_p99_ms"] = opt(percentile(latency_ms, 0.99));
  out["views_submit_to_running_max_ms"] = opt(latency_ms.empty() ? std::nullopt : std::optional<double>(
      *std::max_element(latency_ms.begin(), latency_ms.end())));
  out["load_average_before"] = load_before;
  out["load_average_end_of_submit"] = load_during;
  out["load_average_after"] = load_average();
  out["cpus_online"] = std::thread::hardware_concurrency();
  std::cout << out.dump(2) << "\n";
  return submitted > 0 && lost == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"polder-bench-jobs: submit → placed → running on a running federation (issue 6)."};
  app.add_option("--client", o.clients, "A node's client.toml (repeat for every node)")->required()
      ->check(CLI::ExistingFile);
  app.add_option("--seconds", o.seconds, "Submit for this long")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--threads", o.threads, "Client threads = submits in flight (thread t uses node t % N)")
      ->check(CLI::Range(1, 256));
  app.add_option("--drain-seconds", o.drain_seconds, "Poll status at most this long after submitting")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--timeout-ms", o.timeout_ms, "Per-request timeout")->check(CLI::Range(100, 600000));
  app.add_option("--rate", o.rate, "Open loop: submit this many jobs/s in total (0: closed loop)")
      ->check(CLI::Range(0.0, 100000.0));
  app.add_option("--jobs-per-thread-max", o.jobs_per_thread_max, "Bound on the jobs one thread submits")
      ->check(CLI::Range(1, 10'000'000));
  CLI11_PARSE(app, argc, argv);
  return run(o);
}
