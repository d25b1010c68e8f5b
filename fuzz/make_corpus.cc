// polder-fuzz-corpus DIR: writes the seed corpora of every fuzz target,
// DIR/<target>/<name>, from small valid values built with the project's own
// encoders, so seeds follow the schemas when they change. The checked-in
// fuzz/corpus/ is this program's output:
//   build-fuzz/fuzz/polder-fuzz-corpus fuzz/corpus
// Deterministic: fixed identities and values, no clock, no randomness.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "consensus/wire.h"
#include "fuzz/fuzz_util.h"
#include "gossip/codec.h"
#include "node/config.h"
#include "protocol/codec.h"
#include "protocol/identity.h"
#include "protocol/revocation.h"
#include "protocol/invitation.h"
#include "protocol/signed_record.h"
#include "sim/gossip_records.h"

namespace polder::fuzz {
namespace {

namespace fs = std::filesystem;

fs::path g_root;

void write(const std::string& target, const std::string& name, std::span<const std::uint8_t> bytes) {
  const fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  FUZZ_CHECK(out.good(), "cannot write " + (dir / name).string());
}

void write_text(const std::string& target, const std::string& name, const std::string& text) {
  write(target, name, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

template <typename T>
const T& ok(const Result<T>& r) {
  FUZZ_CHECK(r.is_ok(), r.status().to_string());
  return *r;
}

Identity identity_from(std::uint8_t fill) {
  std::array<std::uint8_t, 32> seed;
  seed.fill(fill);
  return Identity::from_seed(seed);
}

NodeRecord sample_node_record(const NodeId& id) {
  NodeRecord r;
  r.node_id = id;
  r.incarnation = 3;
  r.sequence = 42;
  r.name = "dc-berlin-2";
  r.operator_name = "acme";
  r.region = "eu-central";
  r.address = "tcp://127.0.0.1:7400";
  r.accelerators = {{"H100", 8, 5}};
  r.cpus = 128;
  r.memory_bytes = 1ULL << 40;
  r.queue_length = 7;
  r.expected_wait_ms = 12000;
  r.datasets = {{"imagenet", 150ULL << 30}};
  return r;
}

JobSpec sample_job_spec(const NodeId& submitter) {
  JobSpec s;
  s.name = "train";
  s.command = "/usr/bin/python3";
  s.args = {"train.py", "--epochs", "3"};
  s.env = {{"BATCH", "256"}};
  s.resources = {2, "H100", 16, 64ULL << 30};
  s.inputs = {{"imagenet", "dc-berlin-2", 150ULL << 30}};
  s.max_run_time_s = 3600;
  s.max_retries = 2;
  s.submitter = submitter;
  s.constraints.allowed_regions = {"eu-central"};
  s.labels = {{"team", "vision"}};
  s.submitted_at_us = 1764000000000000;
  s.nonce = 99;
  return s;
}

std::vector<JobMessage> sample_job_messages(const Identity& id) {
  JobId job(JobId::Bytes{0xA0, 1});
  JobView view;
  view.job_id = job;
  view.name = "train";
  view.state = "running";
  view.attempt = 1;
  view.executor = id.id();
  view.origin = id.id();
  view.command = "/usr/bin/python3";
  std::vector<JobMessage> out;
  JobMessage submit;
  submit.kind = JobMessageKind::kSubmit;
  submit.request_id = 1;
  submit.spec = sample_job_spec(id.id());
  out.push_back(submit);
  JobMessage reply;
  reply.kind = JobMessageKind::kReply;
  reply.request_id = 1;
  reply.jobs = {view};
  out.push_back(reply);
  JobMessage replicate;
  replicate.kind = JobMessageKind::kReplicate;
  replicate.job_id = job;
  replicate.spec = sample_job_spec(id.id());
  replicate.origin = id.id();
  replicate.replicas = {id.id(), identity_from(2).id()};
  replicate.jobs = {view};
  out.push_back(replicate);
  JobMessage reserve_reply;
  reserve_reply.kind = JobMessageKind::kReserveReply;
  reserve_reply.job_id = job;
  reserve_reply.attempt = 1;
  reserve_reply.granted = true;
  reserve_reply.reservation = 7;
  reserve_reply.gpu_slots = "0,1";
  out.push_back(reserve_reply);
  JobMessage logs;
  logs.kind = JobMessageKind::kLogsReply;
  logs.data = {'h', 'e', 'l', 'l', 'o', '\n'};
  logs.offset = 6;
  logs.done = true;
  out.push_back(logs);
  JobMessage list;
  list.kind = JobMessageKind::kList;
  list.state_filter = "running";
  list.node_filter = "dc";
  out.push_back(list);
  return out;
}

void protocol_seeds() {
  const Identity id = identity_from(7);
  Codec codec;
  const NodeRecord record = sample_node_record(id.id());
  const SignedRecord signed_record = ok(sign_node_record(id, record));
  write("node_record", "sample", ok(encode_node_record(record)));
  write("node_record", "empty", ok(encode_node_record(NodeRecord{})));
  write("signed_record", "node_record", ok(encode_signed_record(signed_record)));
  const Revocation revocation{id.id(), 1'700'000'000'000'000, "key lost"};
  write("revocation", "valid", ok(encode_revocation(revocation)));
  Invitation invitation;
  invitation.invitee = identity_from(8).id();
  invitation.operator_name = "op-b";
  invitation.issued_at_us = 1'700'000'000'000'000;
  invitation.expires_at_us = invitation.issued_at_us + 86'400'000'000;
  invitation.inviter_address = "tcp://127.0.0.1:7400";
  invitation.members = {id.id()};
  write("invitation", "valid", ok(encode_invitation(invitation)));
  {
    const SignedRecord signed_invitation = ok(sign_invitation(id, invitation));
    std::string text = invitation_file_text(signed_invitation);
    write_text("invitation", "file_text", text);
    write("invitation", "signed", ok(encode_signed_record(signed_invitation)));
    write("invitation", "admission", ok(encode_signed_record(ok(sign_admission(identity_from(9), signed_invitation)))));
  }
  write("signed_record", "revocation", ok(encode_signed_record(ok(sign_revocation(id, revocation)))));
  write("signed_record", "job_spec",
        ok(encode_signed_record(sign_record(id, RecordKind::kJobSpec, ok(encode_job_spec(sample_job_spec(id.id())))))));
  write("job_spec", "sample", ok(encode_job_spec(sample_job_spec(id.id()))));
  write("job_spec", "empty", ok(encode_job_spec(JobSpec{})));
  int n = 0;
  for (const JobMessage& m : sample_job_messages(id)) {
    write("job_message", "kind" + std::to_string(static_cast<int>(m.kind)), ok(encode_job_message(m)));
    Envelope e{kProtocolVersion, id.id(), static_cast<std::uint64_t>(++n), 1764000000000000, m};
    write("envelope", "job" + std::to_string(static_cast<int>(m.kind)), ok(codec.encode(e)));
  }
  JobBatch batch{sample_job_messages(id)};
  write("envelope", "job_batch", ok(codec.encode(Envelope{kProtocolVersion, id.id(), 99, 1764000000000000, batch})));
  NodeInfo info{id.id(), "dc-berlin-2", "0.1.0", 1234, kProtocolVersion, 3, "eu-central", "acme"};
  MemberList members;
  members.members.push_back(MemberEntry{id.id(), "alive", 3, record, 1.5, true, {1.0f, 2.0f}, 0.5f});
  const std::vector<std::pair<std::string, Payload>> payloads = {
      {"ping", Ping{7}},
      {"pong", Pong{7}},
      {"info_request", InfoRequest{}},
      {"node_info", info},
      {"signed_record", signed_record},
      {"error_reply", ErrorReply{1, "no such job"}},
      {"gossip", GossipPayload{{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}},
      {"consensus", ConsensusPayload{{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}},
      {"nodes_request", NodesRequest{}},
      {"member_list", members},
  };
  for (const auto& [name, payload] : payloads) {
    write("envelope", name, ok(codec.encode(Envelope{kProtocolVersion, id.id(), 1, 1764000000000000, payload})));
  }
}

// ---- consensus ---------------------------------------------------------------

NodeId node(std::uint8_t n) {
  NodeId::Bytes b{};
  b[0] = n;
  return NodeId(b);
}

std::vector<std::pair<std::string, consensus::Message>> consensus_messages() {
  using namespace consensus;
  JobId::Bytes jb{};
  jb[0] = 0xA0;
  const InstanceKey key{JobId(jb), Attempt{0}};
  const InstanceSpec spec{key, {node(1), node(2), node(3)}, node(1)};
  const Value run = Value::run(node(2), 1);
  const Ballot b1{1, node(2)};
  return {
      {"prepare", Prepare{spec, b1}},
      {"promise", Promise{key, b1, Ballot{0, node(1)}, run}},
      {"accept", Accept{spec, Ballot{0, node(1)}, run}},
      {"accepted", Accepted{key, Ballot{0, node(1)}}},
      {"reject", Reject{key, Ballot{0, node(1)}, b1}},
      {"chosen", Chosen{spec, Value::cancel({node(1), node(2), node(3)})}},
      {"chosen_ack", ChosenAck{key}},
      {"query", Query{spec}},
  };
}

void consensus_seeds() {
  std::vector<std::uint8_t> session;
  for (const auto& [name, message] : consensus_messages()) {
    const Bytes bytes = consensus::encode_message(message);
    write("consensus_wire", name, bytes);
    std::vector<std::uint8_t> one;
    append_frame(one, 1, bytes);  // from node 2, a replica
    write("consensus_core", "raw_" + name, one);
    append_frame(session, 1, bytes);
    const std::uint8_t tick[2] = {0, 50};
    append_frame(session, 0, tick);
  }
  write("consensus_core", "session", session);
  // Structured frames: op 5 builds a message from the bytes, op 7 proposes.
  std::vector<std::uint8_t> structured;
  const std::uint8_t propose[] = {0, 0, 0, 0, 1, 0, 1, 2, 3, 4};
  append_frame(structured, 7, propose);
  for (std::uint8_t i = 0; i < 8; ++i) {
    const std::uint8_t body[] = {i, 1, 0, 0, 0, 2, 1, 1, 3, 0, 2, 1};
    append_frame(structured, 5, body);
  }
  const std::uint8_t tick[2] = {1, 0};
  append_frame(structured, 0, tick);
  write("consensus_core", "structured", structured);
}

// ---- gossip ------------------------------------------------------------------

std::vector<std::pair<std::string, gossip::Message>> gossip_messages() {
  using namespace gossip;
  const NodeId a = member_id(1);
  const NodeId b = member_id(2);
  const Coordinate c{{1.0F, 2.0F, 0.5F, 0.0F}, 0.1F, 0.4F};
  std::vector<Update> updates = {
      Update{UpdateKind::kAlive, a, 2, 0, sim::make_fake_record(a, 2, 3, 40)},
      Update{UpdateKind::kSuspect, b, 0, id_prefix(a), {}},
  };
  return {
      {"ping", Message{gossip::Ping{1, c}, updates}},
      {"ack", Message{Ack{1, c}, {}}},
      {"ping_req", Message{PingReq{2, b}, {}}},
      {"nack", Message{Nack{2}, {}}},
      {"gossip", Message{GossipOnly{}, {Update{UpdateKind::kDead, b, 1, id_prefix(a), {}}}}},
      {"digest", Message{Digest{0, ~0ULL, {{id_prefix(a), 5}, {id_prefix(b), 1}}}, {}}},
      {"digest_reply", Message{DigestReply{{id_prefix(b)}, ~0ULL, false, 0}, {}}},
      {"sync", Message{Sync{}, updates}},
  };
}

void gossip_seeds() {
  gossip::Codec codec;
  std::vector<std::uint8_t> session;
  for (const auto& [name, message] : gossip_messages()) {
    const Bytes bytes = ok(codec.encode(message));
    write("gossip_wire", name, bytes);
    std::vector<std::uint8_t> one;
    append_frame(one, 1, bytes);  // from node 1, a member
    write("gossip_core", "raw_" + name, one);
    append_frame(session, 2, bytes);
    const std::uint8_t tick[2] = {0, 100};
    append_frame(session, 0, tick);
  }
  write("gossip_core", "session", session);
  std::vector<std::uint8_t> structured;
  for (std::uint8_t i = 0; i < 8; ++i) {
    const std::uint8_t body[] = {1, i, 1, 2, 3, 2, 1, 1, 1, 0, 2, 1, 40, 4, 1, 2, 0};
    append_frame(structured, 6, body);
    const std::uint8_t tick[2] = {0, 60};
    append_frame(structured, 0, tick);
  }
  const std::uint8_t restart[] = {3};
  append_frame(structured, 7, restart);
  write("gossip_core", "structured", structured);
}

// ---- text inputs -------------------------------------------------------------

void text_seeds() {
  node::NodeConfig cfg;
  cfg.config_path = "/fuzz/polderd.toml";
  cfg.name = "n1";
  cfg.data_dir = "/var/lib/polder";
  cfg.key_file = "/etc/polder/node.key";
  cfg.listen = "tcp://*:7400";
  cfg.client_listen = "tcp://127.0.0.1:7401";
  cfg.advertise = "tcp://n1.example.org:7400";
  cfg.seeds = {node::PeerDecl{identity_from(2).id(), "tcp://10.0.0.2:7400"}};
  cfg.members = {identity_from(2).id(), identity_from(3).id()};
  cfg.authorized_keys = {identity_from(4).id()};
  cfg.gpus = {node::GpuDecl{"H100", 4}};
  cfg.gossip_profile = "wan";
  cfg.gossip_probe_interval_ms = 500;
  cfg.jobs_work_dir = "/var/lib/polder/work";
  write_text("node_config", "full", node::render_node_config(cfg));
  write_text("node_config", "minimal",
             "[node]\nname = \"n1\"\ndata_dir = \"/var/lib/polder\"\n\n[network]\nlisten = \"tcp://127.0.0.1:7400\"\n"
             "client_listen = \"tcp://127.0.0.1:7401\"\n");
  node::ClientConfig client{"tcp://127.0.0.1:7401", identity_from(2).id(), "cli.key", 5000};
  write_text("node_config", "client", node::render_client_config(client));
  write_text("job_file", "full",
             "name = \"train\"\ncommand = \"python3\"\nargs = [\"train.py\", \"--epochs\", \"3\"]\n"
             "max_time = \"2h\"\nretries = 2\npriority = 5\n[resources]\ngpus = 8\ngpu_type = \"H100\"\ncpus = 32\n"
             "memory = \"256G\"\n[env]\nMODE = \"fast\"\n[[inputs]]\ndataset = \"imagenet\"\nsite = \"dc-berlin\"\n"
             "size = \"150G\"\n[constraints]\nregions = [\"eu\"]\ndenied_operators = [\"acme\"]\n[labels]\n"
             "team = \"vision\"\n");
  write_text("job_file", "minimal", "command = \"/bin/true\"\n");
  write_text("job_file", "duration", "90m");
  write_text("job_file", "input", "imagenet@dc-berlin:40G");
  const std::vector<std::pair<std::string, std::string>> values = {
      {"size", "1.5G"}, {"size_t", "1T"}, {"duration", "2d"}, {"duration_plain", "600"},
      {"input", "imagenet@dc-a:40G"}, {"endpoint", "tcp://127.0.0.1:7400"}, {"endpoint_host", "tcp://n1.example.org:65535"},
      {"hex", identity_from(5).id().hex()},
  };
  for (const auto& [name, text] : values) write_text("cli_values", name, text);
  // cli_args: program byte (0 polder, 1 polderd), then NUL-separated words.
  const std::vector<std::pair<std::string, std::vector<std::string>>> lines = {
      {"submit", {"--json", "submit", "--gpus", "2", "--gpu-type", "H100", "--mem", "8G", "--input",
                  "imagenet@dc-a:40G", "--region", "eu", "--env", "A=1", "--max-time", "1h", "--retries", "2",
                  "--wait", "--", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES"}},
      {"status", {"--timeout-ms", "500", "status", identity_from(5).id().hex()}},
      {"logs", {"logs", "-f", identity_from(5).id().hex()}},
      {"list", {"list", "--state", "running", "--node", "n1"}},
      {"invite", {"invite", "--key", identity_from(6).id().hex(), "--operator", "acme", "--expires", "7d"}},
      {"revoke", {"revoke", identity_from(6).id().hex(), "--reason", "left"}},
      {"help", {"submit", "--help"}},
      {"d_init", {"init", "--dir", "/tmp/n1", "--listen", "tcp://127.0.0.1:7400", "--region", "eu"}},
      {"d_run", {"run", "--config", "/tmp/n1/polderd.toml"}},
  };
  for (const auto& [name, words] : lines) {
    std::string text(1, name.rfind("d_", 0) == 0 ? '\1' : '\0');
    for (std::size_t i = 0; i < words.size(); ++i) text += (i ? std::string(1, '\0') : std::string()) + words[i];
    write_text("cli_args", name, text);
  }
}

}  // namespace
}  // namespace polder::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR (e.g. fuzz/corpus)\n", argv[0]);
    return 2;
  }
  polder::fuzz::g_root = argv[1];
  polder::fuzz::protocol_seeds();
  polder::fuzz::consensus_seeds();
  polder::fuzz::gossip_seeds();
  polder::fuzz::text_seeds();
  return 0;
}
