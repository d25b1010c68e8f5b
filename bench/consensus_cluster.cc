// polder-bench-consensus-cluster: per-job Paxos on a 3-node loopback cluster
// of real processes — CurveZMQ transport, RocksDB with fsync'ed group
// commit — measuring what a job submitter would see: decisions per second
// and the latency from propose() to the chosen event at the origin.
//
// The parent generates three identities into a temp dir, picks free
// loopback ports, and fork/execs itself three times with --member i (see
// consensus_cluster_member.h). Members connect to each other (each admits
// only the other two keys), wait for a common start time, run the load,
// and write result-<i>.json; the parent merges them and prints one JSON
// object:
//
//   default        closed loop, --concurrency instances in flight from
//                  member 0 (or --drivers N members) for --seconds;
//   --contention   members 0 and 1 both propose a different value for every
//                  instance at --rate per second, while member 2 proposes
//                  its own uncontended instances at --reference-rate: their
//                  p50 in the same run is the round-trip unit latencies are
//                  reported in (see contention_report). A short 1-in-flight
//                  run first gives the older, separately measured unit too.
//
// --profile adds each member's loop timings (wall and thread CPU), core and
// transport counters; --daemon-order ticks after delivering, as
// Daemon::turn does, to measure what that order costs; --sync-commit
// fsyncs on the event loop (one turn's writes at a time) instead of on the
// host's committer thread (node::CoreHostOptions::pipelined); --no-bundle
// sends one envelope per message instead of one per peer per flush.
//
// Exit status: 0 when at least one instance was decided and every member
// exited cleanly; 1 otherwise; 2 on bad arguments.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "bench/consensus_cluster_member.h"
#include "protocol/identity.h"

namespace {

using namespace polder;
using namespace polder::bench;
using nlohmann::ordered_json;

constexpr int kMembers = 3;
constexpr std::int64_t kStartDelay_us = 1'500'000;  // members start, bind, connect, handshake
constexpr std::int64_t kExitTimeoutExtra_us = 20'000'000;
constexpr int kFsyncProbes = 100;

struct RunOptions {
  LoadMode mode = LoadMode::kThroughput;
  double seconds = 10;
  std::uint32_t concurrency = 64;
  int drivers = 1;
  double rate_per_s = 200;
  double reference_rate_per_s = 50;  // contention: member 2's uncontended instances, the round-trip unit
  // Ceiling and starting point of the adaptive timeout unit: the core
  // lowers it to what its phases measure (ConsensusOptions::rtt_adaptive).
  std::int64_t rtt_us = 100'000;
  bool rtt_adaptive = true;
  double grace_s = 2;
  std::string dir_base = "/tmp";
  bool daemon_order = false;
  bool sync_commit = false;  // fsync on the event loop (CoreHost's synchronous mode)
  bool no_bundle = false;    // one envelope per consensus message
  bool keep_dir = false;
};

// A loopback port free right now (the kernel picks it; the member binds it
// a moment later, a race that only a busy machine could lose).
Result<int> free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return unavailable("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  if (port <= 0) return unavailable("no free loopback port");
  return port;
}

// Nearest-rank percentile (q in [0, 1]) of raw values.
double percentile(std::vector<std::int64_t> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return static_cast<double>(v[std::min(rank > 0 ? rank - 1 : 0, v.size() - 1)]);
}

double percentile_ms(const std::vector<std::int64_t>& us, double q) { return percentile(us, q) / 1000.0; }

// fdatasync latency of the disk under the temp dir right now: the floor of
// every decision (DESIGN.md measured 0.17 ms on a quiet machine; builds on
// the same disk make it many times slower), printed with each result.
Result<double> fsync_p50_ms(const std::string& dir) {
  const std::string path = dir + "/fsync-probe";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return unavailable("cannot create " + path);
  std::vector<std::int64_t> us;
  const char byte = 'x';
  for (int i = 0; i < kFsyncProbes; ++i) {
    const std::int64_t t0 = steady_now_us();
    if (::write(fd, &byte, 1) != 1 || ::fdatasync(fd) != 0) break;
    us.push_back(steady_now_us() - t0);
  }
  ::close(fd);
  ::unlink(path.c_str());
  if (us.size() != static_cast<std::size_t>(kFsyncProbes)) return unavailable("fdatasync failed in " + dir);
  return percentile_ms(us, 0.5);
}

template <typename T>
std::string join(const std::vector<T>& v) {
  std::ostringstream s;
  for (std::size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
  return s.str();
}

std::vector<std::string> member_args(const RunOptions& o, const MemberConfig& m, int index) {
  std::vector<std::string> ids;
  for (const auto& id : m.ids) ids.push_back(id.hex());
  std::vector<std::string> args = {"polder-bench-consensus-cluster",
                                   "--member", std::to_string(index),
                                   "--dir", m.dir,
                                   "--ids", join(ids),
                                   "--ports", join(m.ports),
                                   "--driver-list", join(m.drivers),
                                   "--mode", o.mode == LoadMode::kContention ? "contention" : "throughput",
                                   "--start-us", std::to_string(m.start_us),
                                   "--seconds", std::to_string(o.seconds),
                                   "--grace", std::to_string(o.grace_s),
                                   "--concurrency", std::to_string(o.concurrency),
                                   "--rate", std::to_string(o.rate_per_s),
                                   "--reference-rate", std::to_string(o.reference_rate_per_s),
                                   "--rtt-us", std::to_string(o.rtt_us)};
  if (o.daemon_order) args.push_back("--daemon-order");
  if (o.sync_commit) args.push_back("--sync-commit");
  if (o.no_bundle) args.push_back("--no-bundle");
  if (!o.rtt_adaptive) args.push_back("--fixed-rtt");
  return args;
}

pid_t spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits for every child until `deadline_us`, then kills the stragglers.
bool wait_all(std::vector<pid_t>& pids, std::int64_t deadline_us) {
  bool clean = true;
  std::size_t left = pids.size();
  while (left > 0) {
    for (auto& pid : pids) {
      if (pid <= 0) continue;
      int status = 0;
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == 0) continue;
      if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::cerr << "member pid " << pid << " failed (status " << status << ")\n";
        clean = false;
      }
      pid = 0;
      --left;
    }
    if (left > 0 && steady_now_us() > deadline_us) {
      for (auto& pid : pids) {
        if (pid > 0) ::kill(pid, SIGKILL);
      }
      std::cerr << "members did not finish in time; killed\n";
      deadline_us = INT64_MAX;
      clean = false;
    }
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return clean;
}

struct ClusterRun {
  bool clean = false;
  double fsync_p50_ms = 0;
  std::vector<ordered_json> results;  // by member index; null when missing
};

Result<ClusterRun> run_cluster(const RunOptions& o) {
  std::string tmpl = o.dir_base + "/polder-cbench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return unavailable("cannot create a temp dir under " + o.dir_base);
  MemberConfig m;
  m.dir = tmpl;
  ClusterRun run;
  auto probe = fsync_p50_ms(m.dir);
  if (!probe) return probe.status();
  run.fsync_p50_ms = *probe;
  for (int i = 0; i < kMembers; ++i) {
    Identity id = Identity::generate();
    POLDER_RETURN_IF_ERROR(id.save(m.dir + "/key-" + std::to_string(i)));
    m.ids.push_back(id.id());
    auto port = free_port();
    if (!port) return port.status();
    m.ports.push_back(*port);
  }
  for (int i = 0; i < (o.mode == LoadMode::kContention ? 2 : o.drivers); ++i) m.drivers.push_back(i);
  m.start_us = steady_now_us() + kStartDelay_us;
  std::vector<pid_t> pids;
  for (int i = 0; i < kMembers; ++i) pids.push_back(spawn(member_args(o, m, i)));
  const auto run_us = static_cast<std::int64_t>((o.seconds + o.grace_s) * 1e6);
  run.clean = wait_all(pids, m.start_us + run_us + kExitTimeoutExtra_us);
  for (int i = 0; i < kMembers; ++i) {
    std::ifstream in(m.dir + "/result-" + std::to_string(i) + ".json");
    ordered_json j = in ? ordered_json::parse(in, nullptr, false) : ordered_json();
    if (j.is_discarded()) j = ordered_json();
    run.clean = run.clean && !j.is_null();
    run.results.push_back(std::move(j));
  }
  if (!o.keep_dir) std::filesystem::remove_all(m.dir);
  return run;
}

ordered_json profile_of(const ClusterRun& run) {
  ordered_json members = ordered_json::array();
  for (const auto& r : run.results) {
    if (r.is_null()) continue;
    members.push_back({{"index", r["index"]}, {"core", r["core"]}, {"transport", r["transport"]}, {"loop", r["loop"]}});
  }
  return members;
}

std::vector<std::int64_t> driver_latencies(const ClusterRun& run, std::uint64_t& undecided) {
  std::vector<std::int64_t> all;
  undecided = 0;
  for (const auto& r : run.results) {
    if (r.is_null() || !r["driver"].get<bool>()) continue;
    for (const auto& l : r["latencies_us"]) all.push_back(l.get<std::int64_t>());
    undecided += r["undecided_at_end"].get<std::uint64_t>();
  }
  return all;
}

ordered_json throughput_report(const RunOptions& o, const ClusterRun& run, bool with_profile) {
  std::uint64_t undecided = 0;
  const auto lat = driver_latencies(run, undecided);
  ordered_json j;
  j["bench"] = "consensus_cluster";
  j["mode"] = "throughput";
  j["members"] = kMembers;
  j["drivers"] = o.drivers;
  j["decisions"] = lat.size();
  j["seconds"] = o.seconds;
  j["decisions_per_s"] = static_cast<double>(lat.size()) / o.seconds;
  j["p50_ms"] = percentile_ms(lat, 0.50);
  j["p90_ms"] = percentile_ms(lat, 0.90);
  j["p99_ms"] = percentile_ms(lat, 0.99);
  j["max_ms"] = percentile_ms(lat, 1.0);
  j["concurrency"] = o.concurrency;
  j["fsync"] = true;
  j["fsync_p50_ms"] = run.fsync_p50_ms;
  j["rtt_us"] = o.rtt_us;
  j["rtt_adaptive"] = o.rtt_adaptive;
  if (o.daemon_order) j["daemon_order"] = true;
  j["commit"] = o.sync_commit ? "sync" : "pipelined";
  j["bundled"] = !o.no_bundle;
  j["undecided_at_end"] = undecided;
  j["clean_exit"] = run.clean;
  if (with_profile) j["profile"] = profile_of(run);
  return j;
}

// The reference instances of a contention run: proposed by the member that
// does not duel, alone, at the same time and on the same cluster.
std::vector<std::int64_t> reference_latencies(const ClusterRun& run, std::uint64_t& undecided) {
  std::vector<std::int64_t> all;
  for (const auto& r : run.results) {
    if (r.is_null() || !r.value("reference", false)) continue;
    for (const auto& l : r["latencies_us"]) all.push_back(l.get<std::int64_t>());
    undecided += r["undecided_at_end"].get<std::uint64_t>();
  }
  return all;
}

// Latencies in round trips. The unit is what one uncontended decision
// takes on this cluster (one network round trip, two fsyncs — the origin's
// and a replica's — and the event loops between), the median of the
// reference instances decided in the same run: a phase of a duel costs the
// same disk and scheduling, and a unit measured seconds earlier, or an idle
// ping of 0.1 ms, would report the machine's load as protocol rounds.
ordered_json contention_report(const RunOptions& o, const ClusterRun& run, double calibration_round_trip_ms,
                               double calibration_p99_ms) {
  std::map<std::uint64_t, std::uint32_t> ballots;  // seq -> ballots tried by both proposers
  std::map<std::uint64_t, int> learned;             // seq -> proposers that learned it
  std::vector<std::int64_t> lat;
  std::uint64_t undecided = 0, proposed = 0, takeovers = 0, reference_undecided = 0;
  const auto reference = reference_latencies(run, reference_undecided);
  const double round_trip_ms = reference.empty() ? calibration_round_trip_ms : percentile_ms(reference, 0.5);
  for (const auto& r : run.results) {
    if (r.is_null()) continue;
    takeovers += r["core"]["takeovers"].get<std::uint64_t>();
    if (!r["driver"].get<bool>()) continue;
    proposed = std::max(proposed, r["proposed"].get<std::uint64_t>());
    undecided += r["undecided_at_end"].get<std::uint64_t>();
    for (const auto& l : r["latencies_us"]) lat.push_back(l.get<std::int64_t>());
    for (const auto& b : r["ballots"]) {
      ballots[b[0].get<std::uint64_t>()] += b[1].get<std::uint32_t>();
      ++learned[b[0].get<std::uint64_t>()];
    }
  }
  std::vector<std::int64_t> per_instance;
  std::uint64_t within3 = 0;
  for (const auto& [seq, b] : ballots) {
    per_instance.push_back(b);
    within3 += b <= 3 ? 1 : 0;
  }
  ordered_json j;
  j["bench"] = "consensus_cluster";
  j["mode"] = "contention";
  j["members"] = kMembers;
  j["proposers"] = 2;
  j["rate_per_s"] = o.rate_per_s;
  j["seconds"] = o.seconds;
  j["instances"] = proposed;
  j["decided"] = ballots.size();
  j["within_3_ballots_pct"] = ballots.empty() ? 0.0 : 100.0 * static_cast<double>(within3) / static_cast<double>(ballots.size());
  j["ballots_p50"] = percentile(per_instance, 0.50);
  j["ballots_p99"] = percentile(per_instance, 0.99);
  j["ballots_max"] = percentile(per_instance, 1.0);
  j["p50_ms"] = percentile_ms(lat, 0.50);
  j["p99_ms"] = percentile_ms(lat, 0.99);
  j["round_trip_unit"] = reference.empty() ? "calibration_run_p50" : "same_run_uncontended_p50";
  j["round_trip_ms"] = round_trip_ms;
  j["round_trips_p50"] = round_trip_ms > 0 ? percentile_ms(lat, 0.50) / round_trip_ms : 0.0;
  j["round_trips_p90"] = round_trip_ms > 0 ? percentile_ms(lat, 0.90) / round_trip_ms : 0.0;
  j["round_trips_p99"] = round_trip_ms > 0 ? percentile_ms(lat, 0.99) / round_trip_ms : 0.0;
  // The same run's tail with no duel at all: what scheduling and fsync
  // stalls alone give, in the same unit.
  j["uncontended"] = {{"decided", reference.size()},
                      {"rate_per_s", o.reference_rate_per_s},
                      {"p50_ms", percentile_ms(reference, 0.50)},
                      {"p99_ms", percentile_ms(reference, 0.99)},
                      {"round_trips_p99", round_trip_ms > 0 ? percentile_ms(reference, 0.99) / round_trip_ms : 0.0},
                      {"undecided_at_end", reference_undecided}};
  // The earlier unit, for comparison with older results: the p50 of a 1-in-flight run just before.
  j["calibration_round_trip_ms"] = calibration_round_trip_ms;
  j["calibration_round_trips_p99"] =
      calibration_round_trip_ms > 0 ? percentile_ms(lat, 0.99) / calibration_round_trip_ms : 0.0;
  j["calibration_uncontended_round_trips_p99"] =
      calibration_round_trip_ms > 0 ? calibration_p99_ms / calibration_round_trip_ms : 0.0;
  j["takeovers"] = takeovers;
  j["undecided_at_end"] = undecided;
  j["livelock"] = undecided > 0;
  j["fsync"] = true;
  j["fsync_p50_ms"] = run.fsync_p50_ms;
  j["rtt_us"] = o.rtt_us;
  j["rtt_adaptive"] = o.rtt_adaptive;
  j["clean_exit"] = run.clean;
  return j;
}

Result<std::vector<std::int64_t>> parse_list(const std::string& text) {
  std::vector<std::int64_t> out;
  std::stringstream s(text);
  for (std::string item; std::getline(s, item, ',');) {
    try {
      out.push_back(std::stoll(item));
    } catch (const std::exception&) {
      return invalid_argument("not a number list: " + text);
    }
  }
  return out;
}

int member_main(int index, const std::string& ids, const std::string& ports, const std::string& drivers,
                const std::string& mode, const RunOptions& o, std::int64_t start_us, const std::string& dir) {
  MemberConfig m;
  m.index = index;
  m.dir = dir;
  std::stringstream s(ids);
  for (std::string hex; std::getline(s, hex, ',');) {
    auto id = NodeId::from_hex(hex);
    if (!id) return 2;
    m.ids.push_back(*id);
  }
  auto p = parse_list(ports);
  auto d = parse_list(drivers);
  if (!p || !d || p->size() != m.ids.size() || index < 0 || index >= static_cast<int>(m.ids.size())) return 2;
  for (auto v : *p) m.ports.push_back(static_cast<int>(v));
  for (auto v : *d) m.drivers.push_back(static_cast<int>(v));
  m.mode = mode == "contention" ? LoadMode::kContention : LoadMode::kThroughput;
  m.start_us = start_us;
  m.seconds_us = static_cast<std::int64_t>(o.seconds * 1e6);
  m.grace_us = static_cast<std::int64_t>(o.grace_s * 1e6);
  m.concurrency = o.concurrency;
  m.rate_per_s = o.rate_per_s;
  m.reference_rate_per_s = o.reference_rate_per_s;
  m.rtt_us = o.rtt_us;
  m.rtt_adaptive = o.rtt_adaptive;
  m.daemon_order = o.daemon_order;
  m.pipelined = !o.sync_commit;
  m.bundle = !o.no_bundle;
  Status st = run_member(m);
  if (!st.is_ok()) {
    std::cerr << "member " << index << ": " << st.to_string() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"polder-bench-consensus-cluster: Paxos on 3 real processes over CurveZMQ + RocksDB fsync (prints JSON)"};
  RunOptions o;
  bool contention = false, profile = false;
  int member = -1;
  std::string ids, ports, drivers, mode, dir;
  std::int64_t start_us = 0;
  app.add_option("--seconds", o.seconds, "Seconds of load")->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  app.add_option("--concurrency", o.concurrency, "Instances in flight (in total, split over the drivers)")->check(CLI::Range(1U, 10'000U))->capture_default_str();
  app.add_option("--drivers", o.drivers, "Members that originate load (each its own instances)")->check(CLI::Range(1, kMembers))->capture_default_str();
  app.add_flag("--contention", contention, "Two proposers, different values, on every instance");
  app.add_option("--rate", o.rate_per_s, "Contention: instances per second")->check(CLI::Range(1.0, 100'000.0))->capture_default_str();
  app.add_option("--reference-rate", o.reference_rate_per_s,
                 "Contention: uncontended instances per second from the third member in the same run; their p50 is the round-trip unit (0: use the calibration run's)")
      ->check(CLI::Range(0.0, 10'000.0))->capture_default_str();
  app.add_option("--rtt-us", o.rtt_us, "ConsensusOptions::rtt_us: ceiling and start of the timeout unit, which adapts to measured phases")->check(CLI::Range(100, 1'000'000))->capture_default_str();
  app.add_option("--grace", o.grace_s, "Seconds members keep serving after the load stops")->check(CLI::Range(0.0, 60.0))->capture_default_str();
  app.add_option("--tmp", o.dir_base, "Where the temp dir (keys, RocksDB) goes")->capture_default_str();
  app.add_flag("--keep-dir", o.keep_dir, "Keep the temp dir");
  app.add_flag("--profile", profile, "Add each member's loop timings and counters");
  bool fixed_rtt = false;
  app.add_flag("--fixed-rtt", fixed_rtt, "Use --rtt-us as the timeout unit as it is (rtt_adaptive off)");
  app.add_flag("--daemon-order", o.daemon_order, "Tick after delivering messages, as Daemon::turn does (default: before)");
  app.add_flag("--sync-commit", o.sync_commit, "fsync on the event loop, one turn at a time (default: pipelined, on a committer thread)");
  app.add_flag("--no-bundle", o.no_bundle, "One envelope per consensus message (default: one per peer per flush, consensus::encode_batch)");
  // Internal: how the parent starts each member process.
  app.add_option("--member", member)->group("");
  app.add_option("--ids", ids)->group("");
  app.add_option("--ports", ports)->group("");
  app.add_option("--driver-list", drivers)->group("");
  app.add_option("--mode", mode)->group("");
  app.add_option("--start-us", start_us)->group("");
  app.add_option("--dir", dir)->group("");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  o.rtt_adaptive = !fixed_rtt;
  if (member >= 0) return member_main(member, ids, ports, drivers, mode, o, start_us, dir);

  if (!contention) {
    auto run = run_cluster(o);
    if (!run) {
      std::cerr << run.status().to_string() << "\n";
      return 1;
    }
    ordered_json j = throughput_report(o, *run, profile);
    std::cout << j.dump() << "\n";
    return run->clean && j["decisions"].get<std::uint64_t>() > 0 ? 0 : 1;
  }
  RunOptions calibrate = o;
  calibrate.concurrency = 1;
  calibrate.seconds = std::min(o.seconds, 2.0);
  auto cal = run_cluster(calibrate);
  if (!cal) {
    std::cerr << cal.status().to_string() << "\n";
    return 1;
  }
  const ordered_json cal_report = throughput_report(calibrate, *cal, false);
  const double round_trip_ms = cal_report["p50_ms"].get<double>();
  o.mode = LoadMode::kContention;
  auto run = run_cluster(o);
  if (!run) {
    std::cerr << run.status().to_string() << "\n";
    return 1;
  }
  ordered_json j = contention_report(o, *run, round_trip_ms, cal_report["p99_ms"].get<double>());
  if (profile) j["profile"] = profile_of(*run);
  std::cout << j.dump() << "\n";
  return run->clean && j["decided"].get<std::uint64_t>() > 0 ? 0 : 1;
}
