// Issue 8 on real polderd processes on loopback: clients read and cancel
// only their own jobs (admins all); a member that is neither a holder nor
// the executor cannot change or cancel a job; a flooding member is
// throttled, then cut off, while a normal job still completes.
#include <gtest/gtest.h>

#include <httplib.h>

#include <atomic>
#include <regex>

#include <sodium.h>

#include "node/config.h"
#include "node/rpc_client.h"
#include "node/transport.h"
#include "protocol/codec.h"
#include "protocol/identity.h"
#include "tests/cli/e2e_util.h"

namespace polder {
namespace {

using namespace std::chrono_literals;
using namespace polder::e2e;

void replace_in(const std::string& path, const std::string& from, const std::string& to) {
  std::string t = read_file(path);
  auto p = t.find(from);
  ASSERT_NE(p, std::string::npos) << from;
  t.replace(p, from.size(), to);
  std::ofstream(path, std::ios::trunc) << t;
}

// The value of one Prometheus sample, or -1.
double metric(int port, const std::string& sample) {
  httplib::Client http("127.0.0.1", port);
  auto res = http.Get("/metrics");
  if (!res) return -1;
  auto p = res->body.find("\n" + sample + " ");
  if (p == std::string::npos) return -1;
  return std::stod(res->body.substr(p + sample.size() + 2));
}

class SecurityTest : public EndToEndTest {
 protected:
  // Two seeded nodes a, b with fast gossip, not started yet; `extra_a` is
  // appended to a's config, `extra_members_a` admitted as peers of a.
  void prepare(const std::string& extra_a = "", const std::vector<std::string>& extra_members_a = {}) {
    for (const char* n : {"a", "b"}) dirs_.push_back(init_node(n));
    http_a_ = set_http(dirs_[0]);
    for (int i = 0; i < 2; ++i) {
      set_fast_gossip(dirs_[i]);
      add_seed(dirs_[i], dirs_[1 - i]);
    }
    if (!extra_members_a.empty()) {
      std::string list = "members = [";
      for (const auto& k : extra_members_a) list += "\"" + k + "\", ";
      replace_in(dirs_[0] + "/polderd.toml", "members = []", list + "]");
    }
    std::ofstream(dirs_[0] + "/polderd.toml", std::ios::app) << extra_a;
  }
  void launch() {
    for (int i = 0; i < 2; ++i) {
      daemons_.push_back(std::make_unique<Daemon>(dirs_[i] + "/polderd.toml", dirs_[i] + "/polderd.log"));
    }
    ASSERT_TRUE(all_reach(this, dirs_, 1, 30s)) << logs();
  }
  void start(const std::string& extra_a = "", const std::vector<std::string>& extra_members_a = {}) {
    prepare(extra_a, extra_members_a);
    launch();
  }
  // A second CLI user of node a, authorised but not an admin: a/alice.toml.
  void add_client_alice() {
    Identity alice = Identity::generate();
    ASSERT_TRUE(alice.save(dirs_[0] + "/alice.key").is_ok());
    std::string client = read_file(dirs_[0] + "/client.toml");
    client = std::regex_replace(client, std::regex("key_file = \"cli.key\""), "key_file = \"alice.key\"");
    std::ofstream(dirs_[0] + "/alice.toml") << client;
    replace_in(dirs_[0] + "/polderd.toml", "authorized_keys = [\n", "authorized_keys = [\n  \"" + alice.id().hex() + "\",\n");
  }
  RunResult alice(const std::string& args) { return run(kBin + "/polder --config " + dirs_[0] + "/alice.toml " + args); }
  std::string submit(const std::string& args) {
    auto r = polder(dirs_[0], "submit " + args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output.substr(0, r.output.find('\n'));
  }
  std::string state_of(const std::string& id) { return json_field(polder(dirs_[0], "--json status " + id).output, "state"); }
  bool wait_state(const std::string& id, const std::string& state, std::chrono::seconds within) {
    for (auto end = std::chrono::steady_clock::now() + within; std::chrono::steady_clock::now() < end;) {
      if (state_of(id) == state) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  std::string logs() {
    std::string out;
    for (const auto& d : dirs_) out += "---- " + d + "\n" + read_file(d + "/polderd.log");
    return out;
  }

  std::vector<std::string> dirs_;
  std::vector<std::unique_ptr<Daemon>> daemons_;
  int http_a_ = 0;
};

TEST_F(SecurityTest, ClientsReadAndCancelOnlyTheirOwnJobsAdminsAll) {
  prepare();
  add_client_alice();  // before a starts: its key must be in a's config
  launch();

  std::string admins = submit("-- sleep 60");  // by a's operator key (an admin key of a)
  ASSERT_EQ(admins.size(), 64u);
  ASSERT_TRUE(wait_state(admins, "running", 15s)) << logs();

  auto peek = alice("status " + admins);
  EXPECT_EQ(peek.exit_code, 4) << peek.output;
  EXPECT_NE(peek.output.find("only its submitter or an admin key"), std::string::npos) << peek.output;
  auto logs_of = alice("logs " + admins);
  EXPECT_NE(logs_of.exit_code, 0) << logs_of.output;
  auto cancel = alice("cancel " + admins);
  EXPECT_EQ(cancel.exit_code, 4) << cancel.output;
  EXPECT_NE(cancel.output.find("only its submitter or an admin key"), std::string::npos) << cancel.output;
  EXPECT_EQ(state_of(admins), "running");  // the refused cancel changed nothing
  EXPECT_EQ(alice("--json list").output.find(admins), std::string::npos);

  auto own = alice("submit --wait -- sh -c 'echo mine'");
  EXPECT_EQ(own.exit_code, 0) << own.output;
  EXPECT_NE(own.output.find("mine"), std::string::npos) << own.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(own.output, m, std::regex("job ([0-9a-f]{64}) submitted"))) << own.output;
  EXPECT_NE(alice("--json list").output.find(m[1].str()), std::string::npos);
  EXPECT_EQ(json_field(polder(dirs_[0], "--json status " + m[1].str()).output, "state"), "finished");  // admin sees it

  auto by_admin = polder(dirs_[0], "cancel " + admins);
  EXPECT_EQ(by_admin.exit_code, 0) << by_admin.output;
  EXPECT_TRUE(wait_state(admins, "cancelled", 15s)) << logs();
}

// A member key the test drives by hand: a Transport dialling node a.
struct Mallory {
  Identity id = Identity::generate();
  std::unique_ptr<node::Transport> transport;
  Codec codec;
  // Envelopes are numbered no lower than the sender's clock (replay windows,
  // node/replay_window.h): a node refuses much older numbers after a restart.
  std::uint64_t next_id = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  Status connect(const std::string& node_key_hex, const std::string& address) {
    auto t = node::Transport::create(id, node::TransportOptions{});
    if (!t) return t.status();
    transport = std::move(*t);
    return transport->connect_peer(*NodeId::from_hex(node_key_hex), address);
  }
  Status send(const std::string& node_key_hex, Payload payload) {
    Envelope e;
    e.sender = id.id();
    e.message_id = next_id++;
    e.timestamp_us = 1;
    e.payload = std::move(payload);
    auto bytes = codec.encode(e);
    if (!bytes) return bytes.status();
    last = *bytes;
    return transport->send_to_peer(*NodeId::from_hex(node_key_hex), *bytes);
  }
  Status resend_last(const std::string& node_key_hex) { return transport->send_to_peer(*NodeId::from_hex(node_key_hex), last); }
  Bytes last;  // the bytes of the last envelope sent
};

// Replay windows: a member's envelope sent again byte for byte, or one
// numbered below the window, is dropped and counted; fresh ones still pass.
TEST_F(SecurityTest, AReplayedPeerMessageIsDroppedAndCounted) {
  Mallory mallory;
  Mallory late;  // a member a first hears from after its restart
  start("", {mallory.id.id().hex(), late.id.id().hex()});
  ASSERT_TRUE(mallory.connect(key_of(dirs_[0]), listen_of(dirs_[0])).is_ok());
  const std::string a = key_of(dirs_[0]);
  const std::uint64_t base = mallory.next_id;
  ASSERT_TRUE(mallory.send(a, Ping{1}).is_ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(mallory.resend_last(a).is_ok());
  mallory.next_id = base - 5'000;  // far below the window of the numbers already seen
  ASSERT_TRUE(mallory.send(a, Ping{2}).is_ok());
  mallory.next_id = base + 1;
  ASSERT_TRUE(mallory.send(a, Ping{3}).is_ok());  // fresh: not counted
  auto dropped_reaches = [&](double want) {
    double dropped = -1;
    for (auto end = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < end && dropped < want;) {
      dropped = metric(http_a_, "polder_replays_dropped_total{channel=\"peer\"}");
      std::this_thread::sleep_for(100ms);
    }
    return dropped;
  };
  EXPECT_EQ(dropped_reaches(4), 4) << logs();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(metric(http_a_, "polder_replays_dropped_total{channel=\"peer\"}"), 4);
  // The honest members' numbered traffic is never mistaken for a replay.
  EXPECT_EQ(metric(http_a_, "polder_replays_dropped_total{channel=\"client\"}"), 0);
  EXPECT_EQ(polder(dirs_[1], "submit --wait -- true").exit_code, 0) << logs();

  // a restarts: it stored its windows at shutdown and resumes them, so the
  // last envelope is still a replay; a number older than its start minus
  // the allowed clock skew is refused too; a fresh one passes.
  ASSERT_EQ(daemons_[0]->terminate(10s), 0);
  daemons_[0] = std::make_unique<Daemon>(dirs_[0] + "/polderd.toml", dirs_[0] + "/polderd-2.log");
  ASSERT_EQ(ping_until_up(dirs_[0]).exit_code, 0) << read_file(dirs_[0] + "/polderd-2.log");
  EXPECT_NE(read_file(dirs_[0] + "/polderd-2.log").find("replay windows: "), std::string::npos);
  ASSERT_TRUE(mallory.resend_last(a).is_ok());
  ASSERT_TRUE(late.connect(a, listen_of(dirs_[0])).is_ok());
  late.next_id -= 400'000'000;  // 400 s old
  ASSERT_TRUE(late.send(a, Ping{4}).is_ok());
  mallory.next_id = base + 2;
  ASSERT_TRUE(mallory.send(a, Ping{5}).is_ok());
  EXPECT_EQ(dropped_reaches(2), 2) << read_file(dirs_[0] + "/polderd-2.log");
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(metric(http_a_, "polder_replays_dropped_total{channel=\"peer\"}"), 2);
}

TEST_F(SecurityTest, AMemberThatHoldsNothingCannotFinishOrCancelAJob) {
  Mallory mallory;
  start("", {mallory.id.id().hex()});
  ASSERT_TRUE(mallory.connect(key_of(dirs_[0]), listen_of(dirs_[0])).is_ok());
  std::string id = submit("-- sleep 60");
  ASSERT_TRUE(wait_state(id, "running", 15s)) << logs();

  JobView forged;
  forged.job_id = *JobId::from_hex(id);
  forged.attempt = 1;
  forged.state = "finished";
  forged.executor = mallory.id.id();
  forged.updated_at_us = 1LL << 60;
  JobMessage update;
  update.kind = JobMessageKind::kUpdate;
  update.job_id = forged.job_id;
  update.attempt = 1;
  update.jobs = {forged};
  JobMessage poll_reply = update;
  poll_reply.kind = JobMessageKind::kQueryReply;  // request id 0: looks like the answer to a poll
  JobMessage cancel;
  cancel.kind = JobMessageKind::kCancelJob;
  cancel.job_id = forged.job_id;
  const std::string sample = "polder_jobs_events_total{event=\"unauthorized_refused\"}";
  double refused = 0;
  for (auto end = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < end && refused < 3;) {
    for (auto* m : {&update, &poll_reply, &cancel}) ASSERT_TRUE(mallory.send(key_of(dirs_[0]), *m).is_ok());
    std::this_thread::sleep_for(500ms);
    refused = metric(http_a_, sample);
  }
  EXPECT_GE(refused, 3) << logs();
  EXPECT_EQ(state_of(id), "running") << logs();
  EXPECT_NE(read_file(dirs_[0] + "/polderd.log").find("neither a holder"), std::string::npos);
  EXPECT_EQ(polder(dirs_[0], "cancel " + id).exit_code, 0);
  EXPECT_TRUE(wait_state(id, "cancelled", 15s)) << logs();
}

// Stored records per peer: a member can make a node hold job records only
// as their origin, and at most limits.peer_jobs_max unfinished ones.
TEST_F(SecurityTest, AMemberCannotMakeANodeHoldMoreThanItsQuotaOfJobRecords) {
  Mallory mallory;
  prepare("", {mallory.id.id().hex()});
  replace_in(dirs_[0] + "/polderd.toml", "peer_jobs_max = 100000", "peer_jobs_max = 2");
  launch();
  ASSERT_TRUE(mallory.connect(key_of(dirs_[0]), listen_of(dirs_[0])).is_ok());
  const NodeId a = *NodeId::from_hex(key_of(dirs_[0]));
  std::vector<std::string> ids;
  for (std::uint64_t nonce = 1; nonce <= 4; ++nonce) {
    JobSpec spec;
    spec.command = "sleep";
    spec.args = {"60"};
    spec.name = "held-" + std::to_string(nonce);
    spec.resources.cpus = 1;
    spec.max_run_time_s = 120;
    spec.submitter = mallory.id.id();
    spec.submitted_at_us = 1;
    spec.nonce = nonce;
    auto bytes = encode_job_spec(spec);
    ASSERT_TRUE(bytes.is_ok());
    JobId::Bytes hash{};
    crypto_generichash(hash.data(), hash.size(), bytes->data(), bytes->size(), nullptr, 0);
    JobView view;
    view.job_id = JobId(hash);
    view.state = "queued";
    view.submitter = spec.submitter;
    JobMessage m;
    m.kind = JobMessageKind::kReplicate;
    m.job_id = view.job_id;
    m.spec = spec;
    m.origin = mallory.id.id();
    m.replicas = {mallory.id.id(), a};
    m.jobs = {view};
    ASSERT_TRUE(mallory.send(key_of(dirs_[0]), m).is_ok());
    ids.push_back(view.job_id.hex());
  }
  const std::string sample = "polder_jobs_events_total{event=\"peer_quota_refused\"}";
  double refused = 0;
  for (auto end = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < end && refused < 2;) {
    std::this_thread::sleep_for(100ms);
    refused = metric(http_a_, sample);
  }
  EXPECT_EQ(refused, 2) << logs();
  EXPECT_NE(read_file(dirs_[0] + "/polderd.log").find("limits.peer_jobs_max = 2"), std::string::npos) << logs();
  // a holds the first two, not the others; and it still serves its own clients.
  int held = 0;
  for (const auto& id : ids) held += polder(dirs_[0], "--json status " + id).exit_code == 0;
  EXPECT_EQ(held, 2) << logs();
  EXPECT_EQ(polder(dirs_[0], "submit --wait -- true").exit_code, 0) << logs();
}

TEST_F(SecurityTest, AFloodingMemberIsThrottledThenCutOffWhileAJobCompletes) {
  Mallory mallory;
  prepare("", {mallory.id.id().hex()});
  replace_in(dirs_[0] + "/polderd.toml", "peer_messages_per_s = 50000", "peer_messages_per_s = 300");
  replace_in(dirs_[0] + "/polderd.toml", "ban_s = 30", "ban_s = 60");
  launch();
  ASSERT_TRUE(mallory.connect(key_of(dirs_[0]), listen_of(dirs_[0])).is_ok());
  // Flood in the background for at most 8 s, as fast as the transport takes it.
  std::atomic<bool> stop{false};
  std::atomic<long> sent{0};
  std::thread flood([&] {
    for (auto end = std::chrono::steady_clock::now() + 8s; !stop && std::chrono::steady_clock::now() < end;) {
      if (mallory.send(key_of(dirs_[0]), Ping{static_cast<std::uint64_t>(sent.load())}).is_ok()) ++sent;
      if (sent % 64 == 0) std::this_thread::sleep_for(1ms);
    }
  });
  auto job = polder(dirs_[0], "submit --wait -- sh -c 'echo still served'");
  stop = true;
  flood.join();
  EXPECT_EQ(job.exit_code, 0) << job.output << logs();
  EXPECT_NE(job.output.find("still served"), std::string::npos) << job.output;
  EXPECT_GT(sent.load(), 1000);
  double throttled = metric(http_a_, "polder_rate_limited_total{channel=\"peer\",what=\"throttled\"}");
  double bans = -1;
  for (auto end = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < end; ) {
    bans = metric(http_a_, "polder_rate_limited_total{channel=\"peer\",what=\"bans\"}");
    if (bans >= 1) break;
    std::this_thread::sleep_for(200ms);
  }
  throttled = metric(http_a_, "polder_rate_limited_total{channel=\"peer\",what=\"throttled\"}");
  EXPECT_GT(throttled, 0) << logs();
  EXPECT_EQ(bans, 1) << logs();
  EXPECT_NE(read_file(dirs_[0] + "/polderd.log").find("cut off for 60 s"), std::string::npos);
  // The honest peer was never throttled: b is still alive at a.
  EXPECT_EQ(member_state(this, dirs_[0], "b").first, "alive");
}

TEST_F(SecurityTest, AReplayedSubmitIsDroppedCountedAndChangesNothing) {
  start();
  auto cfg = node::load_client_config(dirs_[0] + "/client.toml");
  ASSERT_TRUE(cfg.is_ok());
  auto key = Identity::load(cfg->key_file);
  ASSERT_TRUE(key.is_ok());
  auto client = node::RpcClient::connect(*key, cfg->node_key, cfg->node_address, 5000ms);
  ASSERT_TRUE(client.is_ok()) << client.status().message();
  JobMessage submit;
  submit.kind = JobMessageKind::kSubmit;
  submit.spec = JobSpec{};
  submit.spec->command = "true";
  submit.spec->nonce = 42;  // fixed: the replay is byte for byte the same request
  submit.spec->submitted_at_us = 1'764'000'000'000'000;
  auto first = (*client)->call(submit);
  ASSERT_TRUE(first.is_ok()) << first.status().message();
  auto* reply = std::get_if<JobMessage>(&first->payload);
  ASSERT_TRUE(reply && reply->job_id);
  const std::string id = reply->job_id->hex();
  ASSERT_TRUE(wait_state(id, "finished", 15s)) << logs();
  auto again = (*client)->call(submit);
  ASSERT_TRUE(again.is_ok()) << again.status().message();
  auto* replay = std::get_if<JobMessage>(&again->payload);
  ASSERT_TRUE(replay && replay->job_id);
  EXPECT_EQ(replay->job_id->hex(), id);
  ASSERT_EQ(replay->jobs.size(), 1u);
  EXPECT_EQ(replay->jobs[0].state, "finished");  // not queued again, not run again
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(state_of(id), "finished");
  EXPECT_EQ(json_field(polder(dirs_[0], "--json status " + id).output, "attempt"), "1");
  double replayed = -1;
  for (auto end = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < end && replayed < 1;) {
    replayed = metric(http_a_, "polder_jobs_events_total{event=\"replayed_submit\"}");
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(replayed, 1);
}

TEST_F(SecurityTest, AClientOverItsJobQuotaGetsAClearRefusal) {
  prepare();
  replace_in(dirs_[0] + "/polderd.toml", "client_jobs_max = 10000", "client_jobs_max = 1");
  launch();
  std::string first = submit("-- sleep 60");
  ASSERT_EQ(first.size(), 64u);
  auto second = polder(dirs_[0], "submit -- true");
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_NE(second.output.find("limits.client_jobs_max = 1"), std::string::npos) << second.output;
  ASSERT_EQ(polder(dirs_[0], "cancel " + first).exit_code, 0);
  ASSERT_TRUE(wait_state(first, "cancelled", 15s)) << logs();
  auto third = polder(dirs_[0], "submit --wait -- true");
  EXPECT_EQ(third.exit_code, 0) << third.output;
}

// The quota is kept by counters (node/jobs.h count_open), not by a scan:
// it must still count exactly the unfinished jobs through every way a job
// ends (cancel, failure, success) and across a restart, which rebuilds
// the counters from the stored records.
TEST_F(SecurityTest, TheClientQuotaCountsExactlyTheUnfinishedJobsAcrossEndsAndARestart) {
  prepare();
  replace_in(dirs_[0] + "/polderd.toml", "client_jobs_max = 10000", "client_jobs_max = 2");
  launch();
  auto refused = [&] {
    auto r = polder(dirs_[0], "submit -- true");
    return r.exit_code == 1 && r.output.find("has 2 unfinished job(s)") != std::string::npos;
  };
  const std::string a = submit("-- sleep 60");
  const std::string b = submit("-- sleep 60");
  ASSERT_EQ(a.size(), 64u);
  ASSERT_EQ(b.size(), 64u);
  EXPECT_TRUE(refused()) << logs();
  // A cancel frees one slot, and only one.
  ASSERT_EQ(polder(dirs_[0], "cancel " + b).exit_code, 0);
  ASSERT_TRUE(wait_state(b, "cancelled", 15s)) << logs();
  const std::string c = submit("-- sh -c 'sleep 1; exit 3'");  // fails
  EXPECT_TRUE(refused()) << logs();
  ASSERT_TRUE(wait_state(c, "failed", 20s)) << logs();
  EXPECT_EQ(polder(dirs_[0], "submit --wait -- true").exit_code, 0) << logs();  // finishes
  const std::string d = submit("-- sleep 60");
  EXPECT_TRUE(refused()) << logs();
  // After a restart the stored records give the same count: a and d.
  ASSERT_EQ(daemons_[0]->terminate(10s), 0);
  daemons_[0] = std::make_unique<Daemon>(dirs_[0] + "/polderd.toml", dirs_[0] + "/polderd-2.log");
  ASSERT_EQ(ping_until_up(dirs_[0]).exit_code, 0) << read_file(dirs_[0] + "/polderd-2.log");
  EXPECT_TRUE(refused()) << read_file(dirs_[0] + "/polderd-2.log");
  ASSERT_EQ(polder(dirs_[0], "cancel " + a).exit_code, 0);
  ASSERT_TRUE(wait_state(a, "cancelled", 15s)) << read_file(dirs_[0] + "/polderd-2.log");
  const std::string e = submit("-- true");
  EXPECT_EQ(e.size(), 64u);
  // The scan's recount never found the counters off.
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(metric(http_a_, "polder_jobs_events_total{event=\"quota_count_repair\"}"), 0);
  EXPECT_EQ(read_file(dirs_[0] + "/polderd.log").find("quota counters drifted"), std::string::npos);
  EXPECT_EQ(read_file(dirs_[0] + "/polderd-2.log").find("quota counters drifted"), std::string::npos);
  ASSERT_EQ(polder(dirs_[0], "cancel " + d).exit_code, 0);
}

// The CLI key `polderd init` made for `dir` (its admin key).
std::string cli_key_of(const std::string& dir) {
  std::string t = read_file(dir + "/polderd.toml");
  const std::string head = "admin_keys = [\n  \"";
  auto p = t.find(head);
  return p == std::string::npos ? "" : t.substr(p + head.size(), 64);
}

TEST_F(SecurityTest, ARevokedNodeIsCutOffEverywhereAndStaysOutAfterARestart) {
  for (const char* n : {"a", "b", "c"}) dirs_.push_back(init_node(n));
  const std::string founder = cli_key_of(dirs_[0]);
  ASSERT_EQ(founder.size(), 64u);
  for (int i = 0; i < 3; ++i) {
    set_fast_gossip(dirs_[i]);
    for (int j = 0; j < 3; ++j) {
      if (i != j) add_seed(dirs_[i], dirs_[j]);
    }
    replace_in(dirs_[i] + "/polderd.toml", "founders = []", "founders = [\"" + founder + "\"]");
  }
  for (int i = 0; i < 3; ++i) {
    daemons_.push_back(std::make_unique<Daemon>(dirs_[i] + "/polderd.toml", dirs_[i] + "/polderd.log"));
  }
  ASSERT_TRUE(all_reach(this, dirs_, 2, 30s)) << logs();
  const std::string c_key = key_of(dirs_[2]);

  // b's operator is an admin of b but not a founder: refused, nothing changes.
  auto forged = polder(dirs_[1], "revoke " + c_key);
  EXPECT_EQ(forged.exit_code, 4) << forged.output;
  EXPECT_NE(forged.output.find("neither a founder"), std::string::npos) << forged.output;
  auto bad = polder(dirs_[0], "revoke nothex");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(member_state(this, dirs_[0], "c").first, "alive");
  EXPECT_EQ(member_state(this, dirs_[1], "c").first, "alive");

  auto t0 = std::chrono::steady_clock::now();
  auto ok = polder(dirs_[0], "revoke " + c_key + " --reason 'test: key compromised'");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  // Cut off everywhere: a and b drop c's member and record (not only mark
  // it dead), and c reaches nobody.
  bool cut = false;
  for (auto end = t0 + 20s; std::chrono::steady_clock::now() < end && !cut;) {
    cut = member_state(this, dirs_[0], "c").first.empty() && member_state(this, dirs_[1], "c").first.empty() &&
          polder(dirs_[2], "--json info").output.find("\"peers_reachable\":0") != std::string::npos;
    if (!cut) std::this_thread::sleep_for(100ms);
  }
  auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(cut) << logs();
  std::printf("revoked node cut off everywhere after %lld ms\n", static_cast<long long>(took_ms));
  EXPECT_NE(read_file(dirs_[1] + "/polderd.log").find("revoked by " + founder.substr(0, 8)), std::string::npos)
      << read_file(dirs_[1] + "/polderd.log");
  // a and b still serve each other.
  EXPECT_EQ(member_state(this, dirs_[0], "b").first, "alive");
  EXPECT_EQ(polder(dirs_[1], "submit --wait -- true").exit_code, 0) << logs();

  // b restarts: it remembers, and keeps refusing c at the handshake.
  ASSERT_EQ(daemons_[1]->terminate(10s), 0);
  daemons_[1] = std::make_unique<Daemon>(dirs_[1] + "/polderd.toml", dirs_[1] + "/polderd-2.log");
  ASSERT_TRUE(ping_until_up(dirs_[1]).exit_code == 0) << read_file(dirs_[1] + "/polderd-2.log");
  std::string after;
  for (auto end = std::chrono::steady_clock::now() + 15s; std::chrono::steady_clock::now() < end;) {
    after = read_file(dirs_[1] + "/polderd-2.log");
    if (after.find("refused peer connection") != std::string::npos) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_NE(after.find("revocations: 1 key(s) revoked"), std::string::npos) << after;
  EXPECT_NE(after.find("refused peer connection"), std::string::npos) << after;
  EXPECT_EQ(member_state(this, dirs_[1], "c").first, "") << after;
  EXPECT_EQ(member_state(this, dirs_[0], "b").first, "alive");  // the listing itself works
}

// Admission by invitation: a and b found the federation; a's operator
// invites c's key; c joins with the file alone and every member admits it.
// A forged invitation, one for another key, and an expired one are refused
// (by the joiner at start, and an unused one is forgotten by the members).
TEST_F(SecurityTest, ANewNodeJoinsOnlyWithAValidInvitationAndExpiredOrForgedOnesAreRefused) {
  start();
  std::string c = init_node("c"), d = init_node("d");
  set_fast_gossip(c);
  set_fast_gossip(d);
  dirs_.push_back(c);
  const std::string c_key = key_of(c), d_key = key_of(d);

  // Bad requests: not a key, an existing member, a non-admin... change nothing.
  EXPECT_EQ(polder(dirs_[0], "invite --key nothex --operator op-c").exit_code, 2);
  auto member = polder(dirs_[0], "invite --key " + key_of(dirs_[1]) + " --operator op-b");
  EXPECT_NE(member.exit_code, 0);
  EXPECT_NE(member.output.find("already a member"), std::string::npos) << member.output;

  // An invitation that expires unused: a forgets it, and d cannot join with it.
  auto soon = polder(dirs_[0], "invite --key " + d_key + " --operator op-d --expires 1s --out " + d + "/inv");
  ASSERT_EQ(soon.exit_code, 0) << soon.output;
  bool forgotten = false;
  for (auto end = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < end && !forgotten;) {
    forgotten = metric(http_a_, "polder_invitations_total{outcome=\"expired\"}") == 1;
    if (!forgotten) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(forgotten) << logs();
  EXPECT_NE(read_file(dirs_[0] + "/polderd.log").find("invitation of key " + d_key.substr(0, 12) + " expired unused"),
            std::string::npos);
  {
    Daemon late(d + "/polderd.toml", d + "/polderd.log", {"--invitation", d + "/inv"});
    EXPECT_EQ(late.wait_exit(30s), 1);
    EXPECT_NE(read_file(d + "/polderd.log").find("expired at"), std::string::npos) << read_file(d + "/polderd.log");
  }

  // c's invitation, then two bad copies of it: one with a flipped signature
  // digit, and d's key trying c's invitation.
  auto ok = polder(dirs_[0], "invite --key " + c_key + " --operator op-c --expires 1h --out " + c + "/inv");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("polderd run --config DIR/polderd.toml --invitation"), std::string::npos) << ok.output;
  std::string text = read_file(c + "/inv");
  std::string forged = text;
  char& digit = forged[forged.size() - 10];
  digit = digit == '0' ? '1' : '0';
  std::ofstream(c + "/forged") << forged;
  {
    Daemon bad(c + "/polderd.toml", c + "/polderd-forged.log", {"--invitation", c + "/forged"});
    EXPECT_EQ(bad.wait_exit(30s), 1);
    EXPECT_NE(read_file(c + "/polderd-forged.log").find("signature"), std::string::npos)
        << read_file(c + "/polderd-forged.log");
  }
  {
    Daemon other(d + "/polderd.toml", d + "/polderd-other.log", {"--invitation", c + "/inv"});
    EXPECT_EQ(other.wait_exit(30s), 1);
    EXPECT_NE(read_file(d + "/polderd-other.log").find("not this node's key"), std::string::npos)
        << read_file(d + "/polderd-other.log");
  }

  // The real one, but c's config says another operator than its invitation:
  // its own record would be refused everywhere, so it does not start.
  {
    Daemon mislabelled(c + "/polderd.toml", c + "/polderd-op.log", {"--invitation", c + "/inv"});
    EXPECT_EQ(mislabelled.wait_exit(30s), 1);
    EXPECT_NE(read_file(c + "/polderd-op.log").find("its invitation names \"op-c\""), std::string::npos)
        << read_file(c + "/polderd-op.log");
  }
  replace_in(c + "/polderd.toml", "operator = \"default\"", "operator = \"op-c\"");
  // c dials a (named in the invitation), and a and b admit it.
  daemons_.push_back(std::make_unique<Daemon>(c + "/polderd.toml", c + "/polderd.log",
                                              std::vector<std::string>{"--invitation", c + "/inv"}));
  ASSERT_TRUE(all_reach(this, dirs_, 2, 60s)) << logs();
  const std::string b_log = read_file(dirs_[1] + "/polderd.log");
  EXPECT_NE(b_log.find("admitted key " + c_key.substr(0, 12) + " (operator op-c) invited by " +
                       key_of(dirs_[0]).substr(0, 12)),
            std::string::npos)
      << b_log;
  EXPECT_EQ(polder(c, "submit --wait -- true").exit_code, 0) << logs();

  // c restarts without the file: it kept its invitation, and is let in again.
  ASSERT_EQ(daemons_[2]->terminate(10s), 0);
  daemons_[2] = std::make_unique<Daemon>(c + "/polderd.toml", c + "/polderd-2.log");
  ASSERT_TRUE(all_reach(this, dirs_, 2, 60s)) << logs() << read_file(c + "/polderd-2.log");
}

// Key rotation: a's operator asks for a new key; a signs it in with its
// current key and tells b; after a restart a runs as the new key, b admits
// it through the rotation and cuts the old key off; the old key file and
// the rotation record stay as a's identity history.
TEST_F(SecurityTest, ARotatedKeyIsSignedInByTheOldOneAndReplacesItAfterARestart) {
  start();
  const std::string old_key = key_of(dirs_[0]);
  auto rotated = polder(dirs_[0], "--json rotate-key");
  ASSERT_EQ(rotated.exit_code, 0) << rotated.output;
  const std::string new_key = json_field(rotated.output, "new_key");
  ASSERT_EQ(new_key.size(), 64u) << rotated.output;
  EXPECT_EQ(json_field(rotated.output, "old_key"), old_key);
  auto again = polder(dirs_[0], "rotate-key");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.output.find("already pending"), std::string::npos) << again.output;
  bool spread = false;
  for (auto end = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < end && !spread;) {
    spread = read_file(dirs_[1] + "/polderd.log").find("admitted key " + new_key.substr(0, 12)) != std::string::npos;
    if (!spread) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(spread) << logs();

  ASSERT_EQ(daemons_[0]->terminate(10s), 0);
  daemons_[0] = std::make_unique<Daemon>(dirs_[0] + "/polderd.toml", dirs_[0] + "/polderd-2.log");
  replace_in(dirs_[0] + "/client.toml", old_key, new_key);  // the CLI pins the node's key
  ASSERT_EQ(ping_until_up(dirs_[0], 30s).exit_code, 0) << read_file(dirs_[0] + "/polderd-2.log");
  EXPECT_EQ(json_field(polder(dirs_[0], "--json info").output, "node_id"), new_key);
  ASSERT_TRUE(all_reach(this, dirs_, 1, 60s)) << logs() << read_file(dirs_[0] + "/polderd-2.log");
  bool retired = false;
  for (auto end = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < end && !retired;) {
    retired = read_file(dirs_[1] + "/polderd.log").find("key " + old_key.substr(0, 12) + " rotated to " +
                                                         new_key.substr(0, 12)) != std::string::npos;
    if (!retired) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(retired) << read_file(dirs_[1] + "/polderd.log");
  EXPECT_TRUE(fs::exists(dirs_[0] + "/node.key.retired-" + old_key.substr(0, 12)));
  EXPECT_FALSE(fs::exists(dirs_[0] + "/node.key.next"));
  EXPECT_EQ(polder(dirs_[1], "submit --wait -- true").exit_code, 0) << logs();
}

}  // namespace
}  // namespace polder
