#include "node/executor.h"

#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace polder::node {
namespace fs = std::filesystem;

namespace {

// The absolute path execve() needs: `command` itself when it has a slash,
// else the first executable match on PATH. Resolved before fork(), because
// only async-signal-safe calls may run between fork() and exec.
std::optional<std::string> resolve_command(const std::string& command) {
  if (command.find('/') != std::string::npos) {
    if (::access(command.c_str(), X_OK) == 0) return command;
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + command;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return std::nullopt;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The process group, or the process itself while it has not yet made its
// own group (right after fork).
void signal_attempt(pid_t pid, int sig) {
  if (::kill(-pid, sig) != 0) ::kill(pid, sig);
}

// Can uid/gid (with `groups`) search (x) directory `st`?
bool can_search(const struct stat& st, uid_t uid, gid_t gid, const std::vector<gid_t>& groups) {
  if (st.st_uid == uid) return (st.st_mode & S_IXUSR) != 0;
  bool in_group = st.st_gid == gid || std::find(groups.begin(), groups.end(), st.st_gid) != groups.end();
  if (in_group) return (st.st_mode & S_IXGRP) != 0;
  return (st.st_mode & S_IXOTH) != 0;
}

// What the child of spawn() needs, prepared by the parent before vfork.
struct ChildSetup {
  const char* exe;
  char* const* argv;
  char* const* envp;
  const char* dir;
  pid_t parent;
  rlim_t log_cap;
  int log_fd;
  int devnull;  // -1: none
  bool switch_user;  // run_as_user: become uid/gid with these groups
  uid_t uid;
  gid_t gid;
  const gid_t* groups;
  std::size_t groups_count;
};

// The child between vfork and execve. It shares the daemon's memory and
// stack, so it makes raw system calls only and never returns.
[[noreturn]] void exec_child(const ChildSetup& c) {
  // The daemon's handlers must not run here: default dispositions first
  // (every signal is blocked until then, see spawn()).
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGINT, SIG_DFL);
  ::setsid();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != c.parent) ::_exit(127);
  ::signal(SIGXFSZ, SIG_IGN);
  ::signal(SIGPIPE, SIG_DFL);
  struct rlimit lim{c.log_cap, c.log_cap};
  ::setrlimit(RLIMIT_FSIZE, &lim);
  if (c.devnull >= 0) ::dup2(c.devnull, 0);
  ::dup2(c.log_fd, 1);
  ::dup2(c.log_fd, 2);
  if (c.switch_user) {
    // Groups first, then the gid, then the uid: after setuid nothing else
    // can change. Raw system calls: glibc's wrappers would broadcast the
    // change to the daemon's threads, whose memory this child shares.
    if (::syscall(SYS_setgroups, c.groups_count, c.groups) != 0) ::_exit(126);
    if (::syscall(SYS_setgid, c.gid) != 0 || ::syscall(SYS_setuid, c.uid) != 0) ::_exit(126);
    if (c.uid != 0 && ::syscall(SYS_setuid, 0) == 0) ::_exit(126);  // the switch must not be undoable
  }
  if (::chdir(c.dir) != 0) ::_exit(126);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(c.exe, c.argv, c.envp);
  ::_exit(127);
}

// vfork, not fork: the child borrows the daemon's memory until execve
// instead of copying its page tables, which was the largest single cost of
// a short job (perf on a 5-node bench: copy_page_range on fork and
// exit_mmap on exec, about a quarter of polderd's CPU at ~100 starts/s).
// Every signal stays blocked across the vfork so no handler of the daemon
// runs in the child. Returns the pid, or -errno.
pid_t spawn(const ChildSetup& setup) {
  sigset_t all, before;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &before);
  pid_t pid = ::vfork();
  if (pid == 0) exec_child(setup);
  int err = errno;
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  return pid < 0 ? -err : pid;
}

// <work>/<job>/<attempt> with two mkdir calls, not create_directories()'s
// walk of stat calls per level; the walk only when work_dir itself is
// missing. An existing directory is fine (a repeated attempt number after
// a lost record).
Status make_attempt_dir(const fs::path& dir) {
  auto make = [](const fs::path& p) { return ::mkdir(p.c_str(), 0755) == 0 || errno == EEXIST; };
  if (make(dir.parent_path()) && make(dir)) return Status::ok();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return unavailable("cannot create working directory " + dir.string() + ": " + ec.message());
  return Status::ok();
}

}  // namespace

Status LocalExecutor::set_run_as_user(const std::string& user) {
  run_as_.reset();
  if (user.empty()) return Status::ok();
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return not_found("jobs.run_as_user: no user \"" + user + "\" on this machine");
  }
  RunAs as{pw.pw_uid, pw.pw_gid, {}};
  int n = 64;
  as.groups.resize(static_cast<std::size_t>(n));
  if (::getgrouplist(user.c_str(), as.gid, as.groups.data(), &n) < 0) {
    as.groups.resize(static_cast<std::size_t>(n));
    if (::getgrouplist(user.c_str(), as.gid, as.groups.data(), &n) < 0) n = 0;
  }
  as.groups.resize(static_cast<std::size_t>(std::max(n, 0)));
  if (::geteuid() != 0 && ::geteuid() != as.uid) {
    return failed_precondition("jobs.run_as_user = \"" + user +
                               "\" needs polderd to run as root (it switches to that user for each job)");
  }
  std::error_code ec;
  fs::create_directories(work_dir_, ec);
  if (ec) return unavailable("cannot create jobs.work_dir " + work_dir_ + ": " + ec.message());
  // Every directory down to work_dir must let the user through, or no job could chdir.
  fs::path dir = fs::absolute(work_dir_).lexically_normal();
  for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && !can_search(st, as.uid, as.gid, as.groups)) {
      return failed_precondition("jobs.run_as_user = \"" + user + "\" cannot reach jobs.work_dir " + work_dir_ +
                                 ": " + p.string() + " is not searchable by that user; give it o+x, or set " +
                                 "jobs.work_dir outside polderd's private data_dir");
    }
    if (p == p.parent_path()) break;
  }
  run_as_ = std::move(as);
  return Status::ok();
}

LocalExecutor::LocalExecutor(std::string work_dir, std::uint64_t log_cap_bytes, Duration kill_grace)
    : work_dir_(std::move(work_dir)), log_cap_bytes_(log_cap_bytes), kill_grace_(kill_grace) {}

LocalExecutor::~LocalExecutor() {
  for (auto& [key, r] : running_) {
    signal_attempt(r.pid, SIGKILL);
    int status = 0;
    ::waitpid(r.pid, &status, 0);
  }
}

std::string LocalExecutor::log_path(const JobId& job, std::uint32_t attempt) const {
  return (fs::path(work_dir_) / job.hex() / std::to_string(attempt) / "output.log").string();
}

Status LocalExecutor::start(const ExecRequest& request, Instant now) {
  auto key = std::make_pair(request.job, request.attempt);
  if (running_.count(key)) return failed_precondition("attempt " + std::to_string(request.attempt) + " already runs");
  if (request.max_run_time_s == 0) return invalid_argument("max run time must be set");
  auto exe = resolve_command(request.spec.command);
  if (!exe) return not_found("command \"" + request.spec.command + "\" not found or not executable");

  fs::path dir = fs::path(work_dir_) / request.job.hex() / std::to_string(request.attempt);
  if (Status made = make_attempt_dir(dir); !made.is_ok()) return made;
  if (run_as_) {
    // The job's own directory belongs to the job's user; the job dir above
    // it only lets it through (no listing of other attempts).
    ::chmod(dir.parent_path().c_str(), 0711);
    if (::chown(dir.c_str(), run_as_->uid, run_as_->gid) != 0 || ::chmod(dir.c_str(), 0700) != 0) {
      return unavailable("cannot give " + dir.string() + " to the job's user: " + std::strerror(errno));
    }
  }
  const RunAs* as = run_as_ ? &*run_as_ : nullptr;
  std::string log = (dir / "output.log").string();

  std::vector<std::string> argv{request.spec.command};
  for (const auto& a : request.spec.args) argv.push_back(a);
  std::vector<std::string> envp{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir.string(),
                                "POLDER_JOB_ID=" + request.job.hex(),
                                "POLDER_ATTEMPT=" + std::to_string(request.attempt),
                                "CUDA_VISIBLE_DEVICES=" + request.gpu_slots};
  for (const auto& kv : request.spec.env) envp.push_back(kv.key + "=" + kv.value);
  auto argv_p = pointers(argv);
  auto envp_p = pointers(envp);
  std::string dir_s = dir.string();
  pid_t parent = ::getpid();
  rlim_t cap = static_cast<rlim_t>(log_cap_bytes_);

  int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return unavailable("cannot create " + log + ": " + std::strerror(errno));
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

  ChildSetup setup{exe->c_str(), argv_p.data(), envp_p.data(), dir_s.c_str(), parent, cap, fd, devnull,
                   as != nullptr, as ? as->uid : 0, as ? as->gid : 0, as ? as->groups.data() : nullptr,
                   as ? as->groups.size() : 0};
  pid_t pid = spawn(setup);
  if (pid < 0) {
    int err = -pid;
    ::close(fd);
    if (devnull >= 0) ::close(devnull);
    return unavailable(std::string("vfork: ") + std::strerror(err));
  }
  ::close(fd);
  if (devnull >= 0) ::close(devnull);
  Running r;
  r.pid = pid;
  r.max_run_time_s = request.max_run_time_s;
  r.deadline = now + std::chrono::seconds(request.max_run_time_s);
  running_.emplace(key, r);
  return Status::ok();
}

void LocalExecutor::terminate(Running& r, Instant now) {
  if (r.kill_at) return;
  signal_attempt(r.pid, SIGTERM);
  r.kill_at = now + kill_grace_;
}

void LocalExecutor::cancel(const JobId& job, std::uint32_t attempt, Instant now) {
  auto it = running_.find({job, attempt});
  if (it == running_.end()) return;
  it->second.cancelled = true;
  terminate(it->second, now);
}

void LocalExecutor::kill(const JobId& job, std::uint32_t attempt) {
  auto it = running_.find({job, attempt});
  if (it == running_.end()) return;
  it->second.cancelled = true;
  signal_attempt(it->second.pid, SIGKILL);
}

std::vector<ExecResult> LocalExecutor::poll(Instant now) {
  std::vector<ExecResult> done;
  for (auto it = running_.begin(); it != running_.end();) {
    Running& r = it->second;
    if (!r.kill_at && now >= r.deadline) {
      r.timed_out = true;
      terminate(r, now);
    }
    if (r.kill_at && now >= *r.kill_at) signal_attempt(r.pid, SIGKILL);
    int status = 0;
    struct rusage usage {};
    pid_t got = ::wait4(r.pid, &status, WNOHANG, &usage);
    if (got != r.pid) {
      ++it;
      continue;
    }
    // The leader is gone; its group may not be: make sure nothing outlives it.
    ::kill(-r.pid, SIGKILL);
    ExecResult res;
    res.job = it->first.first;
    res.attempt = it->first.second;
    res.cancelled = r.cancelled;
    res.timed_out = r.timed_out;
    if (WIFEXITED(status)) {
      res.exit_code = WEXITSTATUS(status);
      res.reason = "exit " + std::to_string(res.exit_code);
      if (res.exit_code == 127) res.reason += " (command could not be run)";
    } else if (WIFSIGNALED(status)) {
      res.exit_code = 128 + WTERMSIG(status);
      res.reason = std::string("killed by signal ") + std::to_string(WTERMSIG(status));
    }
    if (r.timed_out) res.reason = "max run time " + std::to_string(r.max_run_time_s) + " s exceeded (" + res.reason + ")";
    if (r.cancelled) res.reason = "cancelled (" + res.reason + ")";
    res.cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    res.max_rss_kb = usage.ru_maxrss;
    // An attempt that did not end with a clean exit 0 (a failure, a signal,
    // a cancel, a lease that lapsed) leaves its end on disk beside its
    // output: the reason, and in the mtime when the process was reaped
    // (what testnet/chaos's overcommit check and an operator read). A
    // clean exit writes no file: one inode less per attempt, and inode
    // allocation was the largest cost of a short job (perf, docs/benchmarks.md).
    if (res.reason != "exit 0") {
      std::ofstream(fs::path(log_path(res.job, res.attempt)).parent_path() / "exit_status", std::ios::trunc)
          << res.reason << "\n";
    }
    done.push_back(std::move(res));
    it = running_.erase(it);
  }
  return done;
}

bool LocalExecutor::running(const JobId& job, std::uint32_t attempt) const {
  return running_.count({job, attempt}) != 0;
}

Result<Bytes> LocalExecutor::read_log(const JobId& job, std::uint32_t attempt, std::uint64_t offset,
                                      std::size_t max_bytes) const {
  std::ifstream in(log_path(job, attempt), std::ios::binary);
  if (!in) return not_found("no output for attempt " + std::to_string(attempt) + " here");
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::uint64_t>(in.tellg());
  if (offset >= size) return Bytes{};
  std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size - offset, max_bytes));
  Bytes out(n);
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

}  // namespace polder::node
