#include "node/job_file.h"

#include <gtest/gtest.h>

namespace polder::node {
namespace {

TEST(JobFileTest, DurationsAndInputs) {
  EXPECT_EQ(*parse_duration_s("90s"), 90u);
  EXPECT_EQ(*parse_duration_s("30m"), 1800u);
  EXPECT_EQ(*parse_duration_s("1h"), 3600u);
  EXPECT_EQ(*parse_duration_s("2d"), 172800u);
  EXPECT_EQ(*parse_duration_s("600"), 600u);
  for (const char* bad : {"", "h", "0", "1x", "-5s", "1.5h", "99999999999s"}) {
    auto r = parse_duration_s(bad);
    EXPECT_FALSE(r.is_ok()) << bad;
  }
  auto in = parse_input("imagenet@dc-a:40G");
  ASSERT_TRUE(in.is_ok());
  EXPECT_EQ(in->dataset, "imagenet");
  EXPECT_EQ(in->site, "dc-a");
  EXPECT_EQ(in->size_bytes, 40ull << 30);
  for (const char* bad : {"imagenet", "@dc:1G", "x@:1G", "x@dc:", "x@dc:lots", "x:1G@dc"}) {
    auto r = parse_input(bad);
    EXPECT_FALSE(r.is_ok()) << bad;
    if (!r.is_ok()) {
      EXPECT_NE(r.status().message().find("NAME@SITE:SIZE"), std::string::npos) << bad;
    }
  }
}

TEST(JobFileTest, FullFileParses) {
  auto spec = parse_job_file(R"(
name = "train"
command = "python3"
args = ["train.py", "--epochs", "3"]
max_time = "2h"
retries = 2
priority = 5
[resources]
gpus = 8
gpu_type = "H100"
cpus = 32
memory = "256G"
[env]
MODE = "fast"
[[inputs]]
dataset = "imagenet"
site = "dc-berlin"
size = "150G"
[constraints]
regions = ["eu"]
denied_operators = ["acme"]
[labels]
team = "vision"
)", "job.toml");
  ASSERT_TRUE(spec.is_ok()) << spec.status().to_string();
  EXPECT_EQ(spec->name, "train");
  EXPECT_EQ(spec->command, "python3");
  EXPECT_EQ(spec->args.size(), 3u);
  EXPECT_EQ(spec->max_run_time_s, 7200u);
  EXPECT_EQ(spec->max_retries, 2u);
  EXPECT_EQ(spec->priority, 5);
  EXPECT_EQ(spec->resources.gpus, 8u);
  EXPECT_EQ(spec->resources.gpu_type, "H100");
  EXPECT_EQ(spec->resources.memory_bytes, 256ull << 30);
  ASSERT_EQ(spec->env.size(), 1u);
  EXPECT_EQ(spec->env[0].key, "MODE");
  ASSERT_EQ(spec->inputs.size(), 1u);
  EXPECT_EQ(spec->inputs[0].size_bytes, 150ull << 30);
  EXPECT_EQ(spec->constraints.allowed_regions, std::vector<std::string>{"eu"});
  EXPECT_EQ(spec->constraints.denied_operators, std::vector<std::string>{"acme"});
  EXPECT_EQ(spec->labels.size(), 1u);
}

TEST(JobFileTest, ErrorsNameFileLineAndKey) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"name = \"x\"\n", "job.toml: command: missing"},
      {"command = \"x\"\ncolour = 1\n", "job.toml:2: colour: unknown key"},
      {"command = \"x\"\n[resources]\ngpus = \"many\"\n", "job.toml:3: resources.gpus: expected an integer"},
      {"command = \"x\"\nmax_time = \"soon\"\n", "job.toml:2: max_time:"},
      {"command = \"x\"\n[[inputs]]\ndataset = \"d\"\nsite = \"s\"\n", "inputs.size: missing"},
      {"command = \"x\"\n[resources]\nmemory = \"8Q\"\n", "job.toml:3: resources.memory:"},
      {"command = \"x\"\nargs = [1, 2]\n", "job.toml:2: args: expected a list of strings"},
      {"command = [\n", "job.toml:"},
  };
  for (const auto& c : cases) {
    auto r = parse_job_file(c.text, "job.toml");
    ASSERT_FALSE(r.is_ok()) << c.text;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(load_job_file("/nonexistent/job.toml").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace polder::node
