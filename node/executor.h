// LocalExecutor: runs job attempts as local processes.
//
// Each (job, attempt) runs in its own working directory
// <work_dir>/<job hex>/<attempt>, in its own process group, with a
// sanitised environment: PATH, HOME (the working directory), the job's own
// variables, POLDER_JOB_ID, POLDER_ATTEMPT and CUDA_VISIBLE_DEVICES set to
// the GPU slot ids the reservation granted. stdout and stderr go to
// `output.log` in that directory (and, once it ended other than with a
// clean exit 0, `exit_status` with the reason, written when the process was
// reaped), capped at log_cap_bytes (RLIMIT_FSIZE:
// writes beyond the cap fail, the job goes on). The maximum run time is
// enforced with SIGTERM to the whole process group, then SIGKILL after a
// grace period; cancel does the same. Children die with the daemon
// (PR_SET_PDEATHSIG), so a kill -9 of polderd never leaves an attempt
// running unseen: the restarted node reports it lost.
//
// poll() reaps finished attempts (never blocks) and returns their results.
// Thread-safety: none; owned by the daemon's event-loop thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/ids.h"
#include "protocol/messages.h"
#include "protocol/status.h"
#include "protocol/time.h"

namespace polder::node {

struct ExecRequest {
  JobId job;
  std::uint32_t attempt = 0;
  JobSpec spec;
  std::string gpu_slots;            // "0,1" or empty
  std::uint64_t max_run_time_s = 0; // > 0
};

struct ExecResult {
  JobId job;
  std::uint32_t attempt = 0;
  int exit_code = 0;          // the process's exit status, or 128+signal
  bool cancelled = false;     // stopped by cancel()
  bool timed_out = false;     // stopped for exceeding max run time
  std::string reason;         // "exit 0", "killed by signal 9", "max run time 2 s exceeded", ...
  double cpu_s = 0;
  std::int64_t max_rss_kb = 0;
};

class LocalExecutor {
 public:
  LocalExecutor(std::string work_dir, std::uint64_t log_cap_bytes, Duration kill_grace = std::chrono::seconds(5));
  ~LocalExecutor();  // kills every running attempt

  // Runs every later attempt as `user` (setgid/setgroups/setuid in the
  // child), with its working directory owned by that user. "" = polderd's
  // own user. Errors: no such user; polderd is neither root nor that user;
  // the work dir is not reachable by the user (a parent dir without x for it).
  Status set_run_as_user(const std::string& user);

  // Starts the attempt. Errors (nothing runs): already running, the working
  // directory cannot be made, the command is not found or not executable.
  Status start(const ExecRequest& request, Instant now);
  // Asks the attempt to stop (SIGTERM, SIGKILL after the grace). No-op when unknown.
  void cancel(const JobId& job, std::uint32_t attempt, Instant now);
  // Stops the attempt at once (SIGKILL to its process group, no grace): for
  // an attempt that lost its lease, which must not outlive it. The result
  // comes from poll() with `cancelled` set. No-op when unknown.
  void kill(const JobId& job, std::uint32_t attempt);
  // Enforces deadlines and reaps finished attempts.
  std::vector<ExecResult> poll(Instant now);

  bool running(const JobId& job, std::uint32_t attempt) const;
  std::size_t running_count() const { return running_.size(); }
  std::string log_path(const JobId& job, std::uint32_t attempt) const;
  // Up to max_bytes of the attempt's output from `offset` (empty at the end).
  Result<Bytes> read_log(const JobId& job, std::uint32_t attempt, std::uint64_t offset, std::size_t max_bytes) const;

 private:
  struct Running {
    pid_t pid = 0;
    Instant deadline;
    std::uint64_t max_run_time_s = 0;
    bool cancelled = false;
    bool timed_out = false;
    std::optional<Instant> kill_at;  // SIGKILL then, once SIGTERM was sent
  };
  void terminate(Running& r, Instant now);

  struct RunAs {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
  };

  std::string work_dir_;
  std::optional<RunAs> run_as_;
  std::uint64_t log_cap_bytes_;
  Duration kill_grace_;
  std::map<std::pair<JobId, std::uint32_t>, Running> running_;
};

}  // namespace polder::node
