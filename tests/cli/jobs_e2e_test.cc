// Jobs end to end on real polderd processes on loopback: submit at any node,
// agreed placement, real execution with CUDA_VISIBLE_DEVICES, status and
// logs from any node, cancel, retries, max run time, bad specs, failover
// after kill -9 of an executor, and acceptor durability across a kill -9
// between the durable write and the reply.
#include <gtest/gtest.h>

#include <httplib.h>

#include <map>
#include <regex>
#include <set>

#include "consensus/records.h"
#include "node/core_host.h"
#include "node/storage.h"
#include "tests/cli/e2e_util.h"

namespace polder {
namespace {

using namespace std::chrono_literals;
using namespace polder::e2e;

void add_gpus(const std::string& dir, const std::string& type, int count) {
  std::ofstream(dir + "/polderd.toml", std::ios::app)
      << "\n[[resources.gpus]]\ntype = \"" << type << "\"\ncount = " << count << "\n";
}

void set_cpus(const std::string& dir, int cpus) {
  std::string t = read_file(dir + "/polderd.toml");
  auto p = t.find("\ncpus = ");
  t.replace(p + 1, t.find('\n', p + 1) - p - 1, "cpus = " + std::to_string(cpus));
  std::ofstream(dir + "/polderd.toml", std::ios::trunc) << t;
}

class JobsTest : public EndToEndTest {
 protected:
  // N fully seeded nodes with fast gossip, started and connected.
  void start(int n, const std::vector<std::pair<std::string, int>>& gpus, int cpus = 4) {
    for (int i = 0; i < n; ++i) dirs_.push_back(init_node(std::string(1, static_cast<char>('a' + i))));
    for (int i = 0; i < n; ++i) {
      http_ports_.push_back(set_http(dirs_[i]));
      set_fast_gossip(dirs_[i]);
      set_cpus(dirs_[i], cpus);
      if (!gpus.empty()) add_gpus(dirs_[i], gpus[i % gpus.size()].first, gpus[i % gpus.size()].second);
      for (int j = 0; j < n; ++j) {
        if (i != j) add_seed(dirs_[i], dirs_[j]);
      }
    }
    for (int i = 0; i < n; ++i) launch(i);
    ASSERT_TRUE(all_reach(this, dirs_, n - 1, 30s)) << logs();
  }
  void launch(int i, const std::string& env = "") {
    if (daemons_.size() <= static_cast<std::size_t>(i)) daemons_.resize(i + 1);
    if (!env.empty()) ::setenv(env.substr(0, env.find('=')).c_str(), env.substr(env.find('=') + 1).c_str(), 1);
    daemons_[i] = std::make_unique<Daemon>(dirs_[i] + "/polderd.toml", dirs_[i] + "/polderd.log");
    if (!env.empty()) ::unsetenv(env.substr(0, env.find('=')).c_str());
  }
  std::string logs() {
    std::string out;
    for (const auto& d : dirs_) out += "---- " + d + "\n" + read_file(d + "/polderd.log");
    return out;
  }
  std::string state_of(int node, const std::string& id) {
    return json_field(polder(dirs_[node], "--json status " + id).output, "state");
  }
  // Waits until `node` reports the job in a final state; returns it.
  std::string wait_final(int node, const std::string& id, std::chrono::seconds within) {
    std::string s;
    for (auto end = std::chrono::steady_clock::now() + within; std::chrono::steady_clock::now() < end;) {
      s = state_of(node, id);
      if (s == "finished" || s == "failed" || s == "cancelled") return s;
      std::this_thread::sleep_for(200ms);
    }
    return s;
  }
  std::string submit(int node, const std::string& args) {
    auto r = polder(dirs_[node], "submit " + args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::string id = r.output.substr(0, r.output.find('\n'));
    EXPECT_EQ(id.size(), 64u) << r.output;
    return id;
  }
  // Submits `args` at `node` until it is accepted (admission refuses while
  // placement lags) or `within` passes; returns the last try.
  RunResult submit_until_accepted(int node, const std::string& args, std::chrono::seconds within) {
    RunResult r;
    for (auto end = std::chrono::steady_clock::now() + within; std::chrono::steady_clock::now() < end;) {
      r = polder(dirs_[node], "submit " + args);
      if (r.exit_code == 0) break;
      std::this_thread::sleep_for(300ms);
    }
    return r;
  }

  std::vector<std::string> dirs_;
  std::vector<int> http_ports_;
  std::vector<std::unique_ptr<Daemon>> daemons_;
};

TEST_F(JobsTest, SubmitWaitPrintsOutputWithGpuSlotsAndAnyNodeAgrees) {
  start(3, {{"H100", 2}, {"A100", 4}, {"H100", 2}});
  auto r = polder(dirs_[0], "submit --gpus 1 --wait -- sh -c 'echo hello from $CUDA_VISIBLE_DEVICES'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("hello from 0"), std::string::npos) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex("job ([0-9a-f]{64}) submitted"))) << r.output;
  std::string id = m[1];
  for (int i = 0; i < 3; ++i) {
    auto st = polder(dirs_[i], "--json status " + id).output;
    EXPECT_EQ(json_field(st, "state"), "finished") << st;
    EXPECT_EQ(json_field(st, "exit_code"), "0") << st;
    EXPECT_EQ(json_field(st, "attempt"), "1") << st;
    // Output from every node, wherever the job ran.
    auto logs = polder(dirs_[i], "logs " + id);
    EXPECT_EQ(logs.exit_code, 0) << logs.output;
    EXPECT_EQ(logs.output, "hello from 0\n");
  }
  // Two GPUs of one type: the slots of one node, as CUDA_VISIBLE_DEVICES.
  auto two = polder(dirs_[1], "submit --gpus 2 --gpu-type A100 --wait -- sh -c 'echo $CUDA_VISIBLE_DEVICES'");
  EXPECT_EQ(two.exit_code, 0) << two.output;
  EXPECT_NE(two.output.find("\n0,1\n"), std::string::npos) << two.output;
  auto list = polder(dirs_[2], "--json list --state finished").output;
  EXPECT_NE(list.find(id), std::string::npos) << list;

  // What an operator sees over HTTP (snapshots refresh every 0.5 s).
  httplib::Client http("127.0.0.1", http_ports_[0]);
  std::string metrics;
  for (auto end = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < end;) {
    auto res = http.Get("/metrics");
    metrics = res ? res->body : "";
    if (metrics.find("polder_jobs{state=\"finished\"} 2") != std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_NE(metrics.find("polder_members{state=\"alive\"} 3"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("polder_jobs{state=\"finished\"} 2"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("polder_consensus_decision_seconds_count"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("polder_gpus{type=\"H100\",use=\"free\"} 2"), std::string::npos) << metrics;
  // Job messages to peers leave bundled per peer (jobBatch): never more
  // envelopes than messages, and some of each after two jobs on 3 nodes.
  auto counter = [&metrics](const std::string& sample) {
    auto at = metrics.find(sample + " ");
    return at == std::string::npos ? -1.0 : std::stod(metrics.substr(at + sample.size() + 1));
  };
  const double job_messages = counter("polder_job_messages_sent_total{what=\"messages\"}");
  const double job_envelopes = counter("polder_job_messages_sent_total{what=\"envelopes\"}");
  EXPECT_GT(job_envelopes, 0) << metrics;
  EXPECT_GE(job_messages, job_envelopes) << metrics;
  // "running" over a durable "placed" asks for no fsync of its own
  // (JobManager::persist_lazily): over the three nodes, the executors'
  // starts and the holders' updates of two jobs left some such records.
  double lazy_records = 0;
  for (int port : http_ports_) {
    auto res = httplib::Client("127.0.0.1", port).Get("/metrics");
    ASSERT_TRUE(res);
    const std::string sample = "\npolder_job_lazy_records_written_total ";
    auto at = res->body.find(sample);
    ASSERT_NE(at, std::string::npos) << res->body;
    lazy_records += std::stod(res->body.substr(at + sample.size()));
  }
  EXPECT_GE(lazy_records, 1);
  // Prometheus text format: every sample belongs to the family of the last
  // `# TYPE` line (histograms add _bucket/_sum/_count), and no family twice.
  std::istringstream lines(metrics);
  std::string family;
  std::set<std::string> families;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(families.insert(family).second) << family << " declared twice";
    } else if (!line.empty() && line[0] != '#') {
      std::string name = line.substr(0, line.find_first_of("{ "));
      bool ok = name == family || name == family + "_bucket" || name == family + "_sum" || name == family + "_count";
      EXPECT_TRUE(ok) << "sample " << name << " under family " << family;
    }
  }
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto jobs = http.Get("/api/jobs");
  ASSERT_TRUE(jobs);
  EXPECT_NE(jobs->body.find(id), std::string::npos);
  // The list is bounded (the newest jobs); the count of all held is beside it.
  EXPECT_NE(jobs->body.find("\"jobs_held\":"), std::string::npos) << jobs->body;
  auto page = http.Get("/");
  ASSERT_TRUE(page);
  EXPECT_NE(page->body.find("<title>Polder federation</title>"), std::string::npos);
}

TEST_F(JobsTest, FailedJobRetriesThenExitsWithItsStatus) {
  start(2, {});
  auto r = polder(dirs_[1], "submit --retries 1 --wait -- sh -c 'echo try $POLDER_ATTEMPT; exit 3'");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("try 2"), std::string::npos) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex("job ([0-9a-f]{64}) submitted")));
  auto st = polder(dirs_[0], "--json status " + m[1].str()).output;
  EXPECT_EQ(json_field(st, "state"), "failed");
  EXPECT_EQ(json_field(st, "attempt"), "2");
  EXPECT_EQ(json_field(st, "failures"), "2");
}

TEST_F(JobsTest, MaxRunTimeKillsAndCancelStopsARunningJob) {
  start(2, {});
  auto t0 = std::chrono::steady_clock::now();
  auto r = polder(dirs_[0], "submit --max-time 1s --wait -- sleep 30");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("max run time 1 s exceeded"), std::string::npos) << r.output;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 15s);

  std::string id = submit(0, "-- sleep 60");
  for (auto end = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < end;) {
    if (state_of(1, id) == "running") break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(state_of(1, id), "running");
  auto c = polder(dirs_[1], "cancel " + id);  // from the other node
  EXPECT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(wait_final(0, id, 15s), "cancelled");
  EXPECT_EQ(state_of(1, id), "cancelled");
}

TEST_F(JobsTest, BadSpecsAreRefusedWithClearErrors) {
  start(2, {{"H100", 2}});
  auto unknown_type = polder(dirs_[0], "submit --gpus 1 --gpu-type Z999 -- true");
  EXPECT_EQ(unknown_type.exit_code, 1) << unknown_type.output;
  EXPECT_NE(unknown_type.output.find("Z999"), std::string::npos) << unknown_type.output;
  auto too_many = polder(dirs_[0], "submit --gpus 64 -- true");
  EXPECT_EQ(too_many.exit_code, 1) << too_many.output;
  auto bad_input = polder(dirs_[0], "submit --input nonsense -- true");
  EXPECT_EQ(bad_input.exit_code, 2) << bad_input.output;
  EXPECT_NE(bad_input.output.find("NAME@SITE:SIZE"), std::string::npos) << bad_input.output;
  auto bad_time = polder(dirs_[0], "submit --max-time soon -- true");
  EXPECT_EQ(bad_time.exit_code, 2) << bad_time.output;
  auto nothing = polder(dirs_[0], "submit");
  EXPECT_EQ(nothing.exit_code, 2) << nothing.output;
  auto bad_id = polder(dirs_[0], "status xyz");
  EXPECT_EQ(bad_id.exit_code, 2) << bad_id.output;
  auto unknown = polder(dirs_[0], "status " + std::string(64, 'a'));
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("unknown"), std::string::npos) << unknown.output;
  // Nothing was stored by the refusals.
  EXPECT_EQ(polder(dirs_[1], "--json list").output.find("job_id"), std::string::npos);
}

// Kill -9 an executor while its jobs run, restart it: every job still ends
// finished, exactly once, and no attempt ran twice.
TEST_F(JobsTest, KilledExecutorsJobsFailOverAndEachJobSucceedsOnce) {
  start(4, {}, 2);
  std::string ledger = root_ + "/ledger";
  std::vector<std::string> ids;
  for (int i = 0; i < 16; ++i) {
    ids.push_back(submit(i % 4, "--max-time 60s -- sh -c 'echo start $POLDER_JOB_ID $POLDER_ATTEMPT >> " + ledger +
                                   "; sleep 3; echo done $POLDER_JOB_ID $POLDER_ATTEMPT >> " + ledger + "'"));
  }
  // Wait until node c runs something, then kill it mid-run.
  bool c_runs = false;
  for (auto end = std::chrono::steady_clock::now() + 15s; !c_runs && std::chrono::steady_clock::now() < end;) {
    c_runs = polder(dirs_[0], "--json list --state running").output.find("\"executor_name\":\"c\"") !=
             std::string::npos;
    if (!c_runs) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(c_runs) << polder(dirs_[0], "list").output;
  daemons_[2].reset();  // SIGKILL
  std::this_thread::sleep_for(1s);
  launch(2);
  for (const auto& id : ids) EXPECT_EQ(wait_final(0, id, 60s), "finished") << id << "\n" << polder(dirs_[0], "status " + id).output;
  // Every node agrees.
  for (int n = 1; n < 4; ++n) {
    for (const auto& id : ids) EXPECT_EQ(state_of(n, id), "finished") << "node " << n << " job " << id;
  }
  std::map<std::string, int> done, starts_per_attempt;
  std::istringstream in(read_file(ledger));
  std::string word, job, attempt;
  int restarted_attempts = 0;
  while (in >> word >> job >> attempt) {
    if (word == "done") ++done[job];
    if (word == "start" && ++starts_per_attempt[job + "/" + attempt] == 1 && attempt != "1") ++restarted_attempts;
  }
  for (const auto& id : ids) EXPECT_EQ(done[id], 1) << id;
  for (const auto& [key, n] : starts_per_attempt) EXPECT_EQ(n, 1) << key << " started twice";
  EXPECT_GE(restarted_attempts, 1) << "the killed executor's jobs ran again as attempt 2";
}

// An executor whose lease is not renewed (POLDER_FAULT_NO_RENEW_ATTEMPT=1:
// as if its heartbeats were lost while it stays alive and gossip sees it)
// stops attempt 1 when the lease lapses, and attempt 2 starts only after
// attempt 1's process is gone: the two never run at once, and the job
// succeeds exactly once. Each attempt checks, from the ledger, that no
// process of another attempt is still alive when it starts.
TEST_F(JobsTest, ExecutorWhoseLeaseLapsesStopsBeforeTheNextAttemptStarts) {
  for (int i = 0; i < 3; ++i) dirs_.push_back(init_node(std::string(1, static_cast<char>('a' + i))));
  for (int i = 0; i < 3; ++i) {
    set_fast_gossip(dirs_[i]);
    std::string t = read_file(dirs_[i] + "/polderd.toml");
    t = std::regex_replace(t, std::regex("\nlease_ms = [0-9]+"), "\nlease_ms = 2000");
    std::ofstream(dirs_[i] + "/polderd.toml", std::ios::trunc) << t;
    for (int j = 0; j < 3; ++j) {
      if (i != j) add_seed(dirs_[i], dirs_[j]);
    }
  }
  for (int i = 0; i < 3; ++i) launch(i, "POLDER_FAULT_NO_RENEW_ATTEMPT=1");
  ASSERT_TRUE(all_reach(this, dirs_, 2, 30s)) << logs();
  std::string ledger = root_ + "/ledger";
  std::string script = root_ + "/job.sh";
  std::ofstream(script) << "L=$1\n"
                           "echo \"start $POLDER_ATTEMPT $$\" >> \"$L\"\n"
                           "while read kind attempt pid; do\n"
                           "  if [ \"$kind\" = start ] && [ \"$attempt\" != \"$POLDER_ATTEMPT\" ] && "
                           "kill -0 \"$pid\" 2> /dev/null; then echo \"overlap $POLDER_ATTEMPT $pid\" >> \"$L\"; fi\n"
                           "done < \"$L\"\n"
                           "sleep 5\n"
                           "echo \"done $POLDER_ATTEMPT $$\" >> \"$L\"\n";
  std::string id = submit(0, "--max-time 60s -- sh " + script + " " + ledger);
  EXPECT_EQ(wait_final(1, id, 40s), "finished") << polder(dirs_[1], "status " + id).output << logs();
  auto st = polder(dirs_[2], "--json status " + id).output;
  EXPECT_EQ(json_field(st, "attempt"), "2") << st;
  std::string text = read_file(ledger);
  EXPECT_NE(text.find("start 1 "), std::string::npos) << text;
  EXPECT_EQ(text.find("done 1 "), std::string::npos) << "attempt 1 outlived its lease:\n" << text;
  EXPECT_NE(text.find("done 2 "), std::string::npos) << text;
  EXPECT_EQ(text.find("overlap"), std::string::npos) << "two attempts ran at once:\n" << text;
  std::string metrics_hint = logs();
  EXPECT_NE(metrics_hint.find("lease of attempt 1 lapsed"), std::string::npos) << metrics_hint;
}

// Admission backpressure (jobs.admission_lag_ms): while a job accepted at
// a is still being placed after the lag, a refuses new submits with a
// retryable error; once that job no longer lags placement (here: it waits
// for capacity, which does not count) a accepts again. The lag is made by
// pausing b, the only node with the H100 the job asks for, so its
// reservation request goes unanswered (kReserveTimeout, 2 s). Default
// gossip timing, so b is still alive (a candidate) when the job is placed.
TEST_F(JobsTest, SubmitsAreRefusedWhilePlacementLagsAndAcceptedOnceItCatchesUp) {
  for (const char* n : {"a", "b", "c"}) dirs_.push_back(init_node(n));
  for (int i = 0; i < 3; ++i) {
    http_ports_.push_back(set_http(dirs_[i]));
    set_cpus(dirs_[i], 4);
    for (int j = 0; j < 3; ++j) {
      if (i != j) add_seed(dirs_[i], dirs_[j]);
    }
  }
  add_gpus(dirs_[1], "H100", 1);
  std::string t = read_file(dirs_[0] + "/polderd.toml");
  ASSERT_NE(t.find("\nadmission_lag_ms = 5000"), std::string::npos);
  t = std::regex_replace(t, std::regex("\nadmission_lag_ms = [0-9]+"), "\nadmission_lag_ms = 300");
  std::ofstream(dirs_[0] + "/polderd.toml", std::ios::trunc) << t;
  for (int i = 0; i < 3; ++i) launch(i);
  ASSERT_TRUE(all_reach(this, dirs_, 2, 30s)) << logs();
  // b's record (with its H100) must have reached a.
  for (auto end = std::chrono::steady_clock::now() + 15s; std::chrono::steady_clock::now() < end;) {
    if (polder(dirs_[0], "nodes").output.find("H100") != std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  }
  daemons_[1]->signal(SIGSTOP);
  const std::string gpu_job = submit(0, "--gpus 1 --gpu-type H100 -- true");
  std::this_thread::sleep_for(800ms);
  auto busy = polder(dirs_[0], "submit -- true");
  EXPECT_EQ(busy.exit_code, 3) << busy.output;  // kExitUnreachable: try again
  EXPECT_NE(busy.output.find("is behind"), std::string::npos) << busy.output;
  EXPECT_NE(busy.output.find("jobs.admission_lag_ms = 300"), std::string::npos) << busy.output;
  // The reservation times out; the job then waits for an H100 (not a lag):
  // a takes submits again, and they run (a and c are a majority of any
  // replica set of three).
  const RunResult ok = submit_until_accepted(0, "-- true", 15s);
  ASSERT_EQ(ok.exit_code, 0) << ok.output << logs();
  EXPECT_EQ(wait_final(0, ok.output.substr(0, 64), 60s), "finished") << logs();
  httplib::Client http("127.0.0.1", http_ports_[0]);
  auto res = http.Get("/metrics");
  const std::string metrics = res ? res->body : "";
  EXPECT_NE(metrics.find("polder_jobs_events_total{event=\"admission_refused\"} "), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("polder_jobs_events_total{event=\"admission_refused\"} 0\n"), std::string::npos);
  // b resumes: the GPU job still runs, once.
  daemons_[1]->signal(SIGCONT);
  EXPECT_EQ(wait_final(0, gpu_job, 60s), "finished") << logs();
}

// The admission blind spot of an overloaded federation: a job that waits
// because every node that could run it refused, its capacity held by other
// proposals' reservations that await their decision, lags placement too.
// Here b drives a job that only c (2 CPUs) can run, gets c's reservation,
// and dies (fault injection) right after persisting its own Accept, before
// any vote request leaves: c's CPUs stay reserved, undecided, until the
// reservation's TTL. a's job for c is refused "held by reservations" and
// waits; after a's lag a refuses submits. Once c's reservation expires
// (or b's job is driven by a replica), both jobs run and a accepts again.
TEST_F(JobsTest, AJobWaitingBehindUndecidedReservationsClosesAdmissionUntilTheyAreGone) {
  for (const char* n : {"a", "b", "c"}) dirs_.push_back(init_node(n));
  for (int i = 0; i < 3; ++i) {
    http_ports_.push_back(set_http(dirs_[i]));
    set_cpus(dirs_[i], i == 2 ? 2 : 1);
    for (int j = 0; j < 3; ++j) {
      if (i != j) add_seed(dirs_[i], dirs_[j]);
    }
  }
  auto set_key = [&](int i, const std::string& key, int value) {
    std::string t = read_file(dirs_[i] + "/polderd.toml");
    ASSERT_TRUE(std::regex_search(t, std::regex("\n" + key + " = [0-9]+"))) << key;
    t = std::regex_replace(t, std::regex("\n" + key + " = [0-9]+"), "\n" + key + " = " + std::to_string(value));
    std::ofstream(dirs_[i] + "/polderd.toml", std::ios::trunc) << t;
  };
  set_key(0, "admission_lag_ms", 300);
  set_key(2, "reservation_ttl_ms", 4000);
  launch(0);
  launch(1, std::string(node::kKillAfterPersistEnv) + "=consensus");
  launch(2);
  ASSERT_TRUE(all_reach(this, dirs_, 2, 30s)) << logs();
  // Every node's record (c's 2 CPUs) must have reached a and b.
  for (int i : {0, 1}) {
    for (auto end = std::chrono::steady_clock::now() + 15s; std::chrono::steady_clock::now() < end;) {
      if (std::regex_search(polder(dirs_[i], "--json nodes").output, std::regex("\"cpus\":\\s*2\\b"))) break;
      std::this_thread::sleep_for(200ms);
    }
  }
  const std::string held = submit(1, "--cpus 2 -- true");
  for (auto end = std::chrono::steady_clock::now() + 10s;
       !daemons_[1]->exited() && std::chrono::steady_clock::now() < end;) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(daemons_[1]->exited()) << logs();
  const std::string waiting = submit(0, "--cpus 2 -- true");
  std::this_thread::sleep_for(900ms);
  auto busy = polder(dirs_[0], "submit -- true");
  EXPECT_EQ(busy.exit_code, 3) << busy.output << logs();  // kExitUnreachable: try again
  EXPECT_NE(busy.output.find("is behind"), std::string::npos) << busy.output;
  EXPECT_NE(read_file(dirs_[0] + "/polderd.log").find("waiting: no node has the resources free now"),
            std::string::npos)
      << logs();
  // c's reservation expires: the waiting job runs, and a takes submits again.
  const RunResult ok = submit_until_accepted(0, "-- true", 30s);
  ASSERT_EQ(ok.exit_code, 0) << ok.output << logs();
  EXPECT_EQ(wait_final(0, waiting, 60s), "finished") << logs();
  EXPECT_EQ(wait_final(0, ok.output.substr(0, 64), 60s), "finished") << logs();
  EXPECT_EQ(wait_final(0, held, 90s), "finished") << logs();
}

// Work exchange (issue 6): nodes a and b have one H100 each, both busy with
// long jobs; c has no GPUs and drives a third GPU job, which waits queued.
// Its placement backoff is 30 s, so only a work offer can start it sooner.
// When a's or b's job is cancelled, that node offers its freed GPU to c (c's
// gossiped record shows a waiting job) and c places the job there at once.
// With offers off, the job still waits.
class WorkExchangeTest : public JobsTest {
 protected:
  void start_cluster(int offer_interval_ms) {
    for (int i = 0; i < 3; ++i) dirs_.push_back(init_node(std::string(1, static_cast<char>('a' + i))));
    for (int i = 0; i < 3; ++i) {
      http_ports_.push_back(set_http(dirs_[i]));
      set_fast_gossip(dirs_[i]);
      std::string t = read_file(dirs_[i] + "/polderd.toml");
      t = std::regex_replace(t, std::regex("\nqueued_retry_ms = [0-9]+"), "\nqueued_retry_ms = 30000");
      t = std::regex_replace(t, std::regex("\nqueued_retry_max_ms = [0-9]+"), "\nqueued_retry_max_ms = 30000");
      t = std::regex_replace(t, std::regex("\noffer_interval_ms = [0-9]+"),
                             "\noffer_interval_ms = " + std::to_string(offer_interval_ms));
      std::ofstream(dirs_[i] + "/polderd.toml", std::ios::trunc) << t;
      if (i < 2) add_gpus(dirs_[i], "H100", 1);
      for (int j = 0; j < 3; ++j) {
        if (i != j) add_seed(dirs_[i], dirs_[j]);
      }
    }
    for (int i = 0; i < 3; ++i) launch(i);
    ASSERT_TRUE(all_reach(this, dirs_, 2, 30s)) << logs();
    // c submits GPU jobs: it must have a's and b's capacity records first.
    int gpu_nodes = 0;
    for (auto end = std::chrono::steady_clock::now() + 10s; gpu_nodes < 2 && std::chrono::steady_clock::now() < end;) {
      std::string out = polder(dirs_[2], "--json nodes").output;
      gpu_nodes = 0;
      for (auto p = out.find("H100"); p != std::string::npos; p = out.find("H100", p + 1)) ++gpu_nodes;
      if (gpu_nodes < 2) std::this_thread::sleep_for(100ms);
    }
    ASSERT_GE(gpu_nodes, 2) << polder(dirs_[2], "nodes").output;
  }
  std::string metrics(int node) {
    httplib::Client http("127.0.0.1", http_ports_[node]);
    auto res = http.Get("/metrics");
    return res ? res->body : "";
  }
  // Waits until `node` reports `id` in `state`; the status JSON.
  std::string wait_state(int node, const std::string& id, const std::string& state, std::chrono::milliseconds within) {
    std::string st;
    for (auto end = std::chrono::steady_clock::now() + within; std::chrono::steady_clock::now() < end;) {
      st = polder(dirs_[node], "--json status " + id).output;
      if (json_field(st, "state") == state) return st;
      std::this_thread::sleep_for(50ms);
    }
    return st;
  }
  // Both GPUs busy with long jobs, then a third GPU job submitted at c,
  // waiting; freed_node_ is where the first long job runs.
  void fill_and_queue() {
    for (int i = 0; i < 2; ++i) long_jobs_.push_back(submit(2, "--gpus 1 --max-time 120s -- sleep 100"));
    for (const auto& id : long_jobs_) {
      auto st = wait_state(2, id, "running", 15s);
      ASSERT_EQ(json_field(st, "state"), "running") << st << logs();
    }
    waiting_ = submit(2, "--gpus 1 --max-time 60s -- sh -c 'echo ran with GPU $CUDA_VISIBLE_DEVICES; sleep 2'");
    // c's gossiped record counts the waiting job (what a and b offer on).
    bool seen = false;
    for (auto end = std::chrono::steady_clock::now() + 5s; !seen && std::chrono::steady_clock::now() < end;) {
      std::string out = polder(dirs_[0], "--json nodes").output;
      auto p = out.find("\"name\":\"c\"");
      auto start = p == std::string::npos ? p : out.rfind('{', p);
      seen = start != std::string::npos &&
             json_field(out.substr(start, out.find('}', p) - start), "queue_length") == "1";
      if (!seen) std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(seen) << polder(dirs_[0], "--json nodes").output;
    std::this_thread::sleep_for(300ms);
    auto st = polder(dirs_[2], "--json status " + waiting_).output;
    ASSERT_EQ(json_field(st, "state"), "queued") << st;
    freed_node_ = json_field(polder(dirs_[2], "--json status " + long_jobs_[0]).output, "executor_name");
    ASSERT_TRUE(freed_node_ == "a" || freed_node_ == "b") << freed_node_;
  }
  std::vector<std::string> long_jobs_;
  std::string waiting_;
  std::string freed_node_;
};

TEST_F(WorkExchangeTest, FreedGpuIsOfferedAndTheWaitingJobStartsThereWellBeforeItsBackoff) {
  start_cluster(1000);
  fill_and_queue();
  const int freed = freed_node_ == "a" ? 0 : 1;
  auto cancelled_at = std::chrono::steady_clock::now();
  ASSERT_EQ(polder(dirs_[2], "cancel " + long_jobs_[0]).exit_code, 0);
  auto st = wait_state(2, waiting_, "running", 10s);
  auto waited = std::chrono::steady_clock::now() - cancelled_at;
  ASSERT_EQ(json_field(st, "state"), "running") << st << logs();
  EXPECT_LT(waited, 5s) << "the offer, not the 30 s backoff, placed it";
  std::printf("waiting job running %lld ms after the GPU was freed\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()));
  EXPECT_EQ(json_field(st, "executor_name"), freed_node_) << st;
  EXPECT_EQ(json_field(st, "attempt"), "1") << st;
  // No overcommit: the freed node runs one GPU job, the busy one still its
  // own (metrics are snapshots of every 0.5 s: read one taken after the start).
  std::this_thread::sleep_for(700ms);
  std::string m = metrics(freed);
  EXPECT_NE(m.find("polder_gpus{type=\"H100\",use=\"used\"} 1"), std::string::npos) << m;
  EXPECT_EQ(json_field(polder(dirs_[2], "--json status " + long_jobs_[1]).output, "state"), "running");
  EXPECT_EQ(wait_final(2, waiting_, 20s), "finished");
  auto logs_out = polder(dirs_[0], "logs " + waiting_);
  EXPECT_EQ(logs_out.output, "ran with GPU 0\n") << logs_out.output;
  // The metrics show the exchange: offers sent by the freed node, received
  // and turned into a placement (event offload) by c.
  std::smatch n;
  m = metrics(freed);
  ASSERT_TRUE(std::regex_search(m, n, std::regex("polder_jobs_offers_total\\{direction=\"sent\"\\} ([0-9]+)"))) << m;
  EXPECT_GE(std::stoi(n[1]), 1) << m;
  std::string mc = metrics(2);
  ASSERT_TRUE(std::regex_search(mc, n, std::regex("polder_jobs_offers_total\\{direction=\"received\"\\} ([0-9]+)")));
  EXPECT_GE(std::stoi(n[1]), 1) << mc;
  EXPECT_NE(mc.find("polder_jobs_events_total{event=\"offload\"} 1\n"), std::string::npos) << mc;
  // Each attempt started once, on one node.
  int starts = 0;
  for (const auto& d : dirs_) {
    std::string log = read_file(d + "/polderd.log");
    std::string needle = "job " + waiting_.substr(0, 12) + ": attempt 1 started";
    for (auto p = log.find(needle); p != std::string::npos; p = log.find(needle, p + 1)) ++starts;
  }
  EXPECT_EQ(starts, 1) << logs();
  ASSERT_EQ(polder(dirs_[2], "cancel " + long_jobs_[1]).exit_code, 0);
}

TEST_F(WorkExchangeTest, WithOffersOffTheWaitingJobWaitsForItsBackoff) {
  start_cluster(0);
  fill_and_queue();
  ASSERT_EQ(polder(dirs_[2], "cancel " + long_jobs_[0]).exit_code, 0);
  std::this_thread::sleep_for(4s);
  auto st = polder(dirs_[2], "--json status " + waiting_).output;
  EXPECT_EQ(json_field(st, "state"), "queued") << st;
  std::string m = metrics(2);
  EXPECT_NE(m.find("polder_jobs_offers_total{direction=\"received\"} 0"), std::string::npos) << m;
  ASSERT_EQ(polder(dirs_[2], "cancel " + long_jobs_[1]).exit_code, 0);
  ASSERT_EQ(polder(dirs_[2], "cancel " + waiting_).exit_code, 0);
}

// A replica killed between its durable accept and its reply keeps the
// accept across the restart, and the job still completes.
TEST_F(JobsTest, AcceptorKilledBetweenDurableWriteAndReplyKeepsItsAccept) {
  start(3, {}, 1);
  // Restart b with the fault: it dies right after its first consensus write.
  daemons_[1].reset();
  launch(1, std::string(node::kKillAfterPersistEnv) + "=consensus");
  ASSERT_TRUE(all_reach(this, dirs_, 2, 30s));
  std::vector<std::string> ids;
  // Submit until b has died (its first durable consensus write kills it).
  for (int i = 0; i < 20 && !daemons_[1]->exited(); ++i) {
    ids.push_back(submit(0, "-- true"));
    std::this_thread::sleep_for(300ms);
  }
  ASSERT_TRUE(daemons_[1]->exited()) << read_file(dirs_[1] + "/polderd.log");
  EXPECT_NE(read_file(dirs_[1] + "/polderd.log").find("killing this process after a durable write"), std::string::npos);
  daemons_[1].reset();
  // While b is down, its disk holds the accept it never acknowledged.
  int accepted = 0;
  {
    auto storage = node::Storage::open(dirs_[1] + "/data");
    ASSERT_TRUE(storage) << storage.status().to_string();
    auto records = (*storage)->load_all(Column::kAcceptor);
    ASSERT_TRUE(records);
    for (const auto& [key, bytes] : *records) {
      auto parsed = consensus::parse_record_key(key.second);
      ASSERT_TRUE(parsed);
      if (parsed->first == consensus::RecordKind::kDecision) {
        // The accept and the decision arrived in one turn: the accept was
        // compacted into the decision record in the same durable write.
        ASSERT_TRUE(consensus::decode_decision_record(bytes));
        ++accepted;
        continue;
      }
      if (parsed->first != consensus::RecordKind::kAcceptor) continue;
      auto rec = consensus::decode_acceptor_record(bytes);
      ASSERT_TRUE(rec);
      if (rec->accepted_value) ++accepted;
    }
  }
  EXPECT_GE(accepted, 1);
  launch(1);
  ASSERT_TRUE(all_reach(this, dirs_, 2, 30s));
  for (const auto& id : ids) EXPECT_EQ(wait_final(1, id, 30s), "finished") << id;
}

// A log fetched from the node that ran the job is a real transfer: the
// fetching node's bandwidth estimate for that link goes into its signed
// record, and `polder links` shows it measured instead of the default.
TEST_F(JobsTest, LogFetchMeasuresLinkBandwidthShownByLinks) {
  start(2, {});
  std::string before;
  for (auto end = std::chrono::steady_clock::now() + 15s; std::chrono::steady_clock::now() < end;) {
    before = polder(dirs_[0], "--json links").output;  // empty until coordinates are known
    if (before.find("\"bandwidth_measured\"") != std::string::npos) break;
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_NE(before.find("\"bandwidth_measured\":false"), std::string::npos) << before;
  EXPECT_EQ(before.find("\"bandwidth_measured\":true"), std::string::npos) << before;
  std::string id = submit(0, "-- sh -c 'head -c 65536 /dev/zero | tr \"\\\\0\" x'");
  ASSERT_EQ(wait_final(0, id, 20s), "finished");
  std::string links;
  bool measured = false;
  for (auto end = std::chrono::steady_clock::now() + 15s; std::chrono::steady_clock::now() < end && !measured;) {
    for (int i = 0; i < 2 && !measured; ++i) {
      auto logs = polder(dirs_[i], "logs " + id);  // one of the two fetches it from the other
      ASSERT_EQ(logs.exit_code, 0) << logs.output;
      ASSERT_EQ(logs.output.size(), 65536U);
      links = polder(dirs_[i], "--json links").output;
      measured = links.find("\"bandwidth_measured\":true") != std::string::npos;
    }
    if (!measured) std::this_thread::sleep_for(300ms);
  }
  EXPECT_TRUE(measured) << links << logs();
  EXPECT_NE(links.find("\"measured_by\""), std::string::npos) << links;
  const std::string bps = json_field(links, "bandwidth_bps");
  EXPECT_FALSE(bps.empty()) << links;
}

}  // namespace
}  // namespace polder
