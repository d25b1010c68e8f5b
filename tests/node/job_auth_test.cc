// The authorisation rules of the job protocol (node/job_auth.h).
#include "node/job_auth.h"

#include <gtest/gtest.h>

#include <sodium.h>

#include "protocol/codec.h"

namespace polder::node {
namespace {

NodeId key(char c) { return *NodeId::from_hex(std::string(64, c)); }

JobParties parties() {
  // origin a, replicas a b c, attempt 2 placed on executor e.
  return JobParties{key('a'), {key('a'), key('b'), key('c')}, 2, key('e')};
}

JobView view(std::uint32_t attempt, std::optional<NodeId> executor, std::string state = "finished") {
  JobView v;
  v.job_id = *JobId::from_hex(std::string(64, '1'));
  v.attempt = attempt;
  v.executor = executor;
  v.state = std::move(state);
  return v;
}

JobId id_of(const JobSpec& spec) {
  auto bytes = encode_job_spec(spec);
  JobId::Bytes hash{};
  crypto_generichash(hash.data(), hash.size(), bytes->data(), bytes->size(), nullptr, 0);
  return *JobId::from_bytes(hash);
}

TEST(JobAuth, UpdatesComeFromHoldersOrTheAttemptsOwnExecutor) {
  const auto p = parties();
  EXPECT_TRUE(check_peer_update(p, key('b'), view(2, key('e')), std::nullopt).is_ok());  // a replica
  EXPECT_TRUE(check_peer_update(p, key('e'), view(2, key('e')), std::nullopt).is_ok());  // the executor
  // The executor cannot speak for another executor or another attempt it was not chosen for.
  EXPECT_FALSE(check_peer_update(p, key('e'), view(2, key('f')), std::nullopt).is_ok());
  EXPECT_FALSE(check_peer_update(p, key('e'), view(3, key('e')), std::nullopt).is_ok());
  // Any other member, even claiming to be the executor, is refused.
  Status s = check_peer_update(p, key('f'), view(2, key('f')), std::nullopt);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("neither a holder"), std::string::npos) << s.message();
  // The executor of a newer attempt, as learned chosen from consensus.
  EXPECT_TRUE(check_peer_update(p, key('f'), view(3, key('f')), key('f')).is_ok());
  EXPECT_FALSE(check_peer_update(p, key('7'), view(3, key('7')), key('f')).is_ok());
}

TEST(JobAuth, CancelOnlyFromHolders) {
  const auto p = parties();
  EXPECT_TRUE(check_peer_cancel(p, key('a')).is_ok());
  EXPECT_TRUE(check_peer_cancel(p, key('c')).is_ok());
  EXPECT_FALSE(check_peer_cancel(p, key('e')).is_ok());  // the executor runs it, it does not own it
  EXPECT_FALSE(check_peer_cancel(p, key('f')).is_ok());
}

TEST(JobAuth, ReservationNeedsTheOriginOrAReplicaAndTheSpecsOwnId) {
  JobSpec spec;
  spec.command = "true";
  spec.submitter = key('9');
  spec.nonce = 42;
  const JobId id = id_of(spec);
  EXPECT_TRUE(job_id_matches_spec(id, spec));
  EXPECT_TRUE(check_reserve(key('b'), id, spec, key('a'), {key('a'), key('b')}).is_ok());
  EXPECT_FALSE(check_reserve(key('f'), id, spec, key('a'), {key('a'), key('b')}).is_ok());
  // Reserving under another job's id with a different spec is refused.
  JobSpec other = spec;
  other.command = "rm";
  EXPECT_FALSE(job_id_matches_spec(id, other));
  Status s = check_reserve(key('a'), id, other, key('a'), {key('a')});
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("not the hash of the spec"), std::string::npos) << s.message();
}

TEST(JobAuth, ChosenInstanceMustNameTheJobsOriginAndReplicas) {
  const auto p = parties();
  consensus::InstanceSpec inst{{*JobId::from_hex(std::string(64, '1')), Attempt{2}}, {key('c'), key('a'), key('b')},
                               key('a')};
  EXPECT_TRUE(check_chosen(p, inst).is_ok());  // order does not matter
  auto self_appointed = inst;
  self_appointed.replicas = {key('f')};
  EXPECT_FALSE(check_chosen(p, self_appointed).is_ok());
  auto other_origin = inst;
  other_origin.origin = key('f');
  EXPECT_FALSE(check_chosen(p, other_origin).is_ok());
}

TEST(JobAuth, ClientsSeeTheirOwnJobsAdminsSeeAll) {
  NodeConfig c;
  c.admin_keys = {key('d')};
  const JobId job = *JobId::from_hex(std::string(64, '1'));
  EXPECT_TRUE(check_client_access(c, key('5'), key('5'), job).is_ok());
  EXPECT_TRUE(check_client_access(c, key('d'), key('5'), job).is_ok());
  Status s = check_client_access(c, key('6'), key('5'), job);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("only its submitter or an admin key"), std::string::npos) << s.message();
  EXPECT_FALSE(check_client_access(c, key('6'), std::nullopt, job).is_ok());  // unknown submitter: not yours
}

TEST(JobAuth, OperatorPolicy) {
  NodeConfig c;
  EXPECT_TRUE(check_operator_accepted(c, "anyone").is_ok());
  c.jobs_accept_operators = {"acme", "beta"};
  EXPECT_TRUE(check_operator_accepted(c, "beta").is_ok());
  Status s = check_operator_accepted(c, "mallory");
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("operator \"mallory\""), std::string::npos) << s.message();
}

}  // namespace
}  // namespace polder::node
