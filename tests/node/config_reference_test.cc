// The operator guide's configuration reference is checked against the
// parser's own key table, both ways: every key polderd.toml accepts is
// documented, and every key the reference documents is accepted.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "node/config.h"

namespace polder::node {
namespace {

std::string reference_section() {
  std::ifstream in(std::string(POLDER_SOURCE_DIR) + "/docs/operator-guide.md");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  auto start = text.find("## Configuration reference");
  if (start == std::string::npos) return "";
  auto end = text.find("\n## ", start + 1);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// `section.key` names in the first column of the reference's table rows.
std::set<std::string> documented_keys(const std::string& reference) {
  std::set<std::string> out;
  std::istringstream lines(reference);
  std::regex name("`([a-z_]+\\.[a-z_]+)`");
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    std::string first = line.substr(1, line.find('|', 1) - 1);
    for (std::sregex_iterator it(first.begin(), first.end(), name), end; it != end; ++it) out.insert((*it)[1]);
  }
  return out;
}

TEST(ConfigReference, EveryAcceptedKeyIsDocumentedAndEveryDocumentedKeyIsAccepted) {
  std::string reference = reference_section();
  ASSERT_FALSE(reference.empty()) << "docs/operator-guide.md has no \"## Configuration reference\"";
  std::set<std::string> documented = documented_keys(reference);
  std::vector<std::string> accepted = node_config_keys();
  ASSERT_GT(accepted.size(), 20u);
  for (const auto& key : accepted) {
    EXPECT_TRUE(documented.count(key)) << key << " is accepted by polderd but missing from the reference";
  }
  for (const auto& key : documented) {
    EXPECT_NE(std::find(accepted.begin(), accepted.end(), key), accepted.end())
        << key << " is documented but polderd refuses it";
  }
}

}  // namespace
}  // namespace polder::node
