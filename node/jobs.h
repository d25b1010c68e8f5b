// JobManager: jobs end to end inside polderd (issue 6).
//
// A job is submitted at any node (its origin). The origin validates the
// spec against the federation's gossiped records, names the job
// (hash of the spec), picks its replica set by rendezvous hashing over the
// live members, stores the job record durably and only then acknowledges;
// then it replicates the record to the replicas.
//
// The job's driver — its origin while alive, else the first live replica —
// places each attempt: it ranks candidates with scheduler::Placer over the
// gossiped records, asks the best for a reservation (the executor grants
// only what it has free: scheduler::ReservationTable), and proposes
// "executor runs (job, attempt) under reservation R" to the consensus core.
// Every holder (origin, replicas, executor) learns the chosen value; the
// executor starts the attempt only after it learned it chosen (the attempt
// number is the fencing token), runs it with LocalExecutor and reports the
// outcome to the holders. Updates of an older attempt are refused.
//
// Failover: an executor declared dead or left by gossip, or one that
// restarted and finds an attempt it was running (reported "lost"), makes
// the driver start attempt a+1. A failed attempt runs again only while
// failures <= spec.max_retries. Holders poll the executor of a running
// attempt now and then, so a lost update message is repaired.
//
// Executor lease (what keeps two attempts of a job from running at once
// when a live executor is wrongly thought dead): the executor starts an
// attempt only once a majority of the job's replicas granted it a lease, and
// renews it by heartbeats (every lease/6). An attempt whose lease lapsed
// (no majority granted a renewal sent within lease_ms) is killed at once.
// A replica that granted a lease on (j, a) votes in no instance (j, a' > a)
// until lease_ms × 4/3 after the grant, unless it learned that attempt a
// ended; it grants no lease on (j, a) once it took part in (j, a+1) or moved
// on. By quorum intersection a later attempt cannot be chosen while the
// earlier one holds a lease. Holders start the next attempt when the lease
// of the current one lapsed in their own view (the executor stopped
// heartbeating: dead, cut off or starved).
//
// Persist, then send: handlers mark changed records dirty and queue their
// messages, client replies and process starts; flush() writes every dirty
// record in one synced batch (group commit), then sends. A submit is
// acknowledged, replicated and placed only after its record is on disk.
//
// Work exchange (scheduler/work_exchange.h): a job no node can start now
// waits, queued, at its driver, which retries its placement with a backoff
// (jobs.queued_retry_ms doubling up to queued_retry_max_ms). The driver's
// gossiped record counts those jobs (queue_length) and the age of the
// oldest (expected_wait_ms). A node with capacity free offers it (a
// kWorkOffer) to such peers, at most once per peer per offer_interval; a
// driver honours at most one offer per peer per interval and places at once,
// on the offering node, the oldest waiting jobs that fit the offer (at most
// offer_jobs_max). Capacity freed at the driver itself wakes its own waiting
// jobs the same way.
//
// Client requests (status, list, logs) are answered from what this node
// holds plus what the live members answer within a short deadline; the most
// advanced view of a job (highest attempt, then furthest state) wins.
//
// Thread-safety: none; the daemon's event-loop thread drives it.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "consensus/consensus_core.h"
#include "gossip/gossip_core.h"
#include "node/config.h"
#include "node/core_host.h"
#include "node/executor.h"
#include "node/job_auth.h"
#include "node/storage.h"
#include "protocol/messages.h"
#include "scheduler/offload.h"
#include "scheduler/reservations.h"
#include "scheduler/work_exchange.h"

namespace polder::node {

// Where a client reply goes.
struct ClientRef {
  std::string routing_id;
  std::uint64_t message_id = 0;
};

// Job states as shown to users; "lost" only travels in updates.
bool job_state_is_final(const std::string& state);
// Orders two views of one job: true when `a` is more advanced than `b`.
bool job_view_newer(const JobView& a, const JobView& b);

// Fault injection for tests: an executor never renews the lease of attempts
// with this number (it still asks for the first grant), as if its heartbeats
// were lost, so the attempt must stop when the lease lapses.
inline constexpr const char* kNoRenewAttemptEnv = "POLDER_FAULT_NO_RENEW_ATTEMPT";

struct JobManagerDeps {
  NodeId self;
  const NodeConfig* config = nullptr;
  Storage* storage = nullptr;
  gossip::GossipCore* gossip = nullptr;
  consensus::ConsensusCore* consensus = nullptr;
  CoreHost* consensus_host = nullptr;
  std::function<void(const NodeId& to, JobMessage message)> send;
  std::function<void(const ClientRef& client, Payload payload)> reply;
};

// Latency histogram with fixed buckets (milliseconds), Prometheus style.
struct LatencyHistogram {
  static constexpr double kBucketsMs[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000};
  std::uint64_t counts[std::size(kBucketsMs)] = {};
  std::uint64_t total = 0;
  double sum_ms = 0;
  void observe(double ms) {
    for (std::size_t i = 0; i < std::size(kBucketsMs); ++i) {
      if (ms <= kBucketsMs[i]) ++counts[i];
    }
    ++total;
    sum_ms += ms;
  }
};

struct JobCounters {
  std::uint64_t submitted = 0;          // accepted here (this node is the origin)
  std::uint64_t refused = 0;            // bad specs refused on submit
  std::uint64_t placements = 0;         // rankings that found a candidate
  std::uint64_t reservations_granted = 0;
  std::uint64_t reservations_refused = 0;
  std::uint64_t attempts_started = 0;   // as executor
  std::uint64_t failovers = 0;          // new attempts after a dead or restarted executor
  std::uint64_t retries = 0;            // new attempts after a failure, per retry policy
  std::uint64_t stale_updates_refused = 0;  // fencing: updates of older attempts
  std::uint64_t offloads = 0;           // attempts placed because of a work offer (work exchange)
  std::uint64_t offers_sent = 0;        // work offers this node sent (it had capacity free)
  std::uint64_t offers_received = 0;    // work offers peers sent here
  std::uint64_t offers_ignored = 0;     // received but not honoured (rate limit, unknown sender, offers off)
  std::uint64_t lease_votes_withheld = 0;  // consensus votes dropped: an earlier attempt holds a lease here
  std::uint64_t lease_refusals = 0;     // heartbeats of an executor whose lease this node refused
  std::uint64_t lease_lapses = 0;       // attempts killed here because their lease lapsed
  std::uint64_t record_writes = 0;      // synced batches of job records (one fsync each)
  std::uint64_t records_written = 0;    // job records in those batches
  std::uint64_t lazy_record_writes = 0;  // batches of only "running" records, written with no fsync of their own
  std::uint64_t lazy_records_written = 0;  // job records in those batches
  std::uint64_t unauthorized = 0;       // peer job messages refused by node/job_auth.h rules
  std::uint64_t peer_quota_refused = 0; // replica records refused: their origin is at limits.peer_jobs_max
  std::uint64_t replayed_submits = 0;
  std::uint64_t admission_refused = 0;   // submits refused because placement here lags (jobs.admission_lag_ms)
  std::uint64_t quota_count_repairs = 0;  // the quota counters drifted from the records (a bug; must stay 0)   // a submit of a spec (same id) this node already holds: not re-stored
  LatencyHistogram decision_ms;         // propose -> chosen, for this node's proposals
  LatencyHistogram submit_to_running_ms;  // as origin: accepted -> the executor reported running
};

class JobManager {
 public:
  static Result<std::unique_ptr<JobManager>> create(JobManagerDeps deps, Instant now, std::int64_t wall_us);
  ~JobManager();

  void on_client(const ClientRef& client, const NodeId& client_key, JobMessage request, Instant now,
                 std::int64_t wall_us);
  void on_peer(const NodeId& from, JobMessage message, Instant now, std::int64_t wall_us);
  void on_chosen(const consensus::ChosenEvent& chosen, Instant now, std::int64_t wall_us);
  void tick(Instant now, std::int64_t wall_us);
  std::optional<Instant> next_wake() const;
  // Persist, then send: one synced write of every job record changed since
  // the last flush, then the messages, replies and process starts that
  // waited for it. An error is returned (and logged) when the write failed:
  // submits it covered are refused, other records stay queued for the next
  // flush.
  Status flush(Instant now, std::int64_t wall_us);
  // flush() in two steps, so the daemon can put the job records under the
  // same fsync as the consensus core's: write() hands every dirty record to
  // storage (kAsync: in the write-ahead log, not yet synced), and release()
  // sends, replies and starts once the caller made that write durable
  // (`durable` says whether it did; not ok = nothing is released as if
  // durable, submits are refused, records stay dirty).
  // Records changed only by persist_lazily() go in the same batch when
  // there is one; alone, they are written kLazy (no fsync asked for) and
  // the returned status says nothing about durability: no output waits on
  // them, and a failed lazy write is retried by the next write().
  Status write(Durability durability);
  void release(const Status& durable, Instant now, std::int64_t wall_us);
  bool has_pending_output() const;
  // Records not yet handed to storage, lazy ones included (shutdown).
  bool has_unwritten_records() const { return !dirty_.empty() || !lazy_.empty(); }
  // The consensus filter: false when this node must not vote (Prepare,
  // Accept) in instance `key`, because it granted the executor of an earlier
  // attempt of that job a lease that has not lapsed. The daemon drops such
  // messages (as if lost); the proposer retries.
  bool may_vote(const consensus::InstanceKey& key, Instant now);

  // What this node gossips about itself: free/total GPUs, and its queue:
  // the jobs it drives that wait because no node could start them, and how
  // long the oldest of them has waited (as of the last scan).
  std::vector<Accelerator> accelerators() const { return table_.accelerators(); }
  std::uint32_t queue_length() const;
  std::uint64_t expected_wait_ms() const;
  // True once since the last call when capacity changed (republish the record).
  bool take_capacity_changed();
  // Jobs this node holds, by state (for logs and tests).
  std::map<std::string, std::size_t> counts_by_state() const;
  const JobCounters& counters() const { return counters_; }
  std::size_t reservations_held() const { return table_.size(); }
  // The `max` most recently submitted jobs this node holds, oldest first
  // (the dashboard, /api/jobs). Bounded: the daemon builds this twice a
  // second, and a node holds every job it ever saw.
  std::vector<JobView> views(std::size_t max) const;
  std::size_t jobs_held() const { return jobs_.size(); }

 private:
  struct Record {
    JobSpec spec;
    NodeId origin;
    std::vector<NodeId> replicas;
    JobView view;
    bool cancel_requested = false;
    std::uint64_t reservation = 0;  // executor side: the allocation of the running attempt
    // Driver state (volatile).
    enum class Phase { kIdle, kReserving, kProposing } phase = Phase::kIdle;
    NodeId candidate;
    std::uint64_t granted = 0;
    Instant phase_deadline;
    Instant retry_at;
    std::set<NodeId> refused;
    Instant last_poll;
    std::string waiting_reason;
    Instant proposed_at;
    Instant accepted_at;  // origin: when the submit was acknowledged (volatile)
    Duration retry_wait{};  // the backoff of the next placement try while waiting
    bool waiting = false;   // the last placement found no node that can start it now
    // This placement round, an executor refused because what is missing is
    // held by reservations awaiting their decision (held_by_reservations);
    // copied into waiting_behind_reservations when the round ends waiting.
    bool refused_behind_reservations = false;
    bool waiting_behind_reservations = false;  // admission counts such a wait as lag
    Instant waiting_since;
    bool by_offer = false;  // the reservation under way was asked because of a work offer
    // What count_open() last counted this record under (open_by_origin_, open_by_client_).
    bool counted_open = false;
    NodeId counted_origin;
    std::optional<NodeId> counted_client;  // the submitter, when this node is the origin
  };
  struct PendingRun {  // executor side: a granted reservation awaiting the decision
    JobId job;
    std::uint32_t attempt = 0;
    JobSpec spec;
    NodeId origin;
    std::vector<NodeId> replicas;
    std::string gpu_slots;
  };
  struct Lease {  // holder side: the lease this node granted (or assumes) on one attempt
    std::uint32_t attempt = 0;
    Instant heard;      // last grant, or when this node learned the attempt placed
    bool open = true;   // false once the attempt is known to have ended
  };
  struct ExecLease {  // executor side: an attempt that runs here, or waits for its lease to start
    std::uint32_t attempt = 0;
    Instant until;                 // the lease holds before this (Instant() = never granted)
    Instant requested_at;
    bool started = false;          // the process was launched
    bool lapsed = false;           // killed because the lease lapsed
    std::string gpu_slots;
    std::map<std::uint64_t, std::set<NodeId>> grants;  // heartbeat round -> replicas that granted it
  };
  struct PendingSubmit {  // acknowledged, replicated and placed once its record is durable
    ClientRef client;
    JobId job;
  };
  struct PendingClient {
    ClientRef client;
    JobMessageKind kind = JobMessageKind::kStatus;
    std::optional<JobId> job;
    std::string state_filter;
    std::string node_filter;
    std::set<NodeId> waiting;
    Instant deadline;
    std::map<JobId, JobView> views;
    bool truncated = false;  // a member's reply left jobs out (its kListMax)
    // logs
    std::uint32_t log_attempt = 0;
    bool log_found = false;
    JobMessage log_reply;
    NodeId client_key;  // who asked: reads are limited to its own jobs unless it is an admin key
  };

  explicit JobManager(JobManagerDeps deps, scheduler::ReservationTable table);
  Status restore(Instant now, std::int64_t wall_us);

  // Client requests.
  void submit(const ClientRef& client, const NodeId& client_key, JobMessage request, Instant now, std::int64_t wall_us);
  void fan_out(const ClientRef& client, const NodeId& client_key, JobMessage request, Instant now);
  void complete(std::uint64_t request_id);
  void finish_submits(const Status& written, Instant now, std::int64_t wall_us);
  void start_process(const ExecRequest& request, const Status& written, Instant now, std::int64_t wall_us);
  void cancel_local(const JobId& job, Instant now, std::int64_t wall_us);

  // Peer messages.
  void on_replicate(const NodeId& from, const JobMessage& m, std::int64_t wall_us);
  void on_reserve(const NodeId& from, const JobMessage& m, Instant now);
  void on_reserve_reply(const NodeId& from, const JobMessage& m, Instant now, std::int64_t wall_us);
  void on_query(const NodeId& from, const JobMessage& m);
  void on_fetch_logs(const NodeId& from, const JobMessage& m);
  void on_reply_for_client(const NodeId& from, const JobMessage& m);
  void on_heartbeat(const NodeId& from, const JobMessage& m, Instant now, std::int64_t wall_us);
  void on_heartbeat_ack(const NodeId& from, const JobMessage& m, Instant now, std::int64_t wall_us);

  // Leases.
  enum class LeaseAnswer { kGranted, kRefused, kAbstained };
  LeaseAnswer grant_lease(const NodeId& executor, const JobView& v, Instant now);
  void touch_lease(const JobId& job, std::uint32_t attempt, Instant now);
  void close_lease(const JobId& job, std::uint32_t attempt);
  bool lease_fresh(const Record& r, Instant now) const;
  Duration lease_duration() const;
  // `at_once`: the messages leave now, not after this turn's write (see start_attempt()).
  void heartbeat(const std::vector<JobId>& jobs, Instant now, std::int64_t wall_us, bool at_once = false);
  void launch(Record& r, ExecLease& lease, Instant now, std::int64_t wall_us);
  void check_exec_leases(Instant now, std::int64_t wall_us);
  void report_lost(Record& r, const std::string& why, std::int64_t wall_us);
  void abandon_unstarted(Record& r, const std::string& why, std::int64_t wall_us);

  // Outbox (sent by flush(), after the write).
  void send(const NodeId& to, JobMessage message) { out_peer_.emplace_back(to, std::move(message)); }
  void reply(const ClientRef& client, Payload payload) { out_client_.emplace_back(client, std::move(payload)); }

  // Driver.
  bool is_driver(const Record& r) const;
  bool member_alive(const NodeId& id) const;
  void place(Record& r, Instant now, std::int64_t wall_us);
  void reserve_at(Record& r, const NodeId& candidate, Instant now, std::int64_t wall_us);
  void propose(Record& r, const consensus::Value& value, Instant now);
  void release_granted(Record& r, Instant now, std::int64_t wall_us);
  void release_at(const NodeId& node, const JobId& job, std::uint64_t reservation, Instant now, std::int64_t wall_us);
  void poll_executor(Record& r, Instant now);
  void next_attempt(Record& r, const std::string& why, std::int64_t wall_us, bool counts_as_failure);

  // Work exchange.
  struct WorkOffers;
  bool waiting(const Record& r) const;
  std::vector<Record*> waiting_jobs();  // this node drives them; oldest first
  scheduler::FreeCapacity free_capacity() const;
  void exchange_work(Instant now, std::int64_t wall_us);
  void on_work_offer(const NodeId& from, const JobMessage& m, Instant now, std::int64_t wall_us);
  std::size_t place_waiting(const NodeId& on, const NodeRecord& record, const scheduler::FreeCapacity& free,
                            Instant now, std::int64_t wall_us);

  // Executor.
  void start_attempt(const consensus::InstanceKey& key, const consensus::Value& value, Instant now,
                     std::int64_t wall_us);
  void on_exec_result(const ExecResult& result, std::int64_t wall_us);
  JobMessage grant(const NodeId& from, const JobMessage& m, Instant now);

  // Authorisation (node/job_auth.cc): false = refused, logged and counted.
  std::optional<JobParties> parties_of(const JobId& job, std::uint64_t reservation = 0) const;
  bool peer_may_update(const NodeId& from, const JobView& view);
  bool peer_may_cancel(const NodeId& from, const JobId& job);
  Status reserve_allowed(const NodeId& from, const JobMessage& m) const;
  bool chosen_allowed(const consensus::ChosenEvent& chosen);
  Status client_may_cancel(const NodeId& client, const JobId& job) const;
  Status client_within_quota(const NodeId& client) const;  // [limits] client_jobs_max
  Status peer_within_quota(const NodeId& origin) const;    // [limits] peer_jobs_max
  bool client_may_read(const PendingClient& p, const JobView& view) const;
  // Admission backpressure (jobs.admission_lag_ms): an error while the
  // oldest job accepted here is still being placed (queued and not waiting
  // for capacity, or placed and not yet running) after that long. A job
  // that waits for capacity counts too when the capacity it was refused is
  // held by other proposals' undecided reservations (an overloaded
  // federation, not a full one): without that, a backlog behind slow
  // decisions grew without a refusal.
  Status admission_open(Instant now);

  // Records.
  void apply_update(const JobView& view, std::int64_t wall_us);
  void fence_local(const Record& r, std::uint32_t newer_attempt);
  void persist(Record& r) {
    dirty_.insert(r.view.job_id);
    if (!job_state_is_final(r.view.state)) active_.insert(r.view.job_id);
    count_open(r);
  }
  // A record now "running" over the "placed" (or "running") of the same
  // attempt that is already on disk or on its way there: losing this write
  // in a power cut leaves "placed", which a restart treats exactly as
  // "running" (restore(): the executor reports the attempt lost, a holder
  // assumes a fresh lease). So it is written with the next write, kLazy
  // when nothing else needs an fsync, and no output waits for it.
  void persist_lazily(Record& r) {
    if (dirty_.count(r.view.job_id) == 0) lazy_.insert(r.view.job_id);
    active_.insert(r.view.job_id);
    count_open(r);
  }
  // The quota counters follow the records: every change of a record's state
  // is persisted, and persist() calls this, so open_by_origin_[o] is the
  // number of unfinished records of origin o (and open_by_client_[k] of
  // unfinished jobs submitted here by k) without a scan per submit or per
  // replicated record. `forget` = the record is about to be erased.
  void count_open(Record& r, bool forget = false);
  // The scan's check of those counters (tick, every kScanEvery): a drift is
  // a bug; it is logged, counted and repaired.
  void recount_open();
  void broadcast_update(const Record& r);
  std::vector<NodeId> holders(const Record& r) const;
  std::vector<NodeId> alive_peers() const;
  std::string node_name(const NodeId& id) const;
  // The member's gossiped record, opened (decoded, signature checked) once
  // per version: gossip hands out the same VerifiedRecord until a newer one
  // arrives, and opening one per submit, placement and log line was a fifth
  // of polderd's CPU under load (perf). Null when it does not open.
  const NodeRecord* opened_record(const NodeId& id, const std::shared_ptr<const gossip::VerifiedRecord>& record) const;
  JobMessage record_message(const Record& r) const;

  JobManagerDeps d_;
  scheduler::ReservationTable table_;
  LocalExecutor executor_;
  std::map<JobId, Record> jobs_;
  std::map<std::uint64_t, PendingRun> pending_runs_;
  std::set<JobId> cancelled_;  // executor side: cancel seen before the decision
  std::map<std::uint64_t, PendingClient> clients_;
  std::map<JobId, Lease> leases_;
  std::map<JobId, ExecLease> exec_leases_;
  std::map<std::uint64_t, Instant> rounds_;  // heartbeat round -> when it was sent (last lease_ms only)
  std::uint64_t next_round_ = 1;
  std::uint32_t fault_no_renew_attempt_ = 0;
  Instant last_heartbeat_;
  std::set<JobId> dirty_;
  std::set<JobId> lazy_;  // changed, to be written, but nothing waits for the write to be durable (persist_lazily)
  std::set<JobId> written_;  // handed to storage by write(), durable once release() is told so
  // Every job that may not be final (a superset: tick() drops the final
  // ones). Every record is persisted when it is created or changes state,
  // so the scans walk the open jobs, not every job the node ever held.
  std::set<JobId> active_;
  std::map<NodeId, std::uint64_t> open_by_origin_;  // unfinished records held here, per origin (peer_jobs_max)
  std::map<NodeId, std::uint64_t> open_by_client_;  // unfinished jobs submitted here, per key (client_jobs_max)
  struct OpenedRecord {
    std::shared_ptr<const gossip::VerifiedRecord> source;
    std::optional<NodeRecord> record;
  };
  mutable std::map<NodeId, OpenedRecord> opened_;  // bounded by the member table
  std::vector<PendingSubmit> submits_;
  // Origin: the jobs accepted here, oldest first, while admission is on;
  // admission_open() drops those no longer being placed from the front.
  // Bounded: no job is added while the front one is older than the lag,
  // so it holds at most the submits of one lag interval.
  std::deque<std::pair<Instant, JobId>> placing_;
  std::vector<std::pair<NodeId, JobMessage>> out_peer_;
  std::vector<std::pair<ClientRef, Payload>> out_client_;
  std::vector<ExecRequest> out_start_;
  std::uint64_t next_request_id_ = 1;
  bool capacity_changed_ = true;
  bool freed_ = false;  // capacity was released here since the last work-exchange round
  std::unique_ptr<WorkOffers> offers_;
  std::uint32_t waiting_count_ = 0;  // as of the last scan
  Instant oldest_waiting_since_;
  Instant last_scan_;
  Instant last_now_;
  JobCounters counters_;
};

}  // namespace polder::node
