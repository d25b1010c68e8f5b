#include "node/executor.h"

#include "node/clock.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace polder::node {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/polder-exec-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  ExecRequest request(std::vector<std::string> sh, std::uint64_t max_s = 30) {
    ExecRequest r;
    r.job = *JobId::from_hex(std::string(64, 'a'));
    r.attempt = 2;
    r.spec.command = "sh";
    r.spec.args = {"-c"};
    for (auto& s : sh) r.spec.args.push_back(std::move(s));
    r.spec.env = {{"GREETING", "hi"}};
    r.gpu_slots = "1,3";
    r.max_run_time_s = max_s;
    return r;
  }
  // Polls (real time) until one result comes or `within` passes.
  std::optional<ExecResult> wait(LocalExecutor& e, std::chrono::milliseconds within) {
    for (auto end = std::chrono::steady_clock::now() + within; std::chrono::steady_clock::now() < end;) {
      auto done = e.poll(SystemClock().now());
      if (!done.empty()) return done.front();
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  }
  std::string log(LocalExecutor& e, const ExecRequest& r) {
    auto bytes = e.read_log(r.job, r.attempt, 0, 1 << 20);
    return bytes ? std::string(bytes->begin(), bytes->end()) : "<none>";
  }
  std::string dir_;
};

TEST_F(ExecutorTest, RunsWithSlotsEnvironmentAndOwnDirectory) {
  LocalExecutor e(dir_, 1 << 20);
  auto r = request({"echo $CUDA_VISIBLE_DEVICES $GREETING $POLDER_ATTEMPT; pwd; echo oops >&2; exit 4"});
  ASSERT_TRUE(e.start(r, SystemClock().now()).is_ok());
  EXPECT_TRUE(e.running(r.job, 2));
  auto res = wait(e, 10s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->exit_code, 4);
  EXPECT_EQ(res->reason, "exit 4");
  EXPECT_FALSE(e.running(r.job, 2));
  std::string out = log(e, r);
  EXPECT_NE(out.find("1,3 hi 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find(dir_ + "/" + std::string(64, 'a') + "/2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("oops"), std::string::npos) << out;
  std::ifstream exit_status(dir_ + "/" + std::string(64, 'a') + "/2/exit_status");
  std::string reason;
  std::getline(exit_status, reason);
  EXPECT_EQ(reason, "exit 4");
  // The daemon's environment does not leak in.
  ::setenv("POLDER_SECRET_TEST", "leak", 1);
  auto r2 = request({"echo [$POLDER_SECRET_TEST]"});
  r2.attempt = 3;
  ASSERT_TRUE(e.start(r2, SystemClock().now()).is_ok());
  ASSERT_TRUE(wait(e, 10s));
  EXPECT_EQ(log(e, r2), "[]\n");
  // A clean exit 0 leaves no exit_status (one inode less per attempt).
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/" + std::string(64, 'a') + "/3/exit_status"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/" + std::string(64, 'a') + "/3/output.log"));
}

TEST_F(ExecutorTest, KillStopsTheAttemptAtOnceEvenWhenItIgnoresTerm) {
  LocalExecutor e(dir_, 1 << 20, 30s);  // a long grace: kill() must not wait for it
  auto r = request({"trap '' TERM; sleep 30 & sleep 30; wait"});
  ASSERT_TRUE(e.start(r, SystemClock().now()).is_ok());
  std::this_thread::sleep_for(100ms);
  auto t0 = std::chrono::steady_clock::now();
  e.kill(r.job, r.attempt);
  auto res = wait(e, 5s);
  ASSERT_TRUE(res);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_TRUE(res->cancelled);
  EXPECT_EQ(res->exit_code, 128 + 9);
  e.kill(r.job, r.attempt);  // unknown now: a no-op
}

TEST_F(ExecutorTest, MaxRunTimeAndCancelStopTheWholeProcessGroup) {
  LocalExecutor e(dir_, 1 << 20, 200ms);
  auto r = request({"trap '' TERM; sleep 30 & sleep 30; wait"}, 1);  // ignores SIGTERM: needs the SIGKILL
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(e.start(r, SystemClock().now()).is_ok());
  auto res = wait(e, 10s);
  ASSERT_TRUE(res);
  EXPECT_TRUE(res->timed_out);
  EXPECT_NE(res->reason.find("max run time 1 s exceeded"), std::string::npos) << res->reason;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);

  LocalExecutor patient(dir_, 1 << 20, 10s);  // SIGTERM is enough here
  auto c = request({"sleep 30"});
  c.attempt = 5;
  ASSERT_TRUE(patient.start(c, SystemClock().now()).is_ok());
  patient.cancel(c.job, 5, SystemClock().now());
  auto cres = wait(patient, 10s);
  ASSERT_TRUE(cres);
  EXPECT_TRUE(cres->cancelled);
  EXPECT_EQ(cres->exit_code, 128 + 15);
}

TEST_F(ExecutorTest, OutputIsCappedAndBadCommandsRefused) {
  LocalExecutor e(dir_, 4096);
  auto r = request({"head -c 100000 /dev/zero | tr '\\\\0' x; echo still-running-after-cap >&2; exit 0"});
  ASSERT_TRUE(e.start(r, SystemClock().now()).is_ok());
  auto res = wait(e, 10s);
  ASSERT_TRUE(res);
  EXPECT_LE(fs::file_size(e.log_path(r.job, r.attempt)), 4096u);
  auto bad = request({});
  bad.spec.command = "no-such-command-polder";
  auto s = e.start(bad, SystemClock().now());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("no-such-command-polder"), std::string::npos);
  EXPECT_FALSE(e.running(bad.job, bad.attempt));
  auto twice = request({"sleep 5"});
  ASSERT_TRUE(e.start(twice, SystemClock().now()).is_ok());
  EXPECT_FALSE(e.start(twice, SystemClock().now()).is_ok());
}

}  // namespace
}  // namespace polder::node

namespace polder::node {
namespace {

// Tests run as root here, so the switch to `nobody` is real.
class RunAsTest : public ExecutorTest {};

TEST_F(RunAsTest, JobRunsAsTheConfiguredUserAndCannotReadRootOnlyFiles) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  ASSERT_EQ(::chmod(dir_.c_str(), 0711), 0);
  std::string secret = dir_ + "/node.key";
  { std::ofstream(secret) << "secret"; }
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  LocalExecutor e(dir_ + "/work", 1 << 20);
  ASSERT_TRUE(e.set_run_as_user("nobody").is_ok());
  auto r = request({"id -u; id -G; echo data > here && echo wrote; cat " + secret + " || echo denied"});
  ASSERT_TRUE(e.start(r, SystemClock().now()).is_ok());
  auto res = wait(e, 10s);
  ASSERT_TRUE(res);
  std::string out = log(e, r);
  EXPECT_EQ(res->exit_code, 0) << out;
  EXPECT_EQ(out.substr(0, out.find('\n')), "65534") << out;
  EXPECT_NE(out.find("wrote\n"), std::string::npos) << out;   // its own directory is writable
  EXPECT_NE(out.find("denied\n"), std::string::npos) << out;  // the daemon's 0600 files are not readable
  EXPECT_EQ(out.find("secret"), std::string::npos) << out;
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/work/" + r.job.hex() + "/2").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
}

TEST_F(RunAsTest, UnreachableWorkDirAndUnknownUserAreClearErrors) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);  // like a node dir made by polderd init
  LocalExecutor e(dir_ + "/work", 1 << 20);
  Status s = e.set_run_as_user("nobody");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find(dir_ + " is not searchable by that user"), std::string::npos) << s.message();
  Status unknown = e.set_run_as_user("no-such-user-x");
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.message().find("no user \"no-such-user-x\""), std::string::npos) << unknown.message();
}

}  // namespace
}  // namespace polder::node
