#include "protocol/codec.h"
#include "protocol/revocation.h"
#include "protocol/invitation.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/debug.h>
#include <kj/exception.h>

#include <cstring>
#include <exception>
#include <string>

#include "protocol/polder.capnp.h"

namespace polder {
namespace {

// ---- helpers: plain value <-> Cap'n Proto --------------------------------

capnp::Data::Reader as_data(std::span<const std::uint8_t> bytes) {
  return capnp::Data::Reader(bytes.data(), bytes.size());
}

Bytes to_bytes(capnp::Data::Reader data) { return Bytes(data.begin(), data.end()); }

// Cap'n Proto Text is NUL-terminated with no NUL inside. A peer's text with
// one inside would change on re-encoding (setters stop at the first NUL),
// so a job's id would not be the hash of the spec the node holds, and every
// C API it reaches (execve, a log) would see less than was checked. Refused
// like any malformed message: read_message() turns the throw into a Status.
std::string to_string(capnp::Text::Reader text) {
  KJ_REQUIRE(std::memchr(text.begin(), '\0', text.size()) == nullptr, "text field contains a NUL byte");
  return std::string(text.cStr(), text.size());
}

Result<NodeId> to_node_id(capnp::Data::Reader data, const char* field) {
  auto id = NodeId::from_bytes(std::span<const std::uint8_t>(data.begin(), data.size()));
  if (!id) return invalid_argument(std::string(field) + ": " + id.status().message());
  return *id;
}

template <typename Builder>
void set_text_list(Builder builder, const std::vector<std::string>& items) {
  for (unsigned i = 0; i < items.size(); ++i) builder.set(i, items[i]);
}

std::vector<std::string> text_list(capnp::List<capnp::Text>::Reader list) {
  std::vector<std::string> out;
  out.reserve(list.size());
  for (auto t : list) out.push_back(to_string(t));
  return out;
}

void set_key_values(capnp::List<wire::KeyValue>::Builder builder, const std::vector<KeyValue>& items) {
  for (unsigned i = 0; i < items.size(); ++i) {
    builder[i].setKey(items[i].key);
    builder[i].setValue(items[i].value);
  }
}

std::vector<KeyValue> key_values(capnp::List<wire::KeyValue>::Reader list) {
  std::vector<KeyValue> out;
  out.reserve(list.size());
  for (auto kv : list) out.push_back({to_string(kv.getKey()), to_string(kv.getValue())});
  return out;
}

Result<Bytes> finish(capnp::MessageBuilder& message, const CodecLimits& limits) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  if (bytes.size() > limits.max_message_bytes) {
    return resource_exhausted("message of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                              std::to_string(limits.max_message_bytes) + " bytes");
  }
  return Bytes(bytes.begin(), bytes.end());
}

// Runs `read(reader)` over `bytes` as a Cap'n Proto message of root type
// Root, enforcing the limits and turning every exception into a Status.
template <typename Root, typename T, typename Read>
Result<T> read_message(std::span<const std::uint8_t> bytes, const CodecLimits& limits, const char* what, Read read) {
  if (bytes.size() > limits.max_message_bytes) {
    return resource_exhausted(std::string(what) + " of " + std::to_string(bytes.size()) +
                              " bytes exceeds the limit of " + std::to_string(limits.max_message_bytes) + " bytes");
  }
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
    return invalid_argument(std::string(what) + " is truncated or not word-aligned (" + std::to_string(bytes.size()) +
                            " bytes)");
  }
  // Copy into word-aligned memory: the transport's buffers carry no alignment.
  auto words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), bytes.data(), bytes.size());
  capnp::ReaderOptions options;
  options.nestingLimit = limits.nesting_limit;
  options.traversalLimitInWords =
      limits.traversal_limit_words != 0 ? limits.traversal_limit_words : 2 * words.size() + 64;
  try {
    capnp::FlatArrayMessageReader reader(words.asPtr(), options);
    if (reader.getEnd() != words.end()) {
      return invalid_argument(std::string(what) + " has trailing bytes after the message");
    }
    return read(reader.getRoot<Root>());
  } catch (const kj::Exception& e) {
    return invalid_argument(std::string("malformed ") + what + ": " + e.getDescription().cStr());
  } catch (const std::exception& e) {
    return invalid_argument(std::string("malformed ") + what + ": " + e.what());
  }
}

// ---- accelerator lists (node records, work offers) ------------------------

void put_accelerators(capnp::List<wire::Accelerator>::Builder out, const std::vector<Accelerator>& in) {
  for (unsigned i = 0; i < in.size(); ++i) {
    out[i].setType(in[i].type);
    out[i].setTotal(in[i].total);
    out[i].setFree(in[i].free);
  }
}

// `what` names the list in the error: "<what><type> has more free than total".
Status get_accelerators(capnp::List<wire::Accelerator>::Reader in, const std::string& what,
                        std::vector<Accelerator>& out) {
  for (auto a : in) {
    if (a.getFree() > a.getTotal()) {
      return invalid_argument(what + to_string(a.getType()) + " has more free than total");
    }
    out.push_back({to_string(a.getType()), a.getTotal(), a.getFree()});
  }
  return Status::ok();
}

// ---- node record ----------------------------------------------------------

void build_node_record(wire::NodeRecord::Builder b, const NodeRecord& r) {
  b.setNodeId(as_data(r.node_id.span()));
  b.setIncarnation(r.incarnation);
  b.setSequence(r.sequence);
  b.setName(r.name);
  b.setOperator(r.operator_name);
  b.setRegion(r.region);
  b.setAddress(r.address);
  put_accelerators(b.initAccelerators(static_cast<unsigned>(r.accelerators.size())), r.accelerators);
  b.setCpus(r.cpus);
  b.setMemoryBytes(r.memory_bytes);
  b.setQueueLength(r.queue_length);
  b.setExpectedWaitMs(r.expected_wait_ms);
  auto datasets = b.initDatasets(static_cast<unsigned>(r.datasets.size()));
  for (unsigned i = 0; i < r.datasets.size(); ++i) {
    datasets[i].setName(r.datasets[i].name);
    datasets[i].setSizeBytes(r.datasets[i].size_bytes);
  }
  if (!r.links.empty()) {
    auto links = b.initLinks(static_cast<unsigned>(r.links.size()));
    for (unsigned i = 0; i < r.links.size(); ++i) {
      links[i].setPeer(as_data(r.links[i].peer.span()));
      links[i].setBandwidthBps(r.links[i].bandwidth_bps);
    }
  }
}

Result<NodeRecord> read_node_record(wire::NodeRecord::Reader b) {
  NodeRecord r;
  auto id = to_node_id(b.getNodeId(), "node record nodeId");
  if (!id) return id.status();
  r.node_id = *id;
  r.incarnation = b.getIncarnation();
  r.sequence = b.getSequence();
  r.name = to_string(b.getName());
  r.operator_name = to_string(b.getOperator());
  r.region = to_string(b.getRegion());
  r.address = to_string(b.getAddress());
  POLDER_RETURN_IF_ERROR(get_accelerators(b.getAccelerators(), "node record: accelerator ", r.accelerators));
  r.cpus = b.getCpus();
  r.memory_bytes = b.getMemoryBytes();
  r.queue_length = b.getQueueLength();
  r.expected_wait_ms = b.getExpectedWaitMs();
  for (auto d : b.getDatasets()) r.datasets.push_back({to_string(d.getName()), d.getSizeBytes()});
  if (b.getLinks().size() > kRecordLinksMax) {
    return invalid_argument("node record: " + std::to_string(b.getLinks().size()) + " links, at most " +
                            std::to_string(kRecordLinksMax));
  }
  for (auto l : b.getLinks()) {
    auto peer = to_node_id(l.getPeer(), "node record link peer");
    if (!peer) return peer.status();
    r.links.push_back({*peer, l.getBandwidthBps()});
  }
  return r;
}

// ---- job spec -------------------------------------------------------------

void build_job_spec(wire::JobSpec::Builder b, const JobSpec& s) {
  b.setName(s.name);
  b.setCommand(s.command);
  set_text_list(b.initArgs(static_cast<unsigned>(s.args.size())), s.args);
  set_key_values(b.initEnv(static_cast<unsigned>(s.env.size())), s.env);
  set_text_list(b.initFiles(static_cast<unsigned>(s.files.size())), s.files);
  auto res = b.initResources();
  res.setGpus(s.resources.gpus);
  res.setGpuType(s.resources.gpu_type);
  res.setCpus(s.resources.cpus);
  res.setMemoryBytes(s.resources.memory_bytes);
  auto inputs = b.initInputs(static_cast<unsigned>(s.inputs.size()));
  for (unsigned i = 0; i < s.inputs.size(); ++i) {
    inputs[i].setDataset(s.inputs[i].dataset);
    inputs[i].setSite(s.inputs[i].site);
    inputs[i].setSizeBytes(s.inputs[i].size_bytes);
  }
  b.setMaxRunTimeS(s.max_run_time_s);
  b.setMaxRetries(s.max_retries);
  b.setPriority(s.priority);
  b.setSubmitter(as_data(s.submitter.span()));
  auto c = b.initConstraints();
  set_text_list(c.initAllowedRegions(static_cast<unsigned>(s.constraints.allowed_regions.size())),
                s.constraints.allowed_regions);
  set_text_list(c.initDeniedRegions(static_cast<unsigned>(s.constraints.denied_regions.size())),
                s.constraints.denied_regions);
  set_text_list(c.initAllowedOperators(static_cast<unsigned>(s.constraints.allowed_operators.size())),
                s.constraints.allowed_operators);
  set_text_list(c.initDeniedOperators(static_cast<unsigned>(s.constraints.denied_operators.size())),
                s.constraints.denied_operators);
  set_key_values(b.initLabels(static_cast<unsigned>(s.labels.size())), s.labels);
  b.setSubmittedAtUs(s.submitted_at_us);
  b.setNonce(s.nonce);
}

Result<JobSpec> read_job_spec(wire::JobSpec::Reader b) {
  JobSpec s;
  s.name = to_string(b.getName());
  s.command = to_string(b.getCommand());
  s.args = text_list(b.getArgs());
  s.env = key_values(b.getEnv());
  s.files = text_list(b.getFiles());
  auto res = b.getResources();
  s.resources = {res.getGpus(), to_string(res.getGpuType()), res.getCpus(), res.getMemoryBytes()};
  for (auto in : b.getInputs()) s.inputs.push_back({to_string(in.getDataset()), to_string(in.getSite()), in.getSizeBytes()});
  s.max_run_time_s = b.getMaxRunTimeS();
  s.max_retries = b.getMaxRetries();
  s.priority = b.getPriority();
  auto submitter = to_node_id(b.getSubmitter(), "job spec submitter");
  if (!submitter) return submitter.status();
  s.submitter = *submitter;
  auto c = b.getConstraints();
  s.constraints = {text_list(c.getAllowedRegions()), text_list(c.getDeniedRegions()),
                   text_list(c.getAllowedOperators()), text_list(c.getDeniedOperators())};
  s.labels = key_values(b.getLabels());
  s.submitted_at_us = b.getSubmittedAtUs();
  s.nonce = b.getNonce();
  return s;
}

// ---- job messages ---------------------------------------------------------

template <typename Tag>
Result<std::optional<Id32<Tag>>> optional_id(capnp::Data::Reader data, const char* field) {
  if (data.size() == 0) return std::optional<Id32<Tag>>();
  auto id = Id32<Tag>::from_bytes(std::span<const std::uint8_t>(data.begin(), data.size()));
  if (!id) return invalid_argument(std::string(field) + ": " + id.status().message());
  return std::optional<Id32<Tag>>(*id);
}

template <typename Tag>
capnp::Data::Reader optional_data(const std::optional<Id32<Tag>>& id) {
  if (!id) return capnp::Data::Reader();
  return as_data(id->span());
}

void build_job_view(wire::JobView::Builder b, const JobView& v) {
  b.setJobId(as_data(v.job_id.span()));
  b.setName(v.name);
  b.setState(v.state);
  b.setAttempt(v.attempt);
  b.setExecutor(optional_data(v.executor));
  b.setExecutorName(v.executor_name);
  b.setOrigin(optional_data(v.origin));
  b.setExitCode(v.exit_code);
  b.setSubmittedAtUs(v.submitted_at_us);
  b.setStartedAtUs(v.started_at_us);
  b.setFinishedAtUs(v.finished_at_us);
  b.setMessage(v.message);
  b.setGpuSlots(v.gpu_slots);
  b.setUpdatedAtUs(v.updated_at_us);
  b.setCommand(v.command);
  b.setFailures(v.failures);
  b.setSubmitter(optional_data(v.submitter));
  b.setLeaseGranted(v.lease_granted);
}

Result<JobView> read_job_view(wire::JobView::Reader b) {
  JobView v;
  auto id = Id32<JobIdTag>::from_bytes(std::span<const std::uint8_t>(b.getJobId().begin(), b.getJobId().size()));
  if (!id) return invalid_argument("job view jobId: " + id.status().message());
  v.job_id = *id;
  v.name = to_string(b.getName());
  v.state = to_string(b.getState());
  v.attempt = b.getAttempt();
  auto executor = optional_id<NodeIdTag>(b.getExecutor(), "job view executor");
  if (!executor) return executor.status();
  v.executor = *executor;
  v.executor_name = to_string(b.getExecutorName());
  auto origin = optional_id<NodeIdTag>(b.getOrigin(), "job view origin");
  if (!origin) return origin.status();
  v.origin = *origin;
  v.exit_code = b.getExitCode();
  v.submitted_at_us = b.getSubmittedAtUs();
  v.started_at_us = b.getStartedAtUs();
  v.finished_at_us = b.getFinishedAtUs();
  v.message = to_string(b.getMessage());
  v.gpu_slots = to_string(b.getGpuSlots());
  v.updated_at_us = b.getUpdatedAtUs();
  v.command = to_string(b.getCommand());
  v.failures = b.getFailures();
  auto submitter = optional_id<NodeIdTag>(b.getSubmitter(), "job view submitter");
  if (!submitter) return submitter.status();
  v.submitter = *submitter;
  v.lease_granted = b.getLeaseGranted();
  return v;
}

void build_job_message(wire::JobMessage::Builder b, const JobMessage& m) {
  b.setKind(static_cast<std::uint16_t>(m.kind));
  b.setRequestId(m.request_id);
  b.setJobId(optional_data(m.job_id));
  b.setAttempt(m.attempt);
  b.setHasSpec(m.spec.has_value());
  if (m.spec) build_job_spec(b.initSpec(), *m.spec);
  b.setOrigin(optional_data(m.origin));
  auto replicas = b.initReplicas(static_cast<unsigned>(m.replicas.size()));
  for (unsigned i = 0; i < m.replicas.size(); ++i) replicas.set(i, as_data(m.replicas[i].span()));
  b.setReservation(m.reservation);
  b.setGranted(m.granted);
  b.setGpuSlots(m.gpu_slots);
  auto jobs = b.initJobs(static_cast<unsigned>(m.jobs.size()));
  for (unsigned i = 0; i < m.jobs.size(); ++i) build_job_view(jobs[i], m.jobs[i]);
  b.setData(as_data(m.data));
  b.setOffset(m.offset);
  b.setDone(m.done);
  b.setMessage(m.message);
  b.setStateFilter(m.state_filter);
  b.setNodeFilter(m.node_filter);
  b.setTruncated(m.truncated);
  if (!m.free_accelerators.empty()) {
    put_accelerators(b.initFreeAccelerators(static_cast<unsigned>(m.free_accelerators.size())), m.free_accelerators);
  }
  b.setFreeCpus(m.free_cpus);
  b.setFreeMemoryBytes(m.free_memory_bytes);
  b.setHeldByReservations(m.held_by_reservations);
}

Result<JobMessage> read_job_message(wire::JobMessage::Reader b) {
  JobMessage m;
  m.kind = static_cast<JobMessageKind>(b.getKind());
  m.request_id = b.getRequestId();
  auto job = optional_id<JobIdTag>(b.getJobId(), "job message jobId");
  if (!job) return job.status();
  m.job_id = *job;
  m.attempt = b.getAttempt();
  if (b.getHasSpec()) {
    auto spec = read_job_spec(b.getSpec());
    if (!spec) return spec.status();
    m.spec = std::move(*spec);
  }
  auto origin = optional_id<NodeIdTag>(b.getOrigin(), "job message origin");
  if (!origin) return origin.status();
  m.origin = *origin;
  for (auto r : b.getReplicas()) {
    auto id = to_node_id(r, "job message replica");
    if (!id) return id.status();
    m.replicas.push_back(*id);
  }
  m.reservation = b.getReservation();
  m.granted = b.getGranted();
  m.gpu_slots = to_string(b.getGpuSlots());
  for (auto v : b.getJobs()) {
    auto view = read_job_view(v);
    if (!view) return view.status();
    m.jobs.push_back(std::move(*view));
  }
  m.data = to_bytes(b.getData());
  m.offset = b.getOffset();
  m.done = b.getDone();
  m.message = to_string(b.getMessage());
  m.state_filter = to_string(b.getStateFilter());
  m.node_filter = to_string(b.getNodeFilter());
  m.truncated = b.getTruncated();
  if (b.getFreeAccelerators().size() > kWorkOfferAcceleratorsMax) {
    return invalid_argument("job message: " + std::to_string(b.getFreeAccelerators().size()) +
                            " free accelerator types, at most " + std::to_string(kWorkOfferAcceleratorsMax));
  }
  POLDER_RETURN_IF_ERROR(get_accelerators(b.getFreeAccelerators(), "job message: free accelerator ", m.free_accelerators));
  m.free_cpus = b.getFreeCpus();
  m.free_memory_bytes = b.getFreeMemoryBytes();
  m.held_by_reservations = b.getHeldByReservations();
  return m;
}

// ---- signed record --------------------------------------------------------

void build_signed_record(wire::SignedRecord::Builder b, const SignedRecord& v) {
  b.setAuthor(as_data(v.author.span()));
  b.setKind(static_cast<std::uint16_t>(v.kind));
  b.setBody(as_data(v.body));
  b.setSignature(as_data(v.signature));
}

Result<SignedRecord> read_signed_record(wire::SignedRecord::Reader b) {
  auto author = to_node_id(b.getAuthor(), "record author");
  if (!author) return author.status();
  SignedRecord r;
  r.author = *author;
  r.kind = static_cast<RecordKind>(b.getKind());
  r.body = to_bytes(b.getBody());
  auto sig = b.getSignature();
  if (sig.size() != r.signature.size()) {
    return invalid_argument("record signature must be 64 bytes, got " + std::to_string(sig.size()));
  }
  std::memcpy(r.signature.data(), sig.begin(), sig.size());
  return r;
}

// ---- envelope -------------------------------------------------------------

Result<Payload> read_member_list(wire::MemberList::Reader b) {
  MemberList list;
  list.truncated = b.getTruncated();
  for (auto m : b.getMembers()) {
    MemberEntry e;
    auto id = to_node_id(m.getNodeId(), "member nodeId");
    if (!id) return id.status();
    e.node_id = *id;
    e.state = to_string(m.getState());
    e.incarnation = m.getIncarnation();
    if (m.getHasRecord()) {
      auto record = read_node_record(m.getRecord());
      if (!record) return record.status();
      e.record = std::move(*record);
    }
    e.rtt_ms = m.getRttMs();
    e.is_self = m.getIsSelf();
    if (m.getCoordinate().size() > 16) return invalid_argument("member coordinate has more than 16 dimensions");
    for (float x : m.getCoordinate()) e.coordinate.push_back(x);
    e.height_ms = m.getHeightMs();
    list.members.push_back(std::move(e));
  }
  return Payload(std::move(list));
}

void build_payload(wire::Envelope::Payload::Builder p, const Payload& payload) {
  struct Visitor {
    wire::Envelope::Payload::Builder p;
    void operator()(const Ping& v) { p.initPing().setToken(v.token); }
    void operator()(const Pong& v) { p.initPong().setToken(v.token); }
    void operator()(const InfoRequest&) { p.setInfoRequest(); }
    void operator()(const NodeInfo& v) {
      auto b = p.initInfoReply();
      b.setNodeId(as_data(v.node_id.span()));
      b.setName(v.name);
      b.setVersion(v.version);
      b.setUptimeMs(v.uptime_ms);
      b.setProtocolVersion(v.protocol_version);
      b.setPeersKnown(v.peers_known);
      b.setRegion(v.region);
      b.setOperator(v.operator_name);
    }
    void operator()(const SignedRecord& v) { build_signed_record(p.initRecord(), v); }
    void operator()(const ErrorReply& v) {
      auto b = p.initError();
      b.setCode(v.code);
      b.setMessage(v.message);
    }
    void operator()(const NodesRequest&) { p.setNodesRequest(); }
    void operator()(const MemberList& v) {
      auto b = p.initNodesReply();
      b.setTruncated(v.truncated);
      auto list = b.initMembers(static_cast<unsigned>(v.members.size()));
      for (unsigned i = 0; i < v.members.size(); ++i) {
        const MemberEntry& m = v.members[i];
        list[i].setNodeId(as_data(m.node_id.span()));
        list[i].setState(m.state);
        list[i].setIncarnation(m.incarnation);
        list[i].setHasRecord(m.record.has_value());
        if (m.record) build_node_record(list[i].initRecord(), *m.record);
        list[i].setRttMs(m.rtt_ms);
        list[i].setIsSelf(m.is_self);
        auto coord = list[i].initCoordinate(static_cast<unsigned>(m.coordinate.size()));
        for (unsigned k = 0; k < m.coordinate.size(); ++k) coord.set(k, m.coordinate[k]);
        list[i].setHeightMs(m.height_ms);
      }
    }
    void operator()(const JobMessage& v) { build_job_message(p.initJob(), v); }
    void operator()(const JobBatch& v) {
      auto list = p.initJobBatch(static_cast<unsigned>(v.messages.size()));
      for (unsigned i = 0; i < v.messages.size(); ++i) build_job_message(list[i], v.messages[i]);
    }
    void operator()(const GossipPayload& v) { p.setGossip(as_data(v.bytes)); }
    void operator()(const ConsensusPayload& v) { p.setConsensus(as_data(v.bytes)); }
    void operator()(const UnknownPayload&) {
      assert(false && "an UnknownPayload is never sent");
    }
  };
  std::visit(Visitor{p}, payload);
}

Result<Payload> read_payload(wire::Envelope::Payload::Reader p) {
  switch (p.which()) {
    case wire::Envelope::Payload::PING: return Payload(Ping{p.getPing().getToken()});
    case wire::Envelope::Payload::PONG: return Payload(Pong{p.getPong().getToken()});
    case wire::Envelope::Payload::INFO_REQUEST: return Payload(InfoRequest{});
    case wire::Envelope::Payload::INFO_REPLY: {
      auto b = p.getInfoReply();
      auto id = to_node_id(b.getNodeId(), "info nodeId");
      if (!id) return id.status();
      return Payload(NodeInfo{*id, to_string(b.getName()), to_string(b.getVersion()), b.getUptimeMs(),
                              b.getProtocolVersion(), b.getPeersKnown(), to_string(b.getRegion()),
                              to_string(b.getOperator())});
    }
    case wire::Envelope::Payload::RECORD: {
      auto r = read_signed_record(p.getRecord());
      if (!r) return r.status();
      return Payload(std::move(*r));
    }
    case wire::Envelope::Payload::ERROR: {
      auto b = p.getError();
      return Payload(ErrorReply{b.getCode(), to_string(b.getMessage())});
    }
    case wire::Envelope::Payload::NODES_REQUEST: return Payload(NodesRequest{});
    case wire::Envelope::Payload::NODES_REPLY: return read_member_list(p.getNodesReply());
    case wire::Envelope::Payload::GOSSIP: return Payload(GossipPayload{to_bytes(p.getGossip())});
    case wire::Envelope::Payload::CONSENSUS: return Payload(ConsensusPayload{to_bytes(p.getConsensus())});
    case wire::Envelope::Payload::JOB: {
      auto m = read_job_message(p.getJob());
      if (!m) return m.status();
      return Payload(std::move(*m));
    }
    case wire::Envelope::Payload::JOB_BATCH: {
      auto list = p.getJobBatch();
      if (list.size() == 0 || list.size() > kJobBatchMessagesMax) {
        return invalid_argument("job batch: " + std::to_string(list.size()) + " messages (1.." +
                                std::to_string(kJobBatchMessagesMax) + " allowed)");
      }
      JobBatch batch;
      batch.messages.reserve(list.size());
      for (auto r : list) {
        auto m = read_job_message(r);
        if (!m) return Status(m.status().code(), "job batch: " + m.status().message());
        batch.messages.push_back(std::move(*m));
      }
      return Payload(std::move(batch));
    }
  }
  return Payload(UnknownPayload{static_cast<std::uint16_t>(p.which())});
}

Result<Envelope> read_envelope(wire::Envelope::Reader b) {
  Envelope e;
  e.version = b.getVersion();
  if (e.version < kMinProtocolVersion || e.version > kProtocolVersion) {
    return failed_precondition("protocol version " + std::to_string(e.version) + " not supported (this node speaks " +
                               std::to_string(kMinProtocolVersion) + ".." + std::to_string(kProtocolVersion) + ")");
  }
  auto sender = to_node_id(b.getSender(), "envelope sender");
  if (!sender) return sender.status();
  e.sender = *sender;
  e.message_id = b.getMessageId();
  e.timestamp_us = b.getTimestampUs();
  auto payload = read_payload(b.getPayload());
  if (!payload) return payload.status();
  e.payload = std::move(*payload);
  return e;
}

}  // namespace

Result<Bytes> Codec::encode(const Envelope& envelope) const {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<wire::Envelope>();
  b.setVersion(envelope.version);
  b.setSender(as_data(envelope.sender.span()));
  b.setMessageId(envelope.message_id);
  b.setTimestampUs(envelope.timestamp_us);
  build_payload(b.initPayload(), envelope.payload);
  return finish(message, limits_);
}

Result<Envelope> Codec::decode(std::span<const std::uint8_t> bytes) {
  auto result = read_message<wire::Envelope, Envelope>(bytes, limits_, "envelope", read_envelope);
  if (!result) {
    ++counters_.rejected;
    return result;
  }
  ++counters_.decoded;
  if (std::holds_alternative<UnknownPayload>(result->payload)) ++counters_.unknown_payloads;
  return result;
}

Result<Bytes> encode_node_record(const NodeRecord& record, const CodecLimits& limits) {
  capnp::MallocMessageBuilder message;
  build_node_record(message.initRoot<wire::NodeRecord>(), record);
  return finish(message, limits);
}

Result<NodeRecord> decode_node_record(std::span<const std::uint8_t> bytes, const CodecLimits& limits) {
  return read_message<wire::NodeRecord, NodeRecord>(bytes, limits, "node record", read_node_record);
}

Result<Bytes> encode_signed_record(const SignedRecord& record, const CodecLimits& limits) {
  capnp::MallocMessageBuilder message;
  build_signed_record(message.initRoot<wire::SignedRecord>(), record);
  return finish(message, limits);
}

Result<SignedRecord> decode_signed_record(std::span<const std::uint8_t> bytes, const CodecLimits& limits) {
  return read_message<wire::SignedRecord, SignedRecord>(bytes, limits, "signed record", read_signed_record);
}

Result<Bytes> encode_job_spec(const JobSpec& spec, const CodecLimits& limits) {
  capnp::MallocMessageBuilder message;
  build_job_spec(message.initRoot<wire::JobSpec>(), spec);
  return finish(message, limits);
}

Result<JobSpec> decode_job_spec(std::span<const std::uint8_t> bytes, const CodecLimits& limits) {
  return read_message<wire::JobSpec, JobSpec>(bytes, limits, "job spec", read_job_spec);
}

Result<Bytes> encode_revocation(const Revocation& revocation, const CodecLimits& limits) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<wire::Revocation>();
  b.setRevoked(as_data(revocation.revoked.span()));
  b.setIssuedAtUs(revocation.issued_at_us);
  b.setReason(revocation.reason);
  return finish(message, limits);
}

namespace {
Result<Revocation> read_revocation(wire::Revocation::Reader b) {
  Revocation r;
  auto revoked = to_node_id(b.getRevoked(), "revocation key");
  if (!revoked) return revoked.status();
  r.revoked = *revoked;
  r.issued_at_us = b.getIssuedAtUs();
  r.reason = to_string(b.getReason());
  if (r.reason.size() > Revocation::kReasonMaxBytes) {
    return invalid_argument("revocation reason is " + std::to_string(r.reason.size()) + " bytes; at most " +
                            std::to_string(Revocation::kReasonMaxBytes));
  }
  return r;
}
}  // namespace

Result<Revocation> decode_revocation(std::span<const std::uint8_t> bytes, const CodecLimits& limits) {
  return read_message<wire::Revocation, Revocation>(bytes, limits, "revocation", read_revocation);
}

Result<Bytes> encode_invitation(const Invitation& invitation, const CodecLimits& limits) {
  capnp::MallocMessageBuilder message;
  auto b = message.initRoot<wire::Invitation>();
  b.setInvitee(as_data(invitation.invitee.span()));
  b.setOperator(invitation.operator_name);
  b.setIssuedAtUs(invitation.issued_at_us);
  b.setExpiresAtUs(invitation.expires_at_us);
  b.setInviterAddress(invitation.inviter_address);
  auto members = b.initMembers(static_cast<unsigned>(invitation.members.size()));
  for (unsigned i = 0; i < invitation.members.size(); ++i) members.set(i, as_data(invitation.members[i].span()));
  auto founders = b.initFounders(static_cast<unsigned>(invitation.founders.size()));
  for (unsigned i = 0; i < invitation.founders.size(); ++i) founders.set(i, as_data(invitation.founders[i].span()));
  if (invitation.replaces) b.setReplaces(as_data(invitation.replaces->span()));
  return finish(message, limits);
}

namespace {
Result<std::vector<NodeId>> node_id_list(capnp::List<capnp::Data>::Reader list, const char* field) {
  if (list.size() > Invitation::kListMax) {
    return invalid_argument(std::string(field) + ": more than " + std::to_string(Invitation::kListMax) + " keys");
  }
  std::vector<NodeId> out;
  out.reserve(list.size());
  for (auto d : list) {
    auto id = to_node_id(d, field);
    if (!id) return id.status();
    out.push_back(*id);
  }
  return out;
}

Result<Invitation> read_invitation(wire::Invitation::Reader b) {
  Invitation i;
  auto invitee = to_node_id(b.getInvitee(), "invitee");
  if (!invitee) return invitee.status();
  i.invitee = *invitee;
  i.operator_name = to_string(b.getOperator());
  i.issued_at_us = b.getIssuedAtUs();
  i.expires_at_us = b.getExpiresAtUs();
  i.inviter_address = to_string(b.getInviterAddress());
  auto members = node_id_list(b.getMembers(), "invitation members");
  if (!members) return members.status();
  i.members = std::move(*members);
  auto founders = node_id_list(b.getFounders(), "invitation founders");
  if (!founders) return founders.status();
  i.founders = std::move(*founders);
  if (b.hasReplaces()) {
    auto replaces = to_node_id(b.getReplaces(), "replaced key");
    if (!replaces) return replaces.status();
    i.replaces = *replaces;
  }
  if (i.operator_name.empty() || i.operator_name.size() > Invitation::kOperatorMaxBytes) {
    return invalid_argument("invitation operator must be 1.." + std::to_string(Invitation::kOperatorMaxBytes) +
                            " bytes");
  }
  if (i.inviter_address.size() > Invitation::kAddressMaxBytes) return invalid_argument("invitation address too long");
  if (i.expires_at_us <= i.issued_at_us) return invalid_argument("invitation expires before it was issued");
  return i;
}
}  // namespace

Result<Invitation> decode_invitation(std::span<const std::uint8_t> bytes, const CodecLimits& limits) {
  return read_message<wire::Invitation, Invitation>(bytes, limits, "invitation", read_invitation);
}

Result<Bytes> encode_job_message(const JobMessage& message_value, const CodecLimits& limits) {
  capnp::MallocMessageBuilder message;
  build_job_message(message.initRoot<wire::JobMessage>(), message_value);
  return finish(message, limits);
}

Result<JobMessage> decode_job_message(std::span<const std::uint8_t> bytes, const CodecLimits& limits) {
  return read_message<wire::JobMessage, JobMessage>(bytes, limits, "job message", read_job_message);
}

}  // namespace polder
