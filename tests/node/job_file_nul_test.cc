// Regression (fuzz_job_file's round-trip check, issue 8): TOML allows
// "\u0000", and a job file string holding one parsed into a spec that
// changed on the wire (Cap'n Proto Text ends at the NUL) and that execve
// would cut short. Such strings are refused with the file, line and key.
#include <gtest/gtest.h>

#include "node/job_file.h"

namespace polder::node {
namespace {

void expect_nul_refused(const std::string& text, const std::string& key) {
  auto spec = parse_job_file(text, "job.toml");
  ASSERT_FALSE(spec.is_ok()) << "accepted:\n" << text;
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find("NUL"), std::string::npos) << spec.status().message();
  EXPECT_NE(spec.status().message().find(key), std::string::npos) << spec.status().message();
}

TEST(JobFileNul, CommandWithNulIsRefused) {
  expect_nul_refused("command = \"/bin/true\\u0000x\"\n", "command");
}

TEST(JobFileNul, ArgWithNulIsRefused) {
  expect_nul_refused("command = \"/bin/echo\"\nargs = [\"a\", \"b\\u0000\"]\n", "args");
}

TEST(JobFileNul, EnvValueWithNulIsRefused) {
  expect_nul_refused("command = \"/bin/true\"\n[env]\nMODE = \"fast\\u0000\"\n", "env");
}

TEST(JobFileNul, PlainStringsStillParse) {
  auto spec = parse_job_file("command = \"/bin/echo\"\nargs = [\"a\"]\n[env]\nMODE = \"fast\"\n", "job.toml");
  ASSERT_TRUE(spec.is_ok()) << spec.status().to_string();
  EXPECT_EQ(spec->command, "/bin/echo");
}

}  // namespace
}  // namespace polder::node
