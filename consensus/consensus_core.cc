#include "consensus/consensus_core.h"

#include <algorithm>
#include <charconv>
#include <cassert>
#include <cmath>
#include <string_view>
#include <type_traits>

namespace polder::consensus {
namespace {

// Messages to self are handled inline; a handful per instance touched, so
// this bound is only ever hit by a bug (a message loop).
constexpr std::size_t kLocalMessagesPerCallMax = 1 << 16;

std::int64_t min_timer(std::int64_t a, std::int64_t b) {
  if (a == kNoTimer) return b;
  if (b == kNoTimer) return a;
  return std::min(a, b);
}

bool parse_u64(std::string_view text, std::uint64_t& out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

// ---- options, events --------------------------------------------------------

Status validate_consensus_options(const ConsensusOptions& o) {
  if (o.rtt_us <= 0) return invalid_argument("consensus rtt_us must be positive");
  if (o.rtt_min_us <= 0 || o.rtt_min_us > o.rtt_us) {
    return invalid_argument("consensus rtt_min_us must be positive and at most rtt_us");
  }
  if (!(o.origin_grace_rtts >= 0)) return invalid_argument("consensus origin_grace_rtts must not be negative");
  if (!(o.phase_timeout_rtts > 0) || !(o.backoff_min_rtts > 0) || !(o.takeover_timeout_rtts > 0) ||
      !(o.announce_delay_rtts > 0) || !(o.announce_interval_max_rtts >= o.announce_delay_rtts)) {
    return invalid_argument("consensus timeouts must be positive, and announce_interval_max >= announce_delay");
  }
  if (o.backoff_doublings_max > 16) return invalid_argument("backoff_doublings_max must be at most 16");
  if (o.instances_max == 0) return invalid_argument("instances_max must be at least 1");
  if (o.retention_us < 0) return invalid_argument("retention_us must not be negative");
  if (o.compaction_delay_us < 0) return invalid_argument("compaction_delay_us must not be negative");
  if (o.timer_fires_per_tick_max == 0) return invalid_argument("timer_fires_per_tick_max must be at least 1");
  if (o.wire.max_message_bytes < 512) return invalid_argument("wire.max_message_bytes must be at least 512");
  return Status::ok();
}

RttEstimator::RttEstimator(std::int64_t initial_us, std::int64_t min_us, std::int64_t max_us, bool adaptive)
    : srtt_us_(static_cast<double>(initial_us)),
      rttvar_us_(0),
      min_us_(min_us),
      max_us_(max_us),
      adaptive_(adaptive),
      unit_us_(initial_us) {}

void RttEstimator::sample(std::int64_t phase_us) {
  if (!adaptive_ || phase_us < 0) return;
  backoff_ = 1;  // RFC 6298 5.7: a new measurement ends the timer backoff
  const double s = static_cast<double>(phase_us);
  if (samples_++ == 0) {
    srtt_us_ = s;
    rttvar_us_ = s / 2;
  } else {
    rttvar_us_ += (std::abs(s - srtt_us_) - rttvar_us_) / 4;
    srtt_us_ += (s - srtt_us_) / 8;
  }
  update_unit();
}

void RttEstimator::timed_out() {
  if (!adaptive_) return;
  // RFC 6298 5.5: back the timer off, not the estimate. Doubling srtt
  // itself (as before) outlived the stall that caused it: one 20 ms fsync
  // stall on a 2 ms path then took ~8 samples per doubling to forget, and
  // duels lost meanwhile backed off for 50-100 ms (real-process p99).
  backoff_ = std::min(backoff_ * 2, kBackoffMax);
  update_unit();
}

void RttEstimator::update_unit() {
  const double unit = (srtt_us_ + 2 * rttvar_us_) * backoff_;
  unit_us_ = std::clamp(static_cast<std::int64_t>(std::llround(unit)), min_us_, max_us_);
}

std::string format_chosen_detail(const InstanceKey& key, const Value& value) {
  std::string s = "job=" + key.job.hex() + " attempt=" + std::to_string(key.attempt.value) + " value=";
  s += value.is_run() ? "run:" + value.executor.hex() + ":" + std::to_string(value.reservation) : "cancel";
  if (value.names_next_replicas()) {
    s += " next=";
    for (std::size_t i = 0; i < value.next_replicas.size(); ++i) {
      if (i > 0) s += ",";
      s += value.next_replicas[i].hex();
    }
  }
  return s;
}

Result<ChosenEvent> parse_chosen_event(const CoreEvent& event) {
  if (event.kind != kChosenEventKind) return invalid_argument("not a chosen event: " + event.kind);
  ChosenEvent out;
  bool have_job = false, have_attempt = false, have_value = false;
  std::string_view rest = event.detail;
  std::uint64_t number = 0;
  for (int field = 0; !rest.empty() && field < 8; ++field) {  // bounded: 4 fields expected
    const std::size_t space = rest.find(' ');
    const std::string_view token = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    const std::size_t eq = token.find('=');
    if (eq == std::string_view::npos) return invalid_argument("chosen event field without '='");
    const std::string_view name = token.substr(0, eq), text = token.substr(eq + 1);
    if (name == "job") {
      auto job = JobId::from_hex(text);
      if (!job) return job.status();
      out.key.job = *job;
      have_job = true;
    } else if (name == "attempt") {
      if (!parse_u64(text, number) || number > UINT32_MAX) return invalid_argument("bad attempt in chosen event");
      out.key.attempt.value = static_cast<std::uint32_t>(number);
      have_attempt = true;
    } else if (name == "value" && text == "cancel") {
      out.value = Value::cancel();
      have_value = true;
    } else if (name == "value" && text.substr(0, 4) == "run:" && text.size() > 4 + 64 + 1) {
      auto executor = NodeId::from_hex(text.substr(4, 64));
      if (!executor) return executor.status();
      if (!parse_u64(text.substr(4 + 64 + 1), number)) return invalid_argument("bad reservation in chosen event");
      out.value = Value::run(*executor, number);
      have_value = true;
    } else if (name == "next") {
      ReplicaSet next;
      for (std::size_t i = 0; i < text.size() && next.size() <= kReplicasMax; i += 65) {
        auto id = NodeId::from_hex(text.substr(i, 64));
        if (!id) return id.status();
        next.push_back(*id);
      }
      out.value.next_replicas = std::move(next);
    } else {
      return invalid_argument("unknown chosen event field");
    }
  }
  if (!have_job || !have_attempt || !have_value) return invalid_argument("chosen event lacks job, attempt or value");
  return out;
}

// ---- construction and restore -----------------------------------------------

Result<std::unique_ptr<ConsensusCore>> ConsensusCore::create(const NodeId& self, const ConsensusOptions& options,
                                                             const DurableRecords& durable, std::uint64_t seed) {
  POLDER_RETURN_IF_ERROR(validate_consensus_options(options));
  if (self.is_zero()) return invalid_argument("consensus core needs a non-zero node id");
  auto core = std::make_unique<ConsensusCore>(ConstructionTag(), self, options, seed);
  POLDER_RETURN_IF_ERROR(core->restore(durable));
  return core;
}

ConsensusCore::ConsensusCore(ConstructionTag, const NodeId& self, const ConsensusOptions& options,
                             std::uint64_t seed)
    : self_(self),
      options_(options),
      rng_(seed),
      rtt_(options.rtt_us, options.rtt_min_us, options.rtt_us, options.rtt_adaptive) {}

Status ConsensusCore::restore(const DurableRecords& durable) {
  auto restore_spec = [&](const InstanceKey& key, const InstanceSpec& spec) -> Result<Instance*> {
    if (spec.key != key) return data_loss("consensus record " + key.to_string() + " holds another instance");
    auto [it, inserted] = instances_.try_emplace(key);
    if (!inserted && it->second.spec != spec) {
      return data_loss("consensus records of " + key.to_string() + " disagree on the replica set");
    }
    it->second.spec = spec;
    it->second.is_replica = is_member(spec.replicas, self_);
    return &it->second;
  };
  // Bounded by the number of records on disk.
  for (auto it = durable.lower_bound({kRecordColumn, std::string()});
       it != durable.end() && it->first.first == kRecordColumn; ++it) {
    auto parsed = parse_record_key(it->first.second);
    if (!parsed) return data_loss("consensus record key: " + parsed.status().message());
    const auto& [kind, key] = *parsed;
    const std::span<const std::uint8_t> bytes(it->second);
    if (kind == RecordKind::kAcceptor) {
      auto record = decode_acceptor_record(bytes);
      if (!record) return record.status();
      auto inst = restore_spec(key, record->spec);
      if (!inst) return inst.status();
      (*inst)->acceptor = AcceptorState{record->promised, record->accepted_ballot, record->accepted_value};
    } else if (kind == RecordKind::kProposer) {
      auto record = decode_proposer_record(bytes);
      if (!record) return record.status();
      auto inst = restore_spec(key, record->spec);
      if (!inst) return inst.status();
      (*inst)->proposer.restore(record->round_max, record->fast_value);
      (*inst)->has_proposer_record = true;
    } else {
      auto record = decode_decision_record(bytes);
      if (!record) return record.status();
      auto inst = restore_spec(key, record->spec);
      if (!inst) return inst.status();
      (*inst)->learner.learn(record->value);
      (*inst)->compacted = true;
    }
  }
  if (instances_.size() > options_.instances_max) {
    return resource_exhausted("disk holds " + std::to_string(instances_.size()) + " instances, instances_max is " +
                              std::to_string(options_.instances_max));
  }
  return Status::ok();
}

// Restored instances get their timers on the first call, when `now` is known:
// a replica holding an undecided accepted value will propose it, an origin
// resumes its own proposal, and replicas re-announce decisions to executors
// (whose acknowledgements were volatile).
void ConsensusCore::arm_restored() {
  for (auto& [key, inst] : instances_) {  // bounded by instances_max; once per life
    if (inst.decided()) {
      const Value& v = *inst.learner.chosen();
      if (inst.is_replica && v.is_run() && v.executor != self_) {
        inst.announcing = true;
        inst.announce_interval_us = rtts_us(options_.announce_delay_rtts);
        inst.announce_due_us = now_us_ + jittered_us(0.0, options_.announce_delay_rtts);
      }
    } else {
      if (inst.is_replica && inst.acceptor.accepted_value) {
        inst.takeover_due_us = now_us_ + jittered_us(options_.takeover_timeout_rtts, options_.takeover_timeout_rtts);
      }
      if (inst.proposer.fast_value()) {
        inst.proposer.set_own_value(*inst.proposer.fast_value());
        inst.proposer.back_off();
        inst.proposer_due_us = now_us_ + jittered_us(options_.backoff_min_rtts, options_.backoff_min_rtts);
      }
    }
    rearm(inst);
  }
}

// ---- call framing ---------------------------------------------------------------

void ConsensusCore::begin(Instant now) {
  assert(effects_.empty() && local_.empty() && dirty_.empty());
  now_us_ = std::max(now_us_, to_us(now));  // a host clock never runs backwards for us
  if (!restored_armed_) {
    restored_armed_ = true;
    arm_restored();
  }
  // What the previous call held back (start_prepare, start_accept): its
  // writes go in this call's persist, after that call's sends.
  for (const InstanceKey& key : deferred_spent_) {
    if (Instance* inst = find(key)) mark_proposer_dirty(*inst);
  }
  deferred_spent_.clear();
  // They were sent before anything this call brings, so they are handled first.
  for (Message& m : deferred_self_) local_.push_back(std::move(m));
  deferred_self_.clear();
  handle_local();
}

void ConsensusCore::handle_local() {
  for (std::size_t handled = 0; !local_.empty(); ++handled) {
    assert(handled < kLocalMessagesPerCallMax && "messages to self keep breeding: a loop in the core");
    if (handled >= kLocalMessagesPerCallMax) {
      local_.clear();
      break;
    }
    const Message message = std::move(local_.front());
    local_.pop_front();
    handle(self_, message);
  }
}

Effects ConsensusCore::finish() {
  handle_local();
  for (const InstanceKey& key : dirty_) {  // persist, then send: records go in this same Effects
    Instance* inst = find(key);
    assert(inst);
    if (inst->acceptor_dirty) {
      assert(!inst->compacted && "a decided acceptor never changes");
      const AcceptorRecord record{inst->spec, inst->acceptor.promised, inst->acceptor.accepted_ballot,
                                  inst->acceptor.accepted_value};
      effects_.persist.push_back({kRecordColumn, record_key(RecordKind::kAcceptor, key), encode_record(record), false});
      inst->acceptor_dirty = false;
    }
    if (inst->proposer_dirty) {
      const ProposerRecord record{inst->spec, inst->proposer.round_max(), inst->proposer.fast_value()};
      effects_.persist.push_back({kRecordColumn, record_key(RecordKind::kProposer, key), encode_record(record), false});
      inst->proposer_dirty = false;
      inst->has_proposer_record = true;
    }
  }
  dirty_.clear();
  if (!effects_.persist.empty()) {  // same batch, same fsync: free
    compact_due(/*all=*/true);
    forget_due();
  }
  std::int64_t wake = timers_.empty() ? kNoTimer : timers_.begin()->first;
  if (!compaction_queue_.empty()) wake = min_timer(wake, compaction_queue_.front().first);
  if (!forget_queue_.empty()) wake = min_timer(wake, forget_queue_.front().first + options_.compaction_delay_us);
  if (!deferred_self_.empty() || !deferred_spent_.empty()) wake = now_us_;  // the next call handles them: tick at once
  if (wake != kNoTimer) effects_.wake_at = instant_from_us(std::max(wake, now_us_));
  return std::exchange(effects_, Effects{});
}

// ---- public entry points ---------------------------------------------------------

Effects ConsensusCore::receive(const NodeId& from, std::span<const std::uint8_t> bytes, Instant now) {
  begin(now);
  // A batch is handled as its messages one by one, in one call: their
  // records go in one persist, before any of their replies (wire.h).
  auto messages = decode_messages(bytes, options_.wire);
  if (!messages) {
    ++counters_.malformed_dropped;  // peer input: counted, dropped, nothing else changes
    return finish();
  }
  for (const auto& message : *messages) {
    if (!message) {
      ++counters_.malformed_dropped;
    } else {
      handle(from, *message);
    }
  }
  return finish();
}

Effects ConsensusCore::tick(Instant now) {
  begin(now);
  compact_due(/*all=*/false);
  // Erasing a forgotten job needs no write of its own either: it rides the
  // next persist (finish()), or goes alone once it is compaction_delay_us
  // late. (On a node deciding one instance at a time, one erase write per
  // decision, each an fsync on the event loop, was half of all its writes,
  // and the next Accept to arrive waited behind it.)
  if (!forget_queue_.empty() && forget_queue_.front().first + options_.compaction_delay_us <= now_us_) forget_due();
  for (std::size_t fired = 0; fired < options_.timer_fires_per_tick_max; ++fired) {
    if (timers_.empty() || timers_.begin()->first > now_us_) break;
    const InstanceKey key = timers_.begin()->second;
    timers_.erase(timers_.begin());
    Instance* inst = find(key);
    assert(inst && "a timer outlived its instance");
    inst->timer_us = kNoTimer;
    fire_timers(*inst);
  }
  return finish();
}

Result<Effects> ConsensusCore::propose(const InstanceSpec& spec, const Value& value, Instant now) {
  POLDER_RETURN_IF_ERROR(validate_instance_spec(spec));
  POLDER_RETURN_IF_ERROR(validate_value(value));
  if (!is_member(spec.replicas, self_) && spec.origin != self_) {
    return failed_precondition("only a replica or the origin may propose for " + spec.key.to_string());
  }
  // Refused before begin(): a call that fails returns no Effects, so it
  // must not handle anything (held-back messages to self, restored timers).
  POLDER_RETURN_IF_ERROR(admits(spec));
  begin(now);
  Instance* inst = instance_for(spec);
  assert(inst != nullptr && "admits() said yes");
  if (inst->decided()) {
    effects_.events.push_back({kChosenEventKind, format_chosen_detail(spec.key, *inst->learner.chosen())});
  } else if (!inst->proposer.active()) {
    inst->proposer.set_own_value(value);
    if (spec.origin == self_ && inst->proposer.can_use_fast()) {
      inst->proposer.start_fast(spec.origin);
      mark_proposer_dirty(*inst);  // ballot 0 is spent, with this value, before the Accept leaves
      ++counters_.fast_proposals;
      start_accept(*inst);
    } else if (spec.origin != self_ && options_.origin_grace_rtts > 0 && inst->proposer.ballots_tried() == 0) {
      // The origin's fast ballot first (ConsensusOptions::origin_grace_rtts):
      // phase 1 starts when the timer fires, unless the decision came first.
      inst->proposer.defer();
      ++counters_.origin_graces;
      const double grace = options_.origin_grace_rtts;
      inst->proposer_due_us = std::max(now_us_ + jittered_us(grace, grace / 4), inst->yield_until_us);
      rearm(*inst);
    } else {
      start_prepare(*inst);
    }
  }
  return finish();
}

Result<Effects> ConsensusCore::query(const InstanceSpec& spec, Instant now) {
  POLDER_RETURN_IF_ERROR(validate_instance_spec(spec));
  // Refused before begin(): a call that fails returns no Effects, so it
  // must not handle anything (held-back messages to self, restored timers).
  POLDER_RETURN_IF_ERROR(admits(spec));
  begin(now);
  Instance* inst = instance_for(spec);
  assert(inst != nullptr && "admits() said yes");
  if (inst->decided()) {
    effects_.events.push_back({kChosenEventKind, format_chosen_detail(spec.key, *inst->learner.chosen())});
  } else if (!inst->querying) {
    inst->querying = true;
    inst->query_interval_us = rtts_us(2.0);
    inst->query_due_us = now_us_;
    fire_timers(*inst);
  }
  return finish();
}

Effects ConsensusCore::forget(const JobId& job, Instant now) {
  begin(now);
  if (forget_queue_.size() < options_.instances_max) forget_queue_.emplace_back(now_us_ + options_.retention_us, job);
  return finish();
}

std::optional<Value> ConsensusCore::chosen(const InstanceKey& key) const {
  const Instance* inst = instance(key);
  return inst ? inst->learner.chosen() : std::nullopt;
}

const Instance* ConsensusCore::instance(const InstanceKey& key) const {
  auto it = instances_.find(key);
  return it == instances_.end() ? nullptr : &it->second;
}

// ---- handlers ------------------------------------------------------------------

void ConsensusCore::handle(const NodeId& from, const Message& message) {
  ++counters_.messages_received;
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, Prepare>) on_prepare(from, m);
        else if constexpr (std::is_same_v<M, Promise>) on_promise(from, m);
        else if constexpr (std::is_same_v<M, Accept>) on_accept(from, m);
        else if constexpr (std::is_same_v<M, Accepted>) on_accepted(from, m);
        else if constexpr (std::is_same_v<M, Reject>) on_reject(from, m);
        else if constexpr (std::is_same_v<M, Chosen>) on_chosen(from, m);
        else if constexpr (std::is_same_v<M, ChosenAck>) on_chosen_ack(from, m);
        else on_query(from, m);
      },
      message);
}

void ConsensusCore::on_prepare(const NodeId& from, const Prepare& m) {
  if (m.ballot.is_fast() || m.ballot.node != from) {
    ++counters_.bad_ballot_ignored;
    return;
  }
  Instance* inst = instance_to_vote_in(from, m.spec);
  if (inst == nullptr) return;
  const AcceptorStep step = Acceptor::on_prepare(inst->acceptor, m.ballot);
  if (step.changed) mark_acceptor_dirty(*inst);
  if (step.reply == AcceptorStep::Reply::kPromise) {
    send(from, Acceptor::promise_for(m.spec.key, m.ballot, inst->acceptor));
  } else if (step.reply == AcceptorStep::Reply::kReject) {
    send(from, Reject{m.spec.key, m.ballot, step.promised});
  }
  if (step.reply == AcceptorStep::Reply::kPromise) yield_to(*inst, m.ballot);
  inst->proposer.observe_round(m.ballot.round);
  // Someone is driving the instance: a replica's takeover waits.
  if (inst->acceptor.accepted_value && !inst->proposer.active()) {
    inst->takeover_due_us = now_us_ + jittered_us(options_.takeover_timeout_rtts, options_.takeover_timeout_rtts);
  }
  rearm(*inst);
}

void ConsensusCore::on_accept(const NodeId& from, const Accept& m) {
  if (m.ballot.node != from) {
    ++counters_.bad_ballot_ignored;
    return;
  }
  Instance* inst = instance_to_vote_in(from, m.spec);
  if (inst == nullptr) return;
  const AcceptorStep step = Acceptor::on_accept(inst->acceptor, m.ballot, m.value, from == m.spec.origin, m.spec.origin);
  if (step.changed) mark_acceptor_dirty(*inst);
  if (step.reply == AcceptorStep::Reply::kAccepted) {
    send(from, Accepted{m.spec.key, m.ballot});
    if (m.ballot.is_fast() && from == self_) {
      // The origin's own accept of its fast ballot goes to every replica
      // too, in the same flush as its Accept (after this call's write): a
      // replica that accepts the Accept then holds a majority of three.
      for (const NodeId& r : inst->spec.replicas) {
        if (r != self_) send(r, Accepted{m.spec.key, m.ballot});
      }
    }
    yield_to(*inst, m.ballot);
  } else if (step.reply == AcceptorStep::Reply::kReject) {
    send(from, Reject{m.spec.key, m.ballot, step.promised});
  } else {
    ++counters_.bad_ballot_ignored;
  }
  inst->proposer.observe_round(m.ballot.round);
  if (inst->acceptor.accepted_value && !inst->proposer.active()) {
    inst->takeover_due_us = now_us_ + jittered_us(options_.takeover_timeout_rtts, options_.takeover_timeout_rtts);
  }
  if (step.reply == AcceptorStep::Reply::kAccepted && m.ballot.is_fast()) learn_fast(*inst);
  rearm(*inst);
}

// The instance a Prepare or Accept from `from` asks this node to vote in,
// or nullptr: the sender must be a replica or the origin, this node a
// replica (counted otherwise); a decided instance answers with its value.
Instance* ConsensusCore::instance_to_vote_in(const NodeId& from, const InstanceSpec& spec) {
  if ((!is_member(spec.replicas, from) && from != spec.origin) || !is_member(spec.replicas, self_)) {
    ++counters_.non_member_ignored;
    return nullptr;
  }
  Instance* inst = instance_for(spec);
  if (inst == nullptr) return nullptr;
  if (inst->decided()) {
    send(from, Chosen{inst->spec, *inst->learner.chosen()});
    return nullptr;
  }
  return inst;
}

// The undecided instance `key` when `from` is one of its replicas: only
// they vote (DESIGN.md invariant 5). Counts why a message is ignored.
Instance* ConsensusCore::undecided_from_member(const InstanceKey& key, const NodeId& from) {
  Instance* inst = find(key);
  if (inst == nullptr) {
    ++counters_.unknown_instance_ignored;
    return nullptr;
  }
  if (!is_member(inst->spec.replicas, from)) {
    ++counters_.non_member_ignored;
    return nullptr;
  }
  return inst->decided() ? nullptr : inst;
}

void ConsensusCore::on_promise(const NodeId& from, const Promise& m) {
  Instance* inst = undecided_from_member(m.key, from);
  if (inst == nullptr) return;
  if (inst->proposer.on_promise(inst->spec.replicas, from, m)) {
    sample_phase(*inst);
    start_accept(*inst);
  }
}

void ConsensusCore::on_accepted(const NodeId& from, const Accepted& m) {
  Instance* inst = undecided_from_member(m.key, from);
  if (inst == nullptr) return;
  if (inst->proposer.on_accepted(inst->spec.replicas, from, m)) {
    sample_phase(*inst);
    const Value value = inst->proposer.value();
    decide(*inst, value, /*first_hand=*/true);
    return;
  }
  if (from != self_ && m.ballot == Ballot::fast(inst->spec.origin)) {
    inst->fast_accepted.add(inst->spec.replicas, from);
    learn_fast(*inst);
  }
}

// A value is chosen once a majority accepted one ballot (Paxos): this
// replica accepted the origin's fast ballot and enough other replicas said
// they did too. Its own accept is durable before the event leaves (it is
// this call's write or an earlier one's; effects apply in order), the
// others' were before their Accepted left, and ballot 0 carries one value
// (the origin's record). Only timing: the announcement comes anyway.
void ConsensusCore::learn_fast(Instance& inst) {
  if (inst.decided() || !inst.is_replica || !inst.acceptor.accepted_ballot ||
      *inst.acceptor.accepted_ballot != Ballot::fast(inst.spec.origin)) {
    return;
  }
  if (inst.fast_accepted.count() + 1 < majority(inst.spec.replicas.size())) return;
  ++counters_.learned_fast;
  // The origin announces, as when its proposer sees the majority (its
  // proposer may have moved on from ballot 0); any other replica does not.
  decide(inst, *inst.acceptor.accepted_value, /*first_hand=*/inst.spec.origin == self_);
}

void ConsensusCore::on_reject(const NodeId& from, const Reject& m) {
  Instance* inst = undecided_from_member(m.key, from);
  if (inst == nullptr) return;
  if (m.ballot == inst->proposer.ballot()) yield_to(*inst, m.promised);
  if (inst->proposer.on_reject(inst->spec.replicas, from, m)) back_off(*inst);
}

void ConsensusCore::on_chosen(const NodeId& from, const Chosen& m) {
  if (!is_member(m.spec.replicas, from) && from != m.spec.origin) {
    ++counters_.non_member_ignored;
    return;
  }
  Instance* inst = instance_for(m.spec);
  if (inst == nullptr) return;
  const bool known = inst->decided();
  decide(*inst, m.value, /*first_hand=*/false);
  // decide() acknowledged to the replicas; the announcer may be the origin
  // (not a replica), and a repeated announcement means our ack was lost.
  const bool executor = m.value.is_run() && m.value.executor == self_ && inst->learner.chosen() == m.value;
  if (executor && (known || !is_member(m.spec.replicas, from))) send(from, ChosenAck{m.spec.key});
}

void ConsensusCore::on_chosen_ack(const NodeId& from, const ChosenAck& m) {
  Instance* inst = find(m.key);
  if (inst == nullptr || !inst->decided()) return;
  const Value& v = *inst->learner.chosen();
  if (!v.is_run() || v.executor != from) {
    ++counters_.non_member_ignored;
    return;
  }
  inst->executor_acked = true;
  inst->announcing = false;
  inst->announce_due_us = kNoTimer;
  rearm(*inst);
}

void ConsensusCore::on_query(const NodeId& from, const Query& m) {
  Instance* inst = find(m.spec.key);
  if (inst != nullptr && inst->decided()) send(from, Chosen{inst->spec, *inst->learner.chosen()});
}

// ---- roles in action ----------------------------------------------------------------

// The Prepare leaves before the round is durable: its record (and our own
// acceptor's promise) is written by the next call, so the other acceptors'
// fsyncs run while ours does. That is safe because a round binds a value
// only in phase 2: every Accept at this ballot is sent by a later call
// than that write (a majority needs a Promise from another node, which
// arrives in a later call; a replica set of one promises in the next call
// itself), and effects apply in call order. A crash before the write may
// let the restarted proposer use the same round again — for a Prepare only,
// since no Accept of it ever left, so one ballot still carries one value.
void ConsensusCore::start_prepare(Instance& inst) {
  if (inst.acceptor.promised) inst.proposer.observe_round(inst.acceptor.promised->round);
  const Ballot ballot = inst.proposer.start_prepare(self_);
  deferred_spent_.push_back(inst.spec.key);
  ++counters_.prepares_started;
  inst.proposer_due_us = now_us_ + rtts_us(options_.phase_timeout_rtts);
  inst.phase_started_us = now_us_;
  inst.takeover_due_us = kNoTimer;
  rearm(inst);
  Prepare prepare{inst.spec, ballot};
  for (const NodeId& r : inst.spec.replicas) {
    if (r != self_) send(r, prepare);
  }
  if (inst.is_replica) deferred_self_.push_back(std::move(prepare));
}

void ConsensusCore::start_accept(Instance& inst) {
  inst.proposer_due_us = now_us_ + rtts_us(options_.phase_timeout_rtts);
  inst.phase_started_us = now_us_;
  inst.takeover_due_us = kNoTimer;
  rearm(inst);
  Accept accept{inst.spec, inst.proposer.ballot(), inst.proposer.value()};
  if (inst.proposer.ballot().is_fast() || !inst.is_replica) {
    send_to_replicas(inst, accept);  // ballot 0's record is written before any Accept leaves anyway
    return;
  }
  // After phase 1 nothing of the proposer must be durable before its
  // Accepts leave (the round is on disk since the Prepare). Our own
  // acceptor takes the Accept in the next call, so the other acceptors'
  // fsyncs run while ours does instead of after it: one durable write
  // less on the way to the decision. Its Accepted still counts only once
  // its write is done (that call's effects wait for it, FIFO).
  for (const NodeId& r : inst.spec.replicas) {
    if (r != self_) send(r, accept);
  }
  deferred_self_.push_back(std::move(accept));
}

// A phase timed out with no acceptor refusing it: the Prepare or Accept
// goes again, at the same ballot, to the replicas that did not answer.
// Both are idempotent at an acceptor (a duplicate Prepare promises again,
// a duplicate Accept of the same value is acknowledged again), and the
// replies already counted still count. The timer backs off with the
// estimator (timed_out()), so a cut-off proposer sends ever less often.
void ConsensusCore::retransmit(Instance& inst) {
  assert(inst.proposer.phase() == Proposer::Phase::kPreparing || inst.proposer.phase() == Proposer::Phase::kAccepting);
  inst.proposer_due_us = now_us_ + rtts_us(options_.phase_timeout_rtts);
  inst.phase_started_us = kNoTimer;  // Karn: a retransmitted phase is no RTT sample
  ++counters_.retransmissions;
  rearm(inst);
  Message message = inst.proposer.phase() == Proposer::Phase::kPreparing
                        ? Message(Prepare{inst.spec, inst.proposer.ballot()})
                        : Message(Accept{inst.spec, inst.proposer.ballot(), inst.proposer.value()});
  for (const NodeId& r : inst.spec.replicas) {
    if (!inst.proposer.answered(r)) send(r, message);
  }
}

void ConsensusCore::sample_phase(Instance& inst) {
  if (inst.phase_started_us != kNoTimer) rtt_.sample(now_us_ - inst.phase_started_us);
  inst.phase_started_us = kNoTimer;
}

// Duels: a proposer that sees another's higher ballot (its own acceptor
// promised or accepted it, or an acceptor rejected ours for it) does not
// retry for a phase timeout, and meanwhile learns the winner's decision
// from its announcement. Ballots are totally ordered, so of two proposers
// only the lower yields; the highest runs on. Only timing changes: safety
// never depends on it, and if the winner dies the yielder resumes.
void ConsensusCore::yield_to(Instance& inst, const Ballot& seen) {
  if (seen.node == self_ || !inst.proposer.active() || !(inst.proposer.ballot() < seen) || inst.decided()) return;
  const std::int64_t until = now_us_ + jittered_us(options_.phase_timeout_rtts, 1.0);
  inst.yield_until_us = std::max(inst.yield_until_us, until);
  if (inst.proposer.phase() == Proposer::Phase::kBackoff) {
    inst.proposer_due_us = std::max(inst.proposer_due_us, inst.yield_until_us);
    rearm(inst);
  }
}

void ConsensusCore::back_off(Instance& inst) {
  inst.phase_started_us = kNoTimer;
  inst.proposer.back_off();
  const std::uint32_t doublings = std::min(inst.proposer.failures() - 1, options_.backoff_doublings_max);
  const double base = options_.backoff_min_rtts * static_cast<double>(1U << doublings);
  inst.proposer_due_us = std::max(now_us_ + jittered_us(base, base), inst.yield_until_us);
  rearm(inst);
}

void ConsensusCore::decide(Instance& inst, const Value& value, bool first_hand) {
  const Learner::Learn learned = inst.learner.learn(value);
  if (learned == Learner::Learn::kConflict) {
    ++counters_.conflicting_chosen;  // never adopted; the simulator's agreement checker reports it
    return;
  }
  if (learned == Learner::Learn::kSame) return;
  ++counters_.decided;
  effects_.events.push_back({kChosenEventKind, format_chosen_detail(inst.spec.key, value)});
  inst.proposer.stop();
  inst.proposer_due_us = kNoTimer;
  inst.takeover_due_us = kNoTimer;
  inst.querying = false;
  inst.query_due_us = kNoTimer;
  if (inst.is_replica || inst.has_proposer_record || inst.proposer_dirty) queue_compaction(inst);

  if (first_hand) {  // the learner that saw the majority tells everyone once
    for (const NodeId& r : inst.spec.replicas) {
      if (r != self_) send(r, Chosen{inst.spec, value});
    }
    const bool origin_told = inst.spec.origin == self_ || is_member(inst.spec.replicas, inst.spec.origin);
    const bool origin_is_executor = value.is_run() && value.executor == inst.spec.origin;
    if (!origin_told && !origin_is_executor) send(inst.spec.origin, Chosen{inst.spec, value});
  }
  if (value.is_run() && value.executor == self_) {
    inst.executor_acked = true;
    for (const NodeId& r : inst.spec.replicas) {
      if (r != self_) send(r, ChosenAck{inst.spec.key});
    }
  } else if (value.is_run() && !inst.executor_acked && (first_hand || inst.is_replica)) {
    // The executor must learn it to start: retried until it acknowledges.
    // The first-hand learner sends now; the other replicas back it up later.
    inst.announcing = true;
    inst.announce_interval_us = rtts_us(options_.announce_delay_rtts);
    const bool executor_told_already = is_member(inst.spec.replicas, value.executor);
    if (first_hand && !executor_told_already) {
      announce(inst);
    } else {
      inst.announce_due_us = now_us_ + jittered_us(options_.announce_delay_rtts, options_.announce_delay_rtts);
    }
  }
  rearm(inst);
}

void ConsensusCore::announce(Instance& inst) {
  const Value& value = *inst.learner.chosen();
  assert(value.is_run());
  ++counters_.announcements;
  send(value.executor, Chosen{inst.spec, value});
  inst.announce_due_us = now_us_ + inst.announce_interval_us;
  inst.announce_interval_us =
      std::min(inst.announce_interval_us * 2, rtts_us(options_.announce_interval_max_rtts));
}

void ConsensusCore::fire_timers(Instance& inst) {
  if (inst.proposer_due_us != kNoTimer && inst.proposer_due_us <= now_us_) {
    inst.proposer_due_us = kNoTimer;
    if (!inst.decided()) {
      if (inst.proposer.phase() == Proposer::Phase::kBackoff) {
        start_prepare(inst);
      } else if (inst.proposer.active()) {
        rtt_.timed_out();
        inst.phase_started_us = kNoTimer;
        if (inst.proposer.rejected()) {
          back_off(inst);  // someone promised higher: only a new round can win
        } else {
          retransmit(inst);  // lost or slow messages: the same ballot still can
        }
      }
    }
  }
  if (inst.takeover_due_us != kNoTimer && inst.takeover_due_us <= now_us_) {
    inst.takeover_due_us = kNoTimer;
    if (!inst.decided() && inst.is_replica && inst.acceptor.accepted_value && !inst.proposer.active()) {
      // The proposer of the value we accepted went quiet: finish its work.
      // Proposing the accepted value keeps validity (it was proposed).
      inst.proposer.set_own_value(*inst.acceptor.accepted_value);
      ++counters_.takeovers;
      start_prepare(inst);
    }
  }
  if (inst.announce_due_us != kNoTimer && inst.announce_due_us <= now_us_) {
    inst.announce_due_us = kNoTimer;
    if (inst.announcing && !inst.executor_acked && inst.decided()) announce(inst);
  }
  if (inst.query_due_us != kNoTimer && inst.query_due_us <= now_us_) {
    inst.query_due_us = kNoTimer;
    if (inst.querying && !inst.decided()) {
      for (const NodeId& r : inst.spec.replicas) {
        if (r != self_) send(r, Query{inst.spec});
      }
      inst.query_due_us = now_us_ + inst.query_interval_us;
      inst.query_interval_us = std::min(inst.query_interval_us * 2, rtts_us(options_.announce_interval_max_rtts));
    }
  }
  rearm(inst);
}

// ---- instances, timers, records ------------------------------------------------------

Instance* ConsensusCore::find(const InstanceKey& key) {
  auto it = instances_.find(key);
  return it == instances_.end() ? nullptr : &it->second;
}

Status ConsensusCore::admits(const InstanceSpec& spec) {
  const Instance* known = find(spec.key);
  if (known != nullptr ? known->spec == spec : instances_.size() < options_.instances_max) return Status::ok();
  ++(known != nullptr ? counters_.spec_mismatch_ignored : counters_.full_refused);
  return failed_precondition("instance " + spec.key.to_string() +
                             " runs with another replica set or origin, or the core is full");
}

Instance* ConsensusCore::instance_for(const InstanceSpec& spec) {
  auto it = instances_.find(spec.key);
  if (it != instances_.end()) {
    if (it->second.spec != spec) {
      ++counters_.spec_mismatch_ignored;  // a replica set is fixed per instance
      return nullptr;
    }
    return &it->second;
  }
  if (instances_.size() >= options_.instances_max) {
    ++counters_.full_refused;
    return nullptr;
  }
  Instance& inst = instances_[spec.key];
  inst.spec = spec;
  inst.is_replica = is_member(spec.replicas, self_);
  return &inst;
}

void ConsensusCore::rearm(Instance& inst) {
  std::int64_t due = min_timer(min_timer(inst.proposer_due_us, inst.takeover_due_us),
                               min_timer(inst.announce_due_us, inst.query_due_us));
  if (due == inst.timer_us) return;
  if (inst.timer_us != kNoTimer) timers_.erase({inst.timer_us, inst.spec.key});
  inst.timer_us = due;
  if (due != kNoTimer) timers_.insert({due, inst.spec.key});
}

void ConsensusCore::mark_acceptor_dirty(Instance& inst) {
  if (!inst.acceptor_dirty && !inst.proposer_dirty) dirty_.push_back(inst.spec.key);
  inst.acceptor_dirty = true;
}

void ConsensusCore::mark_proposer_dirty(Instance& inst) {
  if (!inst.acceptor_dirty && !inst.proposer_dirty) dirty_.push_back(inst.spec.key);
  inst.proposer_dirty = true;
}

void ConsensusCore::queue_compaction(Instance& inst) {
  if (inst.compacted || inst.compaction_queued) return;
  inst.compaction_queued = true;
  compaction_queue_.emplace_back(now_us_ + options_.compaction_delay_us, inst.spec.key);
}

// A decided instance shrinks to one decision record, written off the
// critical path (the chosen event does not wait for it): until then the
// acceptor and proposer records still hold everything a restart needs.
void ConsensusCore::compact_due(bool all) {
  // Bounded by instances_max; FIFO with one delay, so due entries lead.
  while (!compaction_queue_.empty() && (all || compaction_queue_.front().first <= now_us_)) {
    const InstanceKey key = compaction_queue_.front().second;
    compaction_queue_.pop_front();
    Instance* inst = find(key);
    if (inst == nullptr || inst->compacted) continue;
    inst->compaction_queued = false;
    inst->compacted = true;
    effects_.persist.push_back({kRecordColumn, record_key(RecordKind::kDecision, key),
                                encode_record(DecisionRecord{inst->spec, *inst->learner.chosen()}), false});
    if (inst->is_replica) effects_.persist.push_back({kRecordColumn, record_key(RecordKind::kAcceptor, key), {}, true});
    if (inst->has_proposer_record) {
      effects_.persist.push_back({kRecordColumn, record_key(RecordKind::kProposer, key), {}, true});
    }
  }
}

void ConsensusCore::forget_due() {
  while (!forget_queue_.empty() && forget_queue_.front().first <= now_us_) {  // bounded by the queue
    const JobId job = forget_queue_.front().second;
    forget_queue_.pop_front();
    auto it = instances_.lower_bound(InstanceKey{job, Attempt{0}});
    while (it != instances_.end() && it->first.job == job) {  // bounded by the job's attempts
      for (RecordKind kind : {RecordKind::kAcceptor, RecordKind::kProposer, RecordKind::kDecision}) {
        effects_.persist.push_back({kRecordColumn, record_key(kind, it->first), {}, true});
      }
      ++counters_.instances_forgotten;
      erase_instance(it++);
    }
  }
}

void ConsensusCore::erase_instance(std::map<InstanceKey, Instance>::iterator it) {
  if (it->second.timer_us != kNoTimer) timers_.erase({it->second.timer_us, it->first});
  instances_.erase(it);
}

// ---- output --------------------------------------------------------------------------

void ConsensusCore::send(const NodeId& to, Message message) {
  if (to == self_) {
    local_.push_back(std::move(message));
    return;
  }
  effects_.send.push_back(OutMessage{to, encode_message(message)});
}

void ConsensusCore::send_to_replicas(const Instance& inst, const Message& message) {
  for (const NodeId& r : inst.spec.replicas) send(r, message);
}

std::int64_t ConsensusCore::rtts_us(double rtts) const {
  return static_cast<std::int64_t>(std::llround(rtts * static_cast<double>(rtt_.unit_us())));
}

std::int64_t ConsensusCore::jittered_us(double rtts_min, double rtts_spread) {
  const std::int64_t spread = rtts_us(rtts_spread);
  return rtts_us(rtts_min) + (spread > 0 ? static_cast<std::int64_t>(rng_.uniform(static_cast<std::uint64_t>(spread))) : 0);
}

}  // namespace polder::consensus
