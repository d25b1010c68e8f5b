// The polder and polderd command lines (cli/args.h, cli/polderd_args.h):
// CLI11's parsing of every subcommand, flag and check, then, for a submit
// that parsed, the job spec built from its flags (spec_from).
//
// Input: the first byte picks the program (even: polder, odd: polderd); the
// rest is the words of the command line, separated by NUL bytes. A line
// that names a job file (-f) is parsed but its file is not read: the fuzzer
// could name /dev/stdin. Parsing reads no config and dials nothing.
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/polderd_args.h"
#include "fuzz/fuzz_util.h"

namespace {

std::vector<std::string> words_of(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> words;
  std::string word;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      words.push_back(std::move(word));
      word.clear();
    } else {
      word.push_back(static_cast<char>(data[i]));
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return {words.rbegin(), words.rend()};  // CLI11 takes them back to front
}

template <typename A, typename Make>
bool parse(A& args, Make make, std::vector<std::string> words) {
  auto app = make(args);
  try {
    app->parse(words);
  } catch (const CLI::Error&) {
    return false;
  }
  polder::cli::finish(*app, args);
  FUZZ_CHECK(!args.command.empty(), "a parse succeeded without a subcommand");
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace polder::cli;
  if (size == 0 || size > 4096) return 0;
  auto words = words_of(data + 1, size - 1);
  if (data[0] % 2 == 1) {
    DaemonArgs a;
    (void)parse(a, make_polderd_app, std::move(words));
    return 0;
  }
  Args a;
  if (!parse(a, make_app, std::move(words))) return 0;
  if (a.command == "submit" && a.submit.file.empty()) {
    auto spec = spec_from(a.submit);
    if (spec) FUZZ_CHECK(!spec->command.empty(), "a submitted spec has no command");
  }
  return 0;
}
