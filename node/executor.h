// LocalExecutor: runs job attempts as local processes.
//
// Each (job, attempt) runs in its own working directory
// <work_dir>/<job hex>/<attempt>, in its own process group, with a
// sanitised environment: PATH, HOME (the working directory), the job's own
// variables, POLDER_JOB_ID, POLDER_ATTEMPT, POLDER_NODE_ID (the owner) and
// CUDA_VISIBLE_DEVICES set to the GPU slot ids the reservation granted. stdout and stderr go to
// `output.log` in that directory (and, once it ended other than with a
// clean exit 0, `exit_status` with the reason, written when the process was
// reaped), capped at log_cap_bytes (RLIMIT_FSIZE:
// writes beyond the cap fail, the job goes on). The maximum run time is
// enforced with SIGTERM to the whole process group, then SIGKILL after a
// grace period; cancel does the same. An attempt's first process dies with
// the daemon (PR_SET_PDEATHSIG); what it started does not, so every job
// process also carries POLDER_NODE_ID (the owner given here), and a
// restarted daemon stops whatever its previous run left (stop_leftovers())
// before it hands their resources to other jobs: the restarted node
// reports those attempts lost.
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
  // `owner`: the node id (hex) every job process gets as POLDER_NODE_ID,
  // which stop_leftovers() looks for; "" = none.
  LocalExecutor(std::string work_dir, std::uint64_t log_cap_bytes, Duration kill_grace = std::chrono::seconds(5),
                std::string owner = "");
  ~LocalExecutor();  // kills every running attempt

  // Runs every later attempt as `user` (setgid/setgroups/setuid in the
  // child), with its working directory owned by that user. "" = polderd's
  // own user. Errors: no such user; polderd is neither root nor that user;
  // the work dir is not reachable by the user (a parent dir without x for it).
  Status set_run_as_user(const std::string& user);

  // SIGKILLs every process on this machine whose environment says it was
  // started by this owner (POLDER_NODE_ID), with its process group, and
  // waits (at most `within`) for them to die: what a killed daemon's
  // attempts left. Call it before this executor starts anything. Counts the
  // processes it killed; `still_alive` those that had not died in time.
  struct Leftovers {
    std::size_t killed = 0;
    std::size_t still_alive = 0;
  };
  Leftovers stop_leftovers(Duration within = std::chrono::seconds(2)) const;
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
  std::string owner_;
  std::optional<RunAs> run_as_;
  std::uint64_t log_cap_bytes_;
  Duration kill_grace_;
  std::map<std::pair<JobId, std::uint32_t>, Running> running_;
};

}  // namespace polder::node
