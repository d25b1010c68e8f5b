#include "node/config.h"

#include <algorithm>
#include <cctype>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <utility>

#include <pwd.h>

#include <toml++/toml.h>

namespace polder::node {
namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t kConfigFileSizeBytesMax = 1 << 20;  // a config is a few KiB; refuse surprises
constexpr std::size_t kProblemsMax = 20;          // reported per file; the rest are counted
constexpr std::size_t kListEntriesMax = 10'000;   // members, keys, seeds, gpus
constexpr std::size_t kQuotedCharsMax = 120;      // of a bad value echoed in a message

// ---------------------------------------------------------------------------
// Text helpers

// A TOML basic string: what render_* writes and what messages quote.
std::string toml_quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

// A bad value for a message: quoted, and cut short so a huge value cannot
// flood the terminal.
std::string shown(std::string_view s) {
  if (s.size() <= kQuotedCharsMax) return toml_quote(s);
  return toml_quote(s.substr(0, kQuotedCharsMax)) + "...";
}

std::string join(std::span<const std::string_view> names) {
  std::string out;
  for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

// Levenshtein distance, for "did you mean" on misspelt keys. Both inputs are
// short (keys), the caller bounds them.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::optional<std::string_view> closest(std::string_view key, std::span<const std::string_view> names) {
  constexpr std::size_t kKeyCharsMax = 64;
  constexpr std::size_t kDistanceMax = 2;
  if (key.size() > kKeyCharsMax) return std::nullopt;
  std::optional<std::string_view> best;
  std::size_t best_distance = kDistanceMax + 1;
  for (auto n : names) {
    // "timeout" for "timeout_ms": a truncated name is as good a guess as a typo.
    const bool truncated = key.size() >= 3 && (n.starts_with(key) || key.starts_with(n));
    const std::size_t d = truncated ? 1 : edit_distance(key, n);
    if (d < best_distance && d < n.size()) {
      best = n;
      best_distance = d;
    }
  }
  return best;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// ---------------------------------------------------------------------------
// Problems: everything wrong with one file, reported together.

class Problems {
 public:
  explicit Problems(std::string file) : file_(std::move(file)) {}

  // line 0: the problem has no line (a missing key of a missing table).
  void add(std::uint32_t line, std::string text) { items_.push_back({line, std::move(text)}); }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }

  // In file order; problems without a line last.
  Status to_status() const {
    assert(!items_.empty() && "to_status needs at least one problem");
    auto sorted = items_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Item& a, const Item& b) { return rank(a) < rank(b); });
    std::string message;
    for (std::size_t i = 0; i < sorted.size() && i < kProblemsMax; ++i) {
      if (i > 0) message += "\n";
      message += file_;
      if (sorted[i].line > 0) message += ":" + std::to_string(sorted[i].line);
      message += ": " + sorted[i].text;
    }
    if (sorted.size() > kProblemsMax) {
      message += "\n" + file_ + ": ... and " + std::to_string(sorted.size() - kProblemsMax) + " more problem(s)";
    }
    return invalid_argument(std::move(message));
  }

 private:
  struct Item {
    std::uint32_t line;
    std::string text;
  };
  static std::uint32_t rank(const Item& item) {
    return item.line > 0 ? item.line : std::numeric_limits<std::uint32_t>::max();
  }

  std::string file_;
  std::vector<Item> items_;
};

// ---------------------------------------------------------------------------
// Field readers. Each checks one value and either returns it or records a
// problem naming the key and line, and returns nothing.

// One value in the file and its full dotted name ("network.seeds[1].key").
struct Field {
  const toml::node& node;
  std::string key;
  Problems& problems;

  std::uint32_t line() const { return node.source().begin.line; }
  void fail(const std::string& problem) const { problems.add(line(), key + ": " + problem); }
};

std::string describe(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string (" + shown(*n.value<std::string>()) + ")";
    case toml::node_type::integer: return "an integer (" + std::to_string(*n.value<std::int64_t>()) + ")";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return *n.value<bool>() ? "a boolean (true)" : "a boolean (false)";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

void fail_type(const Field& f, std::string_view expected) {
  f.fail("expected " + std::string(expected) + ", got " + describe(f.node));
}

template <typename T, typename U>
void assign(T& out, std::optional<U> value) {
  if (value) out = static_cast<T>(std::move(*value));
}

std::optional<std::string> get_string(const Field& f) {
  if (f.node.is_string()) return f.node.value<std::string>();
  fail_type(f, "a string");
  return std::nullopt;
}

std::optional<bool> get_bool(const Field& f) {
  if (f.node.is_boolean()) return f.node.value<bool>();
  fail_type(f, "a boolean (true or false)");
  return std::nullopt;
}

std::optional<std::int64_t> get_int(const Field& f, std::int64_t lo, std::int64_t hi) {
  if (!f.node.is_integer()) {
    fail_type(f, "an integer");
    return std::nullopt;
  }
  const std::int64_t v = *f.node.value<std::int64_t>();
  if (v < lo || v > hi) {
    f.fail(std::to_string(v) + " is out of range " + std::to_string(lo) + ".." + std::to_string(hi));
    return std::nullopt;
  }
  return v;
}

// A byte count: an integer, or a size string such as "16G".
std::optional<std::uint64_t> get_size(const Field& f, std::uint64_t lo, std::uint64_t hi) {
  std::uint64_t v = 0;
  if (f.node.is_integer()) {
    const std::int64_t i = *f.node.value<std::int64_t>();
    if (i < 0) {
      f.fail(std::to_string(i) + " is negative; expected a size in bytes");
      return std::nullopt;
    }
    v = static_cast<std::uint64_t>(i);
  } else if (f.node.is_string()) {
    auto parsed = parse_size_bytes(*f.node.value<std::string>());
    if (!parsed) {
      f.fail(parsed.status().message());
      return std::nullopt;
    }
    v = *parsed;
  } else {
    fail_type(f, "a size (an integer number of bytes or a string like \"16G\")");
    return std::nullopt;
  }
  if (v < lo || v > hi) {
    f.fail(std::to_string(v) + " bytes is out of range " + std::to_string(lo) + ".." + std::to_string(hi));
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> get_choice(const Field& f, std::span<const std::string_view> choices) {
  auto s = get_string(f);
  if (!s) return std::nullopt;
  if (std::find(choices.begin(), choices.end(), *s) != choices.end()) return s;
  f.fail(shown(*s) + " is not one of " + join(choices));
  return std::nullopt;
}

// "HOST:PORT" for the HTTP endpoint, or "" (off).
std::optional<std::string> get_http_listen(const Field& f) {
  auto s = get_string(f);
  if (!s || s->empty()) return s;
  auto colon = s->rfind(':');
  bool ok = colon != std::string::npos && colon > 0 && colon + 1 < s->size() && colon + 6 >= s->size();
  if (ok) {
    for (std::size_t i = colon + 1; i < s->size(); ++i) ok = ok && std::isdigit(static_cast<unsigned char>((*s)[i]));
  }
  if (ok) {
    long port = std::stol(s->substr(colon + 1));
    ok = port >= 1 && port <= 65535;
  }
  if (!ok) {
    f.fail(shown(*s) + " is not HOST:PORT (e.g. \"127.0.0.1:7402\"; \"\" turns HTTP off)");
    return std::nullopt;
  }
  return s;
}

// 1..64 characters of [A-Za-z0-9._-]: safe in logs, file names and tables.
std::optional<std::string> get_node_name(const Field& f) {
  auto s = get_string(f);
  if (!s) return std::nullopt;
  const bool chars_ok = std::all_of(s->begin(), s->end(), [](char c) { return is_name_char(c) || c == '.'; });
  if (s->empty() || s->size() > 64 || !chars_ok) {
    f.fail(shown(*s) + " is not a node name (1..64 characters of A-Z a-z 0-9 . _ -)");
    return std::nullopt;
  }
  return s;
}

// A free-form label (region, operator): 1..64 bytes, no control characters.
std::optional<std::string> get_label(const Field& f) {
  auto s = get_string(f);
  if (!s) return std::nullopt;
  const bool chars_ok = std::none_of(s->begin(), s->end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  if (s->empty() || s->size() > 64 || !chars_ok) {
    f.fail(shown(*s) + " is not a label (1..64 characters, no control characters)");
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> get_path(const Field& f) {
  auto s = get_string(f);
  if (!s) return std::nullopt;
  if (s->empty() || s->find('\0') != std::string::npos) {
    f.fail(shown(*s) + " is not a path");
    return std::nullopt;
  }
  return s;
}

std::string_view endpoint_host(std::string_view valid_endpoint) {
  const std::string_view rest = valid_endpoint.substr(std::string_view("tcp://").size());
  return rest.substr(0, rest.rfind(':'));
}
std::string_view endpoint_port(std::string_view valid_endpoint) {
  return valid_endpoint.substr(valid_endpoint.rfind(':') + 1);
}
bool is_wildcard_host(std::string_view host) { return host == "*" || host == "0.0.0.0"; }

enum class Wildcard { kAllowed, kRejected };

// A tcp://HOST:PORT endpoint. kRejected for addresses something dials:
// "*" is only meaningful to bind.
std::optional<std::string> get_endpoint(const Field& f, Wildcard wildcard) {
  auto s = get_string(f);
  if (!s) return std::nullopt;
  if (auto st = validate_tcp_endpoint(*s); !st.is_ok()) {
    f.fail(st.message());
    return std::nullopt;
  }
  if (wildcard == Wildcard::kRejected && is_wildcard_host(endpoint_host(*s))) {
    f.fail(shown(*s) + " names all interfaces; this address is dialled, so give a concrete host "
           "(e.g. tcp://node1.example.org:" + std::string(endpoint_port(*s)) + ")");
    return std::nullopt;
  }
  return s;
}

std::optional<NodeId> get_node_id(const Field& f) {
  auto s = get_string(f);
  if (!s) return std::nullopt;
  auto id = NodeId::from_hex(*s);
  if (!id) {
    f.fail(shown(*s) + " is not a node key: " + id.status().message());
    return std::nullopt;
  }
  return *id;
}

const toml::array* get_array(const Field& f, std::string_view expected) {
  const toml::array* arr = f.node.as_array();
  if (arr == nullptr) {
    fail_type(f, expected);
  } else if (arr->size() > kListEntriesMax) {
    f.fail("has " + std::to_string(arr->size()) + " entries; at most " + std::to_string(kListEntriesMax));
    return nullptr;
  }
  return arr;
}

Field element(const Field& f, const toml::node& node, std::size_t index) {
  return Field{node, f.key + "[" + std::to_string(index) + "]", f.problems};
}

// An array of hex node keys; duplicates are dropped (keeping the first).
std::optional<std::vector<NodeId>> get_node_ids(const Field& f) {
  const toml::array* arr = get_array(f, "an array of node keys (64 hex digits each)");
  if (arr == nullptr) return std::nullopt;
  std::vector<NodeId> out;
  std::set<NodeId> seen;
  bool ok = true;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    auto id = get_node_id(element(f, *arr->get(i), i));
    ok = ok && id.has_value();
    if (id && seen.insert(*id).second) out.push_back(*id);
  }
  if (!ok) return std::nullopt;
  return out;
}

// An array of distinct labels (operator names).
std::optional<std::vector<std::string>> get_labels(const Field& f) {
  const toml::array* arr = get_array(f, "an array of labels");
  if (arr == nullptr) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    auto label = get_label(element(f, *arr->get(i), i));
    ok = ok && label.has_value();
    if (label && std::find(out.begin(), out.end(), *label) == out.end()) out.push_back(*label);
  }
  if (!ok) return std::nullopt;
  return out;
}

// A user name that exists on this machine (getpwnam), so a typo stops the
// daemon at start instead of failing every job.
std::optional<std::string> get_user(const Field& f) {
  auto s = get_string(f);
  if (!s) return std::nullopt;
  const bool chars_ok = !s->empty() && s->size() <= 32 && std::all_of(s->begin(), s->end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
  if (!chars_ok) {
    f.fail(shown(*s) + " is not a user name (1..32 characters of A-Z a-z 0-9 . _ -)");
    return std::nullopt;
  }
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(s->c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    f.fail("no user " + shown(*s) + " on this machine (create it, e.g. useradd --system " + *s + ")");
    return std::nullopt;
  }
  return s;
}

// ---------------------------------------------------------------------------
// The table-driven key checker.

// What a table may contain: one rule per key.
template <typename Config>
struct KeyRule {
  std::string_view name;
  bool required;
  void (*read)(const Field&, Config&);
};
constexpr bool kRequired = true;
constexpr bool kOptional = false;

// Where a table sits, for messages.
struct Scope {
  std::string prefix;     // "network", "network.seeds[0]", "" for the top level
  std::string label;      // "[network]", "[[network.seeds]]", "this file"
  std::uint32_t line;     // of the table header; 0 when absent or implicit
  bool present;           // false: the table itself is missing from the file
};

std::string dotted(const Scope& scope, std::string_view key) {
  return scope.prefix.empty() ? std::string(key) : scope.prefix + "." + std::string(key);
}

template <typename Rule>
std::vector<std::string_view> rule_names(std::span<const Rule> rules) {
  std::vector<std::string_view> names;
  for (const auto& r : rules) names.push_back(r.name);
  return names;
}

std::string unknown_key_message(const Scope& scope, std::string_view key, std::span<const std::string_view> known,
                                std::string_view known_what) {
  std::string m = "unknown key " + dotted(scope, key);
  if (auto guess = closest(key, known)) m += " (did you mean " + dotted(scope, *guess) + "?)";
  return m + "; known " + std::string(known_what) + " in " + scope.label + ": " + join(known);
}

std::uint32_t key_line(const toml::key& key, const toml::node& node) {
  const std::uint32_t line = key.source().begin.line;
  return line > 0 ? line : node.source().begin.line;
}

template <typename Config>
void check_table(const toml::table& table, const Scope& scope, std::span<const KeyRule<Config>> rules,
                 Config& cfg, Problems& problems) {
  const auto names = rule_names(rules);
  for (auto&& [key, node] : table) {
    // The name is captured by value: clang before 16 (which builds the fuzz
    // targets) cannot capture a structured binding in a lambda.
    auto rule = std::find_if(rules.begin(), rules.end(), [name = key.str()](const auto& r) { return r.name == name; });
    if (rule == rules.end()) {
      problems.add(key_line(key, node), unknown_key_message(scope, key.str(), names, "keys"));
      continue;
    }
    rule->read(Field{node, dotted(scope, key.str()), problems}, cfg);
  }
  for (const auto& rule : rules) {
    if (!rule.required || table.contains(rule.name)) continue;
    std::string m = dotted(scope, rule.name) + ": required key is missing";
    if (!scope.present) m += " (add it under " + scope.label + ")";
    problems.add(scope.line, std::move(m));
  }
}

// An array of tables ([[network.seeds]]), each checked against `rules`.
template <typename Decl>
std::optional<std::vector<Decl>> get_table_array(const Field& f, std::span<const KeyRule<Decl>> rules) {
  const std::string label = "[[" + f.key + "]]";
  const toml::array* arr = get_array(f, "an array of tables " + label);
  if (arr == nullptr) return std::nullopt;
  std::vector<Decl> out;
  const std::size_t problems_before = f.problems.size();
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const Field e = element(f, *arr->get(i), i);
    const toml::table* t = e.node.as_table();
    if (t == nullptr) {
      fail_type(e, "a table");
      continue;
    }
    Decl decl;
    check_table(*t, Scope{e.key, label, e.line(), true}, rules, decl, f.problems);
    out.push_back(std::move(decl));
  }
  if (f.problems.size() != problems_before) return std::nullopt;
  return out;
}

// ---------------------------------------------------------------------------
// polderd.toml schema

constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error", "off"};

const KeyRule<PeerDecl> kSeedKeys[] = {
    {"key", kRequired, [](const Field& f, PeerDecl& d) { assign(d.key, get_node_id(f)); }},
    {"address", kRequired,
     [](const Field& f, PeerDecl& d) { assign(d.address, get_endpoint(f, Wildcard::kRejected)); }},
};

std::optional<std::string> get_gpu_type(const Field& f) {
  auto s = get_string(f);
  if (!s) return std::nullopt;
  if (s->empty() || s->size() > 64 || !std::all_of(s->begin(), s->end(), is_name_char)) {
    f.fail(shown(*s) + " is not a GPU type (1..64 characters of A-Z a-z 0-9 _ -, e.g. \"H100\")");
    return std::nullopt;
  }
  return s;
}

const KeyRule<GpuDecl> kGpuKeys[] = {
    {"type", kRequired, [](const Field& f, GpuDecl& d) { assign(d.type, get_gpu_type(f)); }},
    {"count", kRequired, [](const Field& f, GpuDecl& d) { assign(d.count, get_int(f, 1, 1024)); }},
};

// Two entries for one peer or one GPU model are ambiguous: which address, which count?
template <typename Decl, typename Id>
bool no_duplicates(const Field& f, const std::vector<Decl>& decls, Id Decl::*id, std::string_view what) {
  for (std::size_t i = 0; i < decls.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (decls[i].*id != decls[j].*id) continue;
      element(f, *f.node.as_array()->get(i), i).fail("same " + std::string(what) + " as " + f.key + "[" +
                                                     std::to_string(j) + "]; merge the two entries");
      return false;
    }
  }
  return true;
}

void read_seeds(const Field& f, NodeConfig& c) {
  auto seeds = get_table_array<PeerDecl>(f, kSeedKeys);
  if (seeds && no_duplicates(f, *seeds, &PeerDecl::key, "key")) c.seeds = std::move(*seeds);
}

void read_gpus(const Field& f, NodeConfig& c) {
  auto gpus = get_table_array<GpuDecl>(f, kGpuKeys);
  if (gpus && no_duplicates(f, *gpus, &GpuDecl::type, "type")) c.gpus = std::move(*gpus);
}

const KeyRule<NodeConfig> kNodeKeys[] = {
    {"name", kRequired, [](const Field& f, NodeConfig& c) { assign(c.name, get_node_name(f)); }},
    {"data_dir", kRequired, [](const Field& f, NodeConfig& c) { assign(c.data_dir, get_path(f)); }},
    {"key_file", kOptional, [](const Field& f, NodeConfig& c) { assign(c.key_file, get_path(f)); }},
    {"region", kOptional, [](const Field& f, NodeConfig& c) { assign(c.region, get_label(f)); }},
    {"operator", kOptional, [](const Field& f, NodeConfig& c) { assign(c.operator_name, get_label(f)); }},
};

const KeyRule<NodeConfig> kNetworkKeys[] = {
    {"listen", kRequired, [](const Field& f, NodeConfig& c) { assign(c.listen, get_endpoint(f, Wildcard::kAllowed)); }},
    {"client_listen", kRequired,
     [](const Field& f, NodeConfig& c) { assign(c.client_listen, get_endpoint(f, Wildcard::kAllowed)); }},
    {"http_listen", kOptional, [](const Field& f, NodeConfig& c) { assign(c.http_listen, get_http_listen(f)); }},
    {"advertise", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.advertise, get_endpoint(f, Wildcard::kRejected)); }},
    {"seeds", kOptional, read_seeds},
    {"max_message_bytes", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.max_message_bytes, get_size(f, 1 << 10, 64 << 20)); }},
    {"send_hwm", kOptional, [](const Field& f, NodeConfig& c) { assign(c.send_hwm, get_int(f, 1, 1'000'000)); }},
    {"reconnect_ivl_ms", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.reconnect_ivl_ms, get_int(f, 10, 60'000)); }},
};

const KeyRule<NodeConfig> kFederationKeys[] = {
    {"members", kOptional, [](const Field& f, NodeConfig& c) { assign(c.members, get_node_ids(f)); }},
    {"founders", kOptional, [](const Field& f, NodeConfig& c) { assign(c.founders, get_node_ids(f)); }},
};

const KeyRule<NodeConfig> kClientKeys[] = {
    {"authorized_keys", kOptional, [](const Field& f, NodeConfig& c) { assign(c.authorized_keys, get_node_ids(f)); }},
    {"admin_keys", kOptional, [](const Field& f, NodeConfig& c) { assign(c.admin_keys, get_node_ids(f)); }},
};

const KeyRule<NodeConfig> kResourcesKeys[] = {
    {"cpus", kOptional, [](const Field& f, NodeConfig& c) { assign(c.cpus, get_int(f, 1, 1'000'000)); }},
    {"memory", kOptional,
     [](const Field& f, NodeConfig& c) {
       assign(c.memory_bytes, get_size(f, 1, std::numeric_limits<std::uint64_t>::max()));
     }},
    {"gpus", kOptional, read_gpus},
};

constexpr std::string_view kGossipProfiles[] = {"lan", "wan"};

const KeyRule<NodeConfig> kGossipKeys[] = {
    {"profile", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.gossip_profile, get_choice(f, kGossipProfiles)); }},
    {"probe_interval_ms", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.gossip_probe_interval_ms, get_int(f, 10, 60'000)); }},
    {"probe_timeout_ms", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.gossip_probe_timeout_ms, get_int(f, 1, 60'000)); }},
    {"suspicion_mult", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.gossip_suspicion_mult, get_int(f, 1, 100)); }},
    {"gossip_interval_ms", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.gossip_interval_ms, get_int(f, 10, 60'000)); }},
    {"fanout", kOptional, [](const Field& f, NodeConfig& c) { assign(c.gossip_fanout, get_int(f, 1, 32)); }},
    {"retransmit_mult", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.gossip_retransmit_mult, get_int(f, 1, 20)); }},
    {"push_pull_interval_s", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.gossip_push_pull_interval_s, get_int(f, 1, 86'400)); }},
    {"dead_reap_after_s", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.gossip_dead_reap_after_s, get_int(f, 1, 604'800)); }},
};

const KeyRule<NodeConfig> kJobsKeys[] = {
    {"default_max_time_s", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.jobs_default_max_time_s, get_int(f, 1, 7'776'000)); }},
    {"lease_ms", kOptional, [](const Field& f, NodeConfig& c) { assign(c.jobs_lease_ms, get_int(f, 1000, 600'000)); }},
    {"log_cap", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.jobs_log_cap_bytes, get_size(f, 1024, std::uint64_t{1} << 34)); }},
    {"replicas", kOptional, [](const Field& f, NodeConfig& c) { assign(c.jobs_replicas, get_int(f, 1, 7)); }},
    {"reservation_ttl_ms", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.jobs_reservation_ttl_ms, get_int(f, 100, 300'000)); }},
    {"work_dir", kOptional, [](const Field& f, NodeConfig& c) { assign(c.jobs_work_dir, get_string(f)); }},
    {"queued_retry_ms", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.jobs_queued_retry_ms, get_int(f, 10, 600'000)); }},
    {"queued_retry_max_ms", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.jobs_queued_retry_max_ms, get_int(f, 10, 600'000)); }},
    {"offer_interval_ms", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.jobs_offer_interval_ms, get_int(f, 0, 60'000)); }},
    {"offer_jobs_max", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.jobs_offer_jobs_max, get_int(f, 1, 1'000)); }},
    {"admission_lag_ms", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.jobs_admission_lag_ms, get_int(f, 0, 600'000)); }},
    {"accept_operators", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.jobs_accept_operators, get_labels(f)); }},
    {"run_as_user", kOptional, [](const Field& f, NodeConfig& c) { assign(c.jobs_run_as_user, get_user(f)); }},
};

const KeyRule<NodeConfig> kLimitsKeys[] = {
    {"peer_messages_per_s", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.limits_peer_messages_per_s, get_int(f, 0, 10'000'000)); }},
    {"peer_bytes_per_s", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.limits_peer_bytes_per_s, get_size(f, 0, std::uint64_t{64} << 30)); }},
    {"client_messages_per_s", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.limits_client_messages_per_s, get_int(f, 0, 10'000'000)); }},
    {"client_bytes_per_s", kOptional,
     [](const Field& f, NodeConfig& c) {
       assign(c.limits_client_bytes_per_s, get_size(f, 0, std::uint64_t{64} << 30));
     }},
    {"ban_s", kOptional, [](const Field& f, NodeConfig& c) { assign(c.limits_ban_s, get_int(f, 0, 86'400)); }},
    {"client_jobs_max", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.limits_client_jobs_max, get_int(f, 0, 100'000'000)); }},
    {"peer_jobs_max", kOptional,
     [](const Field& f, NodeConfig& c) { assign(c.limits_peer_jobs_max, get_int(f, 0, 100'000'000)); }},
};

const KeyRule<NodeConfig> kLogKeys[] = {
    {"level", kOptional, [](const Field& f, NodeConfig& c) { assign(c.log_level, get_choice(f, kLogLevels)); }},
    {"json", kOptional, [](const Field& f, NodeConfig& c) { assign(c.log_json, get_bool(f)); }},
};

// The top level of polderd.toml holds only these tables.
struct Section {
  std::string_view name;
  std::span<const KeyRule<NodeConfig>> keys;
};
const Section kSections[] = {
    {"node", kNodeKeys},         {"network", kNetworkKeys}, {"federation", kFederationKeys},
    {"client", kClientKeys},     {"resources", kResourcesKeys}, {"gossip", kGossipKeys},
    {"jobs", kJobsKeys},         {"limits", kLimitsKeys},   {"log", kLogKeys},
};

void check_sections(const toml::table& root, NodeConfig& cfg, Problems& problems) {
  const auto names = rule_names<Section>(kSections);
  const Scope top{"", "this file", 0, true};
  for (auto&& [key, node] : root) {
    auto known = std::find(names.begin(), names.end(), key.str());
    if (known == names.end()) {
      problems.add(key_line(key, node), unknown_key_message(top, key.str(), names, "tables"));
    } else if (!node.is_table()) {
      fail_type(Field{node, std::string(key.str()), problems}, "a table [" + std::string(key.str()) + "]");
    }
  }
  const toml::table absent;
  for (const auto& section : kSections) {
    const toml::node* node = root.get(section.name);
    if (node != nullptr && !node->is_table()) continue;  // reported above
    const toml::table& table = node != nullptr ? *node->as_table() : absent;
    const std::string name(section.name);
    check_table(table, Scope{name, "[" + name + "]", table.source().begin.line, node != nullptr}, section.keys, cfg,
                problems);
  }
}

// ---------------------------------------------------------------------------
// Loading

std::uint32_t line_at(const toml::table& root, std::string_view path) {
  const toml::node* n = root.at_path(path).node();
  return n != nullptr ? n->source().begin.line : 0;
}

// Relative paths are relative to the config file, not to wherever the daemon
// happened to be started.
std::string resolve(const fs::path& base_dir, const std::string& path) {
  const fs::path p(path);
  if (p.is_absolute() || base_dir.empty()) return p.lexically_normal().string();
  return (base_dir / p).lexically_normal().string();
}

// Both bind: the same port on the same (or a wildcard) host cannot work.
bool endpoints_collide(std::string_view a, std::string_view b) {
  const auto ha = endpoint_host(a), hb = endpoint_host(b);
  return endpoint_port(a) == endpoint_port(b) && (ha == hb || is_wildcard_host(ha) || is_wildcard_host(hb));
}

void add_unique(std::vector<NodeId>& ids, const NodeId& id) {
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
}

// Checks across keys and fills in derived values; runs on a config whose
// individual keys are all valid.
void finish_node_config(const toml::table& root, const fs::path& base_dir, NodeConfig& c, Problems& problems) {
  if (endpoints_collide(c.listen, c.client_listen)) {
    problems.add(line_at(root, "network.client_listen"),
                 "network.client_listen: " + shown(c.client_listen) + " uses the same port as network.listen (" +
                     shown(c.listen) + "); peers and the CLI need separate ports");
  }
  if (c.jobs_queued_retry_max_ms < c.jobs_queued_retry_ms) {
    problems.add(line_at(root, "jobs.queued_retry_max_ms"),
                 "jobs.queued_retry_max_ms (" + std::to_string(c.jobs_queued_retry_max_ms) +
                     ") must be at least jobs.queued_retry_ms (" + std::to_string(c.jobs_queued_retry_ms) + ")");
  }
  if (c.advertise.empty()) c.advertise = c.listen;
  for (const auto& seed : c.seeds) add_unique(c.members, seed.key);  // the daemon admits members only
  for (const auto& key : c.admin_keys) add_unique(c.authorized_keys, key);  // an admin is a client too
  c.data_dir = resolve(base_dir, c.data_dir);
  c.key_file = resolve(base_dir, c.key_file);
  c.jobs_work_dir = c.jobs_work_dir.empty() ? (fs::path(c.data_dir) / "work").string() : resolve(base_dir, c.jobs_work_dir);
}

// Parse errors carry their own line; everything else here is a bug in toml++
// or an allocation failure, still reported rather than thrown.
Result<toml::table> parse_toml(std::string_view text, const std::string& path) {
  try {
    return toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return invalid_argument(path + ":" + std::to_string(at.line) + ": TOML syntax error (column " +
                            std::to_string(at.column) + "): " + std::string(e.description()));
  } catch (const std::exception& e) {
    return internal_error(path + ": cannot parse: " + e.what());
  }
}

Result<NodeConfig> parse_node_config_in(std::string_view text, const std::string& path, const fs::path& base_dir) {
  auto root = parse_toml(text, path);
  if (!root) return root.status();
  NodeConfig cfg;
  cfg.config_path = path;
  Problems problems(path);
  check_sections(*root, cfg, problems);
  if (problems.empty()) finish_node_config(*root, base_dir, cfg, problems);
  if (!problems.empty()) return problems.to_status();
  assert(!cfg.advertise.empty() && "advertise defaults to listen");
  return cfg;
}

const KeyRule<ClientConfig> kClientConfigKeys[] = {
    {"node_address", kRequired,
     [](const Field& f, ClientConfig& c) { assign(c.node_address, get_endpoint(f, Wildcard::kRejected)); }},
    {"node_key", kRequired, [](const Field& f, ClientConfig& c) { assign(c.node_key, get_node_id(f)); }},
    {"key_file", kOptional, [](const Field& f, ClientConfig& c) { assign(c.key_file, get_path(f)); }},
    {"timeout_ms", kOptional, [](const Field& f, ClientConfig& c) { assign(c.timeout_ms, get_int(f, 100, 600'000)); }},
};

Result<ClientConfig> parse_client_config_in(std::string_view text, const std::string& path, const fs::path& base_dir) {
  auto root = parse_toml(text, path);
  if (!root) return root.status();
  ClientConfig cfg;
  Problems problems(path);
  check_table<ClientConfig>(*root, Scope{"", "this file", 0, true}, kClientConfigKeys, cfg, problems);
  if (!problems.empty()) return problems.to_status();
  cfg.key_file = resolve(base_dir, cfg.key_file);
  return cfg;
}

Result<std::string> read_config_file(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) return not_found("config file " + path + " does not exist");
  if (ec) return permission_denied("cannot read config file " + path + ": " + ec.message());
  if (!fs::is_regular_file(st)) return invalid_argument("config file " + path + " is not a regular file");
  const std::uintmax_t size_bytes = fs::file_size(path, ec);
  if (!ec && size_bytes > kConfigFileSizeBytesMax) {
    return resource_exhausted("config file " + path + " is " + std::to_string(size_bytes) + " bytes; at most " +
                              std::to_string(kConfigFileSizeBytesMax));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return permission_denied("cannot read config file " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return unavailable("cannot read config file " + path);
  return text.str();
}

fs::path absolute_dir_of(const std::string& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  return ec ? fs::path(path).parent_path() : abs.parent_path();
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API

Result<NodeConfig> parse_node_config(std::string_view toml_text, const std::string& path_for_messages) {
  return parse_node_config_in(toml_text, path_for_messages, fs::path(path_for_messages).parent_path());
}

std::vector<std::string> node_config_keys() {
  std::vector<std::string> out;
  for (const auto& section : kSections) {
    for (const auto& key : section.keys) out.push_back(std::string(section.name) + "." + std::string(key.name));
  }
  return out;
}

Result<NodeConfig> load_node_config(const std::string& path) {
  auto text = read_config_file(path);
  if (!text) return text.status();
  return parse_node_config_in(*text, path, absolute_dir_of(path));
}

Result<ClientConfig> parse_client_config(std::string_view toml_text, const std::string& path_for_messages) {
  return parse_client_config_in(toml_text, path_for_messages, fs::path(path_for_messages).parent_path());
}

Result<ClientConfig> load_client_config(const std::string& path) {
  auto text = read_config_file(path);
  if (!text) return text.status();
  return parse_client_config_in(*text, path, absolute_dir_of(path));
}

Result<std::uint64_t> parse_size_bytes(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return invalid_argument(shown(text) + " is not a size: " + std::string(why) +
                            " (expected e.g. 42, 100K, 512M, 1.5G or 1T)");
  };
  constexpr std::size_t kWholeDigitsMax = 20;     // 2^64 has 20 digits
  constexpr std::size_t kFractionDigitsMax = 19;  // far beyond a byte's precision
  std::size_t i = 0;
  while (i < text.size() && is_digit(text[i])) ++i;
  const std::string_view whole = text.substr(0, i);
  std::string_view fraction;
  if (i < text.size() && text[i] == '.') {
    const std::size_t start = ++i;
    while (i < text.size() && is_digit(text[i])) ++i;
    fraction = text.substr(start, i - start);
    if (fraction.empty()) return bad("expected digits after '.'");
  }
  const std::string_view suffix = text.substr(i);
  if (whole.empty()) return bad(text.empty() ? "it is empty" : "it must start with a digit");
  if (whole.size() > kWholeDigitsMax || fraction.size() > kFractionDigitsMax) return bad("too many digits");
  int shift = 0;
  if (suffix.size() == 1) {
    constexpr std::string_view kUnits = "KMGT";
    const auto unit = kUnits.find(static_cast<char>(suffix[0] & ~0x20));  // either case
    if (unit == std::string_view::npos) return bad("unknown suffix " + shown(suffix) + "; use K, M, G or T");
    shift = 10 * static_cast<int>(unit + 1);
  } else if (!suffix.empty()) {
    return bad("unknown suffix " + shown(suffix) + "; use K, M, G or T");
  }
  if (!fraction.empty() && shift == 0) return bad("a fraction needs a K, M, G or T suffix");

  using u128 = unsigned __int128;  // whole < 10^20 and fraction < 10^19, so nothing below overflows
  u128 whole_value = 0, fraction_value = 0, scale = 1;
  for (char c : whole) whole_value = whole_value * 10 + static_cast<unsigned>(c - '0');
  for (char c : fraction) {
    fraction_value = fraction_value * 10 + static_cast<unsigned>(c - '0');
    scale *= 10;
  }
  // Fractions round down to whole bytes: "1.1G" is 1181116006 bytes.
  const u128 bytes = (whole_value << shift) + (fraction_value << shift) / scale;
  if (bytes > std::numeric_limits<std::uint64_t>::max()) return bad("too large (at most 2^64-1 bytes)");
  return static_cast<std::uint64_t>(bytes);
}

namespace {

// Dotted decimal, four octets 0..255.
bool is_ipv4(std::string_view host) {
  int octets = 0;
  std::size_t start = 0;
  while (start <= host.size()) {
    const std::size_t dot = std::min(host.find('.', start), host.size());
    const std::string_view octet = host.substr(start, dot - start);
    if (octet.empty() || octet.size() > 3 || !std::all_of(octet.begin(), octet.end(), is_digit)) return false;
    if (std::stoi(std::string(octet)) > 255 || ++octets > 4) return false;
    start = dot + 1;
  }
  return octets == 4;
}

// RFC 1123: labels of 1..63 letters, digits and '-', not starting or ending with '-'.
bool is_hostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::size_t start = 0;
  while (start <= host.size()) {
    const std::size_t dot = std::min(host.find('.', start), host.size());
    const std::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return is_name_char(c) && c != '_'; })) return false;
    start = dot + 1;
  }
  return true;
}

}  // namespace

Status validate_tcp_endpoint(std::string_view endpoint) {
  constexpr std::string_view kScheme = "tcp://";
  const std::string not_tcp = shown(endpoint) + " is not a ZeroMQ TCP address";
  auto bad = [&](const std::string& why) {
    return invalid_argument(not_tcp + ": " + why + " (expected tcp://HOST:PORT)");
  };
  if (!endpoint.starts_with(kScheme)) return invalid_argument(not_tcp + " (expected tcp://HOST:PORT)");
  const std::string_view rest = endpoint.substr(kScheme.size());
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return bad("missing :PORT");
  const std::string_view host = rest.substr(0, colon);
  const std::string_view port = rest.substr(colon + 1);
  if (host.empty()) return bad("missing HOST");
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), is_digit)) {
    return bad("port " + shown(port) + " is not a number 1..65535");
  }
  const int port_number = std::stoi(std::string(port));
  if (port_number < 1 || port_number > 65535) return bad("port " + std::to_string(port_number) + " is not in 1..65535");
  if (host == "*" || host == "localhost") return Status::ok();
  const bool looks_numeric = std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; });
  if (looks_numeric) return is_ipv4(host) ? Status::ok() : bad(shown(host) + " is not an IPv4 address");
  if (!is_hostname(host)) return bad(shown(host) + " is not an IPv4 address, \"*\", \"localhost\" or a hostname");
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Rendering

namespace {

// "# comment\nkey = value\n"; a multi-line comment is given with '\n's.
void put(std::string& out, std::string_view comment, std::string_view key, const std::string& value) {
  std::size_t start = 0;
  while (start < comment.size()) {
    const std::size_t end = std::min(comment.find('\n', start), comment.size());
    out += "# " + std::string(comment.substr(start, end - start)) + "\n";
    start = end + 1;
  }
  out += std::string(key) + " = " + value + "\n";
}

std::string render_ids(const std::vector<NodeId>& ids) {
  if (ids.empty()) return "[]";
  std::string out = "[\n";
  for (const auto& id : ids) out += "  " + toml_quote(id.hex()) + ",\n";
  return out + "]";
}

std::string render_labels(const std::vector<std::string>& labels) {
  std::string out = "[";
  for (std::size_t i = 0; i < labels.size(); ++i) out += (i ? ", " : "") + toml_quote(labels[i]);
  return out + "]";
}

// Largest exact unit, so the text reads as an operator would write it.
std::string render_size(std::uint64_t bytes) {
  constexpr std::string_view kUnits = "TGMK";
  for (std::size_t i = 0; i < kUnits.size(); ++i) {
    const int shift = 10 * static_cast<int>(kUnits.size() - i);
    if (bytes != 0 && bytes % (std::uint64_t{1} << shift) == 0) {
      return toml_quote(std::to_string(bytes >> shift) + kUnits[i]);
    }
  }
  return std::to_string(bytes);
}

void render_node_section(std::string& out, const NodeConfig& c) {
  out += "[node]\n";
  put(out, "Name shown in logs and `polder nodes`: 1..64 characters of A-Z a-z 0-9 . _ -", "name", toml_quote(c.name));
  put(out, "Directory of the node's database (RocksDB). Relative paths are relative to this file.", "data_dir",
      toml_quote(c.data_dir));
  put(out, "The node's private key (its public half is the node id). Keep it mode 0600.", "key_file",
      toml_quote(c.key_file));
  put(out, "Region label, used by placement constraints.", "region", toml_quote(c.region));
  put(out, "Operator label: who runs this node.", "operator", toml_quote(c.operator_name));
}

void render_seeds(std::string& out, const std::vector<PeerDecl>& seeds) {
  out += "\n# Seed peers dialled at start-up; each one is also a federation member. Add one block per peer:\n";
  if (seeds.empty()) {
    out += "# [[network.seeds]]\n# key = \"<the peer's node id: 64 hex digits>\"\n"
           "# address = \"tcp://peer.example.org:7400\"\n";
  }
  for (const auto& seed : seeds) {
    out += "[[network.seeds]]\n";
    out += "key = " + toml_quote(seed.key.hex()) + "\n";
    out += "address = " + toml_quote(seed.address) + "\n";
  }
}

void render_network_section(std::string& out, const NodeConfig& c) {
  out += "\n[network]\n";
  put(out, "Where peers connect: tcp://HOST:PORT (HOST an IPv4 address, a hostname, localhost or * for all).",
      "listen", toml_quote(c.listen));
  put(out, "Where the `polder` CLI connects; admits only [client] authorized_keys.", "client_listen",
      toml_quote(c.client_listen));
  const std::string http_comment =
      "HTTP for operators: /metrics (Prometheus), /healthz, the dashboard at /. HOST:PORT; keep it on localhost.";
  if (c.http_listen.empty()) {
    out += "# " + http_comment + "\n# http_listen = \"127.0.0.1:7402\"\n";
  } else {
    put(out, http_comment, "http_listen", toml_quote(c.http_listen));
  }
  const std::string advertise_comment = "Address peers should dial to reach this node (default: listen).";
  if (c.advertise.empty() || c.advertise == c.listen) {
    out += "# " + advertise_comment + "\n# advertise = \"tcp://node1.example.org:7400\"\n";
  } else {
    put(out, advertise_comment, "advertise", toml_quote(c.advertise));
  }
  put(out, "Largest message accepted from a peer or client: 1K .. 64M.", "max_message_bytes",
      render_size(c.max_message_bytes));
  put(out, "ZeroMQ high-water mark: messages queued per peer; beyond it new messages are dropped (and counted) (1..1000000).", "send_hwm",
      std::to_string(c.send_hwm));
  put(out, "Milliseconds between reconnection attempts to a lost peer (10..60000).", "reconnect_ivl_ms",
      std::to_string(c.reconnect_ivl_ms));
  render_seeds(out, c.seeds);
}

void render_gpus(std::string& out, const std::vector<GpuDecl>& gpus) {
  out += "\n# GPUs offered to jobs, one block per model (type: A-Z a-z 0-9 _ -; count 1..1024):\n";
  if (gpus.empty()) out += "# [[resources.gpus]]\n# type = \"H100\"\n# count = 4\n";
  for (const auto& gpu : gpus) {
    out += "[[resources.gpus]]\n";
    out += "type = " + toml_quote(gpu.type) + "\n";
    out += "count = " + std::to_string(gpu.count) + "\n";
  }
}

void render_gossip_override(std::string& out, std::string_view key, const std::optional<int>& value,
                            std::string_view example) {
  if (value) {
    out += std::string(key) + " = " + std::to_string(*value) + "\n";
  } else {
    out += "# " + std::string(key) + " = " + std::string(example) + "\n";
  }
}

void render_gossip(std::string& out, const NodeConfig& c) {
  out += "\n[gossip]\n";
  put(out, "Membership timing: \"lan\" (one data centre, fast detection) or \"wan\" (sites across regions).",
      "profile", toml_quote(c.gossip_profile));
  out += "# Overrides of the profile (defaults scale with the number of members):\n";
  render_gossip_override(out, "probe_interval_ms", c.gossip_probe_interval_ms, "1000");
  render_gossip_override(out, "probe_timeout_ms", c.gossip_probe_timeout_ms, "500");
  render_gossip_override(out, "suspicion_mult", c.gossip_suspicion_mult, "4");
  render_gossip_override(out, "gossip_interval_ms", c.gossip_interval_ms, "200");
  render_gossip_override(out, "fanout", c.gossip_fanout, "3");
  render_gossip_override(out, "retransmit_mult", c.gossip_retransmit_mult, "4");
  render_gossip_override(out, "push_pull_interval_s", c.gossip_push_pull_interval_s, "30");
  render_gossip_override(out, "dead_reap_after_s", c.gossip_dead_reap_after_s, "600");
}

void render_other_sections(std::string& out, const NodeConfig& c) {
  out += "\n[federation]\n";
  put(out, "Node ids (64 hex digits) of the peers admitted to this federation; seeds are added automatically.",
      "members", render_ids(c.members));
  put(out,
      "Keys of the federation's founding operators (their CLI keys): a revocation (`polder revoke`) signed by one "
      "of them is honoured; [] = only a key's own.",
      "founders", render_ids(c.founders));
  out += "\n[client]\n";
  put(out, "Public keys (64 hex digits) of the CLI users allowed on client_listen.", "authorized_keys",
      render_ids(c.authorized_keys));
  put(out,
      "CLI keys that may read and cancel every job (the operator's); the other keys see and cancel only their "
      "own jobs. Admin keys are admitted even when not listed above.",
      "admin_keys", render_ids(c.admin_keys));
  out += "\n[resources]\n";
  put(out, "CPU cores offered to jobs (at least 1).", "cpus", std::to_string(c.cpus));
  put(out, "Memory offered to jobs: bytes, or a size such as \"512M\", \"16G\", \"1T\".", "memory",
      render_size(c.memory_bytes));
  render_gpus(out, c.gpus);
  render_gossip(out, c);
  out += "\n[jobs]\n";
  put(out, "Maximum run time of a job that names none (seconds); the executor enforces it.", "default_max_time_s",
      std::to_string(c.jobs_default_max_time_s));
  put(out, "Executor lease (ms): an attempt whose executor cannot renew it from a majority of the job's replicas\n"
           "is stopped; the replicas start the next attempt only after it lapsed (plus a third).",
      "lease_ms", std::to_string(c.jobs_lease_ms));
  put(out, "stdout+stderr kept per job attempt; output beyond it is dropped.", "log_cap",
      render_size(c.jobs_log_cap_bytes));
  put(out, "Replica set size of jobs submitted here (1..7; they vote on who runs the job).", "replicas",
      std::to_string(c.jobs_replicas));
  put(out, "An executor's unconfirmed reservation expires after this (ms).", "reservation_ttl_ms",
      std::to_string(c.jobs_reservation_ttl_ms));
  put(out, "A job no node can start now is placed again after this (ms), doubling up to queued_retry_max_ms;\n"
           "work offers from nodes whose capacity frees place it at once.",
      "queued_retry_ms", std::to_string(c.jobs_queued_retry_ms));
  put(out, "Longest wait (ms) between two placement tries of a waiting job.", "queued_retry_max_ms",
      std::to_string(c.jobs_queued_retry_max_ms));
  put(out, "Work offers: with capacity free, offer it to each peer with waiting jobs at most this often (ms);\n"
           "a peer's offers are honoured at most this often too. 0 = no offers.",
      "offer_interval_ms", std::to_string(c.jobs_offer_interval_ms));
  put(out, "Jobs one honoured work offer places on the node that offered.", "offer_jobs_max",
      std::to_string(c.jobs_offer_jobs_max));
  put(out, "Admission: refuse submits here (retryable) while the oldest job accepted here has waited this long\n"
           "to be placed and started (ms; jobs waiting for capacity held by running jobs do not count, those refused\n"
           "capacity held by undecided reservations do). 0 = never refuse.",
      "admission_lag_ms", std::to_string(c.jobs_admission_lag_ms));
  if (c.jobs_work_dir.empty() || c.jobs_work_dir == (fs::path(c.data_dir) / "work").string()) {
    out += "# Where job attempts run (default: <data_dir>/work):\n# work_dir = \"/var/lib/polder/work\"\n";
  } else {
    put(out, "Where job attempts run.", "work_dir", toml_quote(c.jobs_work_dir));
  }
  put(out, "Operators whose jobs this node runs (their nodes' [node] operator); [] = every operator's.",
      "accept_operators", render_labels(c.jobs_accept_operators));
  if (c.jobs_run_as_user.empty()) {
    out += "# When polderd runs as root, run jobs as this unprivileged user (it must exist):\n"
           "# run_as_user = \"polder-job\"\n";
  } else {
    put(out, "When polderd runs as root, jobs run as this unprivileged user (it must exist).", "run_as_user",
        toml_quote(c.jobs_run_as_user));
  }
  out += "\n[limits]\n";
  put(out, "Per-peer-key message rate (messages/s) beyond which its messages are dropped; 0 = unlimited.",
      "peer_messages_per_s", std::to_string(c.limits_peer_messages_per_s));
  put(out, "Per-peer-key bytes per second (a size such as \"256M\"); 0 = unlimited.", "peer_bytes_per_s",
      render_size(c.limits_peer_bytes_per_s));
  put(out, "Per-CLI-key message rate (requests/s); 0 = unlimited.", "client_messages_per_s",
      std::to_string(c.limits_client_messages_per_s));
  put(out, "Per-CLI-key bytes per second; 0 = unlimited.", "client_bytes_per_s",
      render_size(c.limits_client_bytes_per_s));
  put(out, "Unfinished jobs one CLI key may have submitted through this node; 0 = unlimited.", "client_jobs_max",
      std::to_string(c.limits_client_jobs_max));
  put(out, "Unfinished jobs one member may have this node hold as their replica; 0 = unlimited.", "peer_jobs_max",
      std::to_string(c.limits_peer_jobs_max));
  put(out, "A key that keeps sending while throttled is cut off this many seconds; 0 = throttle only.", "ban_s",
      std::to_string(c.limits_ban_s));
  out += "\n[log]\n";
  put(out, "One of trace, debug, info, warn, error, off.", "level", toml_quote(c.log_level));
  put(out, "true: one JSON object per line (for log shippers); false: human-readable.", "json",
      c.log_json ? "true" : "false");
}

}  // namespace

std::string render_node_config(const NodeConfig& cfg) {
  std::string out =
      "# polderd.toml: configuration of one Polder node. Start it with\n"
      "#   polderd run --config THIS_FILE\n"
      "# Unknown keys are errors, so a misspelt key is never silently ignored.\n\n";
  render_node_section(out, cfg);
  render_network_section(out, cfg);
  render_other_sections(out, cfg);
  return out;
}

std::string render_client_config(const ClientConfig& cfg) {
  std::string out =
      "# client.toml: how the `polder` CLI reaches its node (polder --config THIS_FILE, or $POLDER_CONFIG).\n\n";
  put(out, "The node's client endpoint (its [network] client_listen), tcp://HOST:PORT.", "node_address",
      toml_quote(cfg.node_address));
  put(out, "The node's public key (64 hex digits): the CLI refuses a node that cannot prove it.", "node_key",
      toml_quote(cfg.node_key.hex()));
  put(out, "The CLI's private key; its public half must be in the node's [client] authorized_keys.", "key_file",
      toml_quote(cfg.key_file));
  put(out, "How long to wait for the node's reply, in milliseconds (100..600000).", "timeout_ms",
      std::to_string(cfg.timeout_ms));
  return out;
}

}  // namespace polder::node
