// Config keys of issue 8: [client] admin_keys, [jobs] accept_operators and
// run_as_user, [limits]: values, clear errors, render round trip.
#include <gtest/gtest.h>

#include "node/config.h"

namespace polder::node {
namespace {

const std::string kKeyA(64, 'a');
const std::string kKeyB(64, 'b');

const std::string kBase = R"([node]
name = "n1"
data_dir = "/var/lib/polder"

[network]
listen = "tcp://127.0.0.1:7400"
client_listen = "tcp://127.0.0.1:7401"
)";

TEST(SecurityConfig, DefaultsAreOpenButBounded) {
  auto c = parse_node_config(kBase, "polderd.toml");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  EXPECT_TRUE(c->admin_keys.empty());
  EXPECT_TRUE(c->jobs_accept_operators.empty());
  EXPECT_EQ(c->jobs_run_as_user, "");
  EXPECT_EQ(c->limits_peer_messages_per_s, 50'000u);
  EXPECT_EQ(c->limits_client_messages_per_s, 10'000u);
  EXPECT_EQ(c->limits_ban_s, 30);
  EXPECT_EQ(c->limits_client_jobs_max, 10'000u);
}

TEST(SecurityConfig, AdminKeysAreAlsoAuthorizedAndRoundTrip) {
  auto c = parse_node_config(kBase + "[client]\nauthorized_keys = [\"" + kKeyA + "\"]\nadmin_keys = [\"" + kKeyB +
                                 "\"]\n[jobs]\naccept_operators = [\"acme\", \"beta co\"]\nrun_as_user = \"nobody\"\n"
                                 "[limits]\npeer_messages_per_s = 100\nclient_bytes_per_s = \"1M\"\nban_s = 0\n",
                             "polderd.toml");
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  ASSERT_EQ(c->authorized_keys.size(), 2u);
  EXPECT_EQ(c->authorized_keys[1].hex(), kKeyB);
  ASSERT_EQ(c->admin_keys.size(), 1u);
  EXPECT_EQ(c->jobs_accept_operators, (std::vector<std::string>{"acme", "beta co"}));
  EXPECT_EQ(c->jobs_run_as_user, "nobody");
  EXPECT_EQ(c->limits_peer_messages_per_s, 100u);
  EXPECT_EQ(c->limits_client_bytes_per_s, 1u << 20);
  EXPECT_EQ(c->limits_ban_s, 0);
  auto again = parse_node_config(render_node_config(*c), "polderd.toml");
  ASSERT_TRUE(again.is_ok()) << again.status().message() << "\n" << render_node_config(*c);
  EXPECT_EQ(*again, *c);
}

TEST(SecurityConfig, UnknownUserIsAClearErrorWithFileLineAndKey) {
  auto c = parse_node_config(kBase + "[jobs]\nrun_as_user = \"no-such-user-x\"\n", "polderd.toml");
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find("polderd.toml:9: jobs.run_as_user: no user \"no-such-user-x\""),
            std::string::npos)
      << c.status().message();
  auto bad = parse_node_config(kBase + "[jobs]\nrun_as_user = \"../root\"\n", "polderd.toml");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("is not a user name"), std::string::npos) << bad.status().message();
}

TEST(SecurityConfig, BadValuesNameTheKey) {
  auto ops = parse_node_config(kBase + "[jobs]\naccept_operators = [\"\"]\n", "polderd.toml");
  ASSERT_FALSE(ops.is_ok());
  EXPECT_NE(ops.status().message().find("jobs.accept_operators[0]"), std::string::npos) << ops.status().message();
  auto admin = parse_node_config(kBase + "[client]\nadmin_keys = [\"xyz\"]\n", "polderd.toml");
  ASSERT_FALSE(admin.is_ok());
  EXPECT_NE(admin.status().message().find("client.admin_keys[0]"), std::string::npos) << admin.status().message();
  auto rate = parse_node_config(kBase + "[limits]\npeer_messages_per_s = -1\n", "polderd.toml");
  ASSERT_FALSE(rate.is_ok());
  EXPECT_NE(rate.status().message().find("limits.peer_messages_per_s"), std::string::npos) << rate.status().message();
  auto ban = parse_node_config(kBase + "[limits]\nban_s = 100000\n", "polderd.toml");
  ASSERT_FALSE(ban.is_ok());
  EXPECT_NE(ban.status().message().find("limits.ban_s"), std::string::npos) << ban.status().message();
}

}  // namespace
}  // namespace polder::node
