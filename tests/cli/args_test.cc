// The polder and polderd argument parsers (cli/args.h, cli/polderd_args.h)
// without running anything: what a command line fills in, and which lines
// are refused.
#include "cli/args.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli/polderd_args.h"

namespace polder::cli {
namespace {

// Parses `words` (without the program name); false when CLI11 refuses them.
template <typename A, typename Make>
bool parse(A& args, Make make, std::vector<std::string> words) {
  auto app = make(args);
  std::vector<std::string> reversed(words.rbegin(), words.rend());  // CLI11 takes them back to front
  try {
    app->parse(reversed);
  } catch (const CLI::ParseError&) {
    return false;
  }
  finish(*app, args);
  return true;
}

bool parse_polder(Args& a, std::vector<std::string> words) { return parse(a, make_app, std::move(words)); }

TEST(CliArgs, SubmitFillsTheSpecFlagsAndTheCommand) {
  Args a;
  ASSERT_TRUE(parse_polder(a, {"--json", "submit", "--gpus", "2", "--mem", "8G", "--input", "imagenet@dc-a:40G",
                               "--retries", "1", "--wait", "--", "sh", "-c", "echo hi"}));
  EXPECT_EQ(a.command, "submit");
  EXPECT_TRUE(a.o.json);
  EXPECT_TRUE(a.submit.wait);
  EXPECT_TRUE(a.submit.retries_set);
  auto spec = spec_from(a.submit);
  ASSERT_TRUE(spec.is_ok()) << spec.status().to_string();
  EXPECT_EQ(spec->command, "sh");
  EXPECT_EQ(spec->args, (std::vector<std::string>{"-c", "echo hi"}));
  EXPECT_EQ(spec->resources.gpus, 2u);
  EXPECT_EQ(spec->resources.memory_bytes, 8ull << 30);
  ASSERT_EQ(spec->inputs.size(), 1u);
  EXPECT_EQ(spec->max_retries, 1u);
}

TEST(CliArgs, BadValuesAreRefusedWithTheFlagNamed) {
  Args a;
  ASSERT_TRUE(parse_polder(a, {"submit", "--mem", "8 apples", "--", "true"}));
  auto spec = spec_from(a.submit);
  ASSERT_FALSE(spec.is_ok());
  EXPECT_NE(spec.status().message().find("--mem"), std::string::npos) << spec.status().message();
  Args b;
  ASSERT_TRUE(parse_polder(b, {"submit", "--env", "=x", "--", "true"}));
  EXPECT_FALSE(spec_from(b.submit).is_ok());
  Args c;
  ASSERT_TRUE(parse_polder(c, {"submit"}));
  EXPECT_FALSE(spec_from(c.submit).is_ok());  // nothing to run
}

TEST(CliArgs, WrongLinesAreRefusedByTheParser) {
  Args a;
  EXPECT_FALSE(parse_polder(a, {}));                                    // a subcommand is required
  EXPECT_FALSE(parse_polder(a, {"frobnicate"}));                        // unknown subcommand
  EXPECT_FALSE(parse_polder(a, {"status"}));                            // the job id is required
  EXPECT_FALSE(parse_polder(a, {"submit", "--gpus", "many", "--", "true"}));
  EXPECT_FALSE(parse_polder(a, {"submit", "--gpus", "5000", "--", "true"}));  // out of range
  EXPECT_FALSE(parse_polder(a, {"list", "--state", "sleeping"}));
  EXPECT_FALSE(parse_polder(a, {"--timeout-ms", "0", "ping"}));
  EXPECT_FALSE(parse_polder(a, {"invite", "--key", "ab"}));  // --operator is required
}

TEST(CliArgs, EachSubcommandIsNamedAfterAParse) {
  for (const char* c : {"ping", "info", "nodes", "links", "rotate-key"}) {
    Args a;
    ASSERT_TRUE(parse_polder(a, {c})) << c;
    EXPECT_EQ(a.command, c);
  }
  Args l;
  ASSERT_TRUE(parse_polder(l, {"logs", "-f", "00ff"}));
  EXPECT_EQ(l.command, "logs");
  EXPECT_TRUE(l.follow);
  EXPECT_EQ(l.job_id, "00ff");
  Args i;
  ASSERT_TRUE(parse_polder(i, {"invite", "--key", "k", "--operator", "acme"}));
  EXPECT_EQ(i.invite_expires, "24h");  // the documented default
}

TEST(PolderdArgs, InitAndRunAreParsedAndTheirRequiredFlagsChecked) {
  DaemonArgs a;
  ASSERT_TRUE(parse(a, make_polderd_app, {"init", "--dir", "/tmp/n1", "--region", "eu"}));
  EXPECT_EQ(a.command, "init");
  EXPECT_EQ(a.init.dir, "/tmp/n1");
  EXPECT_EQ(a.init.region, "eu");
  EXPECT_EQ(a.init.listen, "tcp://127.0.0.1:7400");
  EXPECT_FALSE(a.init.http_listen.has_value());
  DaemonArgs r;
  ASSERT_TRUE(parse(r, make_polderd_app, {"run", "--config", "/tmp/n1/polderd.toml"}));
  EXPECT_EQ(r.command, "run");
  EXPECT_EQ(r.config_path, "/tmp/n1/polderd.toml");
  DaemonArgs bad;
  EXPECT_FALSE(parse(bad, make_polderd_app, {"run"}));
  EXPECT_FALSE(parse(bad, make_polderd_app, {"init"}));
  EXPECT_FALSE(parse(bad, make_polderd_app, {"run", "--config", "x", "--invitation", "/nonexistent/inv"}));
}

}  // namespace
}  // namespace polder::cli
