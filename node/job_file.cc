#include "node/job_file.h"

#include <toml++/toml.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "node/config.h"

namespace polder::node {
namespace {

std::string at(const std::string& path, const toml::node& n, std::string_view key) {
  return path + ":" + std::to_string(n.source().begin.line) + ": " + std::string(key) + ": ";
}

Status check_keys(const std::string& path, const toml::table& t, std::string_view prefix,
                  const std::set<std::string>& known) {
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    if (!known.count(key)) {
      std::string full = prefix.empty() ? key : std::string(prefix) + "." + key;
      std::string list;
      for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
      return invalid_argument(at(path, v, full) + "unknown key (known: " + list + ")");
    }
  }
  return Status::ok();
}

// TOML allows "\u0000"; such a string cannot cross the wire (Cap'n Proto
// Text ends at its first NUL, and decoders refuse one inside) or reach
// execve whole, so it is refused here, where the file and line are known.
bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

Result<std::string> text(const std::string& path, const toml::node& n, std::string_view key) {
  if (auto s = n.value<std::string>()) {
    if (has_nul(*s)) return invalid_argument(at(path, n, key) + "a NUL character (\\u0000) is not allowed");
    return *s;
  }
  return invalid_argument(at(path, n, key) + "expected a string");
}

Result<std::uint64_t> count(const std::string& path, const toml::node& n, std::string_view key, std::uint64_t max) {
  auto v = n.value<std::int64_t>();
  if (!v || *v < 0 || static_cast<std::uint64_t>(*v) > max) {
    return invalid_argument(at(path, n, key) + "expected an integer in 0.." + std::to_string(max));
  }
  return static_cast<std::uint64_t>(*v);
}

Result<std::uint64_t> size(const std::string& path, const toml::node& n, std::string_view key) {
  if (auto i = n.value<std::int64_t>(); i && *i >= 0) return static_cast<std::uint64_t>(*i);
  if (auto s = n.value<std::string>()) {
    auto b = parse_size_bytes(*s);
    if (!b) return invalid_argument(at(path, n, key) + b.status().message());
    return *b;
  }
  return invalid_argument(at(path, n, key) + "expected a size such as \"8G\" or a byte count");
}

Result<std::vector<std::string>> texts(const std::string& path, const toml::node& n, std::string_view key) {
  const auto* arr = n.as_array();
  if (!arr) return invalid_argument(at(path, n, key) + "expected a list of strings");
  std::vector<std::string> out;
  for (const auto& e : *arr) {
    auto s = e.value<std::string>();
    if (!s) return invalid_argument(at(path, e, key) + "expected a list of strings");
    if (has_nul(*s)) return invalid_argument(at(path, e, key) + "a NUL character (\\u0000) is not allowed");
    out.push_back(*s);
  }
  return out;
}

Result<std::vector<KeyValue>> key_values(const std::string& path, const toml::node& n, std::string_view key) {
  const auto* t = n.as_table();
  if (!t) return invalid_argument(at(path, n, key) + "expected a table of strings");
  std::vector<KeyValue> out;
  for (auto&& [k, v] : *t) {
    auto s = v.value<std::string>();
    if (!s) return invalid_argument(at(path, v, std::string(key) + "." + std::string(k.str())) + "expected a string");
    if (has_nul(k.str()) || has_nul(*s)) {
      return invalid_argument(at(path, v, key) + "a NUL character (\\u0000) is not allowed");
    }
    out.push_back({std::string(k.str()), *s});
  }
  return out;
}

#define POLDER_ASSIGN(lhs, expr)           \
  do {                                     \
    auto _r = (expr);                      \
    if (!_r) return _r.status();           \
    lhs = std::move(*_r);                  \
  } while (0)

Status read_resources(const std::string& path, const toml::node& n, JobSpec& s) {
  const auto* t = n.as_table();
  if (!t) return invalid_argument(at(path, n, "resources") + "expected a table");
  POLDER_RETURN_IF_ERROR(check_keys(path, *t, "resources", {"gpus", "gpu_type", "cpus", "memory"}));
  if (auto v = t->get("gpus")) POLDER_ASSIGN(s.resources.gpus, count(path, *v, "resources.gpus", 4096));
  if (auto v = t->get("gpu_type")) POLDER_ASSIGN(s.resources.gpu_type, text(path, *v, "resources.gpu_type"));
  if (auto v = t->get("cpus")) POLDER_ASSIGN(s.resources.cpus, count(path, *v, "resources.cpus", 1u << 20));
  if (auto v = t->get("memory")) POLDER_ASSIGN(s.resources.memory_bytes, size(path, *v, "resources.memory"));
  return Status::ok();
}

Status read_inputs(const std::string& path, const toml::node& n, JobSpec& s) {
  const auto* arr = n.as_array();
  if (!arr) return invalid_argument(at(path, n, "inputs") + "expected [[inputs]] tables");
  for (const auto& e : *arr) {
    const auto* t = e.as_table();
    if (!t) return invalid_argument(at(path, e, "inputs") + "expected [[inputs]] tables");
    POLDER_RETURN_IF_ERROR(check_keys(path, *t, "inputs", {"dataset", "site", "size"}));
    DataInput in;
    for (const char* required : {"dataset", "site", "size"}) {
      if (!t->get(required)) return invalid_argument(at(path, e, std::string("inputs.") + required) + "missing");
    }
    POLDER_ASSIGN(in.dataset, text(path, *t->get("dataset"), "inputs.dataset"));
    POLDER_ASSIGN(in.site, text(path, *t->get("site"), "inputs.site"));
    POLDER_ASSIGN(in.size_bytes, size(path, *t->get("size"), "inputs.size"));
    s.inputs.push_back(std::move(in));
  }
  return Status::ok();
}

Status read_constraints(const std::string& path, const toml::node& n, JobSpec& s) {
  const auto* t = n.as_table();
  if (!t) return invalid_argument(at(path, n, "constraints") + "expected a table");
  POLDER_RETURN_IF_ERROR(
      check_keys(path, *t, "constraints", {"regions", "denied_regions", "operators", "denied_operators"}));
  if (auto v = t->get("regions")) POLDER_ASSIGN(s.constraints.allowed_regions, texts(path, *v, "constraints.regions"));
  if (auto v = t->get("denied_regions"))
    POLDER_ASSIGN(s.constraints.denied_regions, texts(path, *v, "constraints.denied_regions"));
  if (auto v = t->get("operators"))
    POLDER_ASSIGN(s.constraints.allowed_operators, texts(path, *v, "constraints.operators"));
  if (auto v = t->get("denied_operators"))
    POLDER_ASSIGN(s.constraints.denied_operators, texts(path, *v, "constraints.denied_operators"));
  return Status::ok();
}

}  // namespace

Result<std::uint64_t> parse_duration_s(std::string_view t) {
  std::string s(t);
  auto bad = [&] {
    return invalid_argument("\"" + s + "\" is not a duration (expected e.g. 90s, 30m, 1h, 2d or seconds)");
  };
  if (s.empty()) return bad();
  std::uint64_t unit = 1;
  char last = s.back();
  if (!std::isdigit(static_cast<unsigned char>(last))) {
    switch (last) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: return bad();
    }
    s.pop_back();
  }
  if (s.empty() || s.size() > 9) return bad();
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return bad();
  }
  std::uint64_t v = std::stoull(s) * unit;
  if (v == 0) return invalid_argument("a duration must be positive");
  s = std::string(t);
  return v;
}

Result<DataInput> parse_input(std::string_view t) {
  std::string s(t);
  auto at_pos = s.find('@');
  auto colon = s.rfind(':');
  if (at_pos == std::string::npos || colon == std::string::npos || colon < at_pos || at_pos == 0 ||
      colon == at_pos + 1 || colon + 1 == s.size()) {
    return invalid_argument("\"" + s + "\" is not an input (expected NAME@SITE:SIZE, e.g. imagenet@dc-a:40G)");
  }
  auto bytes = parse_size_bytes(s.substr(colon + 1));
  if (!bytes) {
    return invalid_argument("input \"" + s + "\": " + bytes.status().message() + " (expected NAME@SITE:SIZE)");
  }
  return DataInput{s.substr(0, at_pos), s.substr(at_pos + 1, colon - at_pos - 1), *bytes};
}

Result<JobSpec> parse_job_file(std::string_view toml_text, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse(toml_text, path);
  } catch (const toml::parse_error& e) {
    return invalid_argument(path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  POLDER_RETURN_IF_ERROR(check_keys(path, root, "",
                                    {"name", "command", "args", "env", "files", "max_time", "retries", "priority",
                                     "resources", "inputs", "constraints", "labels"}));
  JobSpec s;
  const toml::node* cmd = root.get("command");
  if (!cmd) return invalid_argument(path + ": command: missing (the program to run)");
  POLDER_ASSIGN(s.command, text(path, *cmd, "command"));
  if (s.command.empty()) return invalid_argument(at(path, *cmd, "command") + "must not be empty");
  if (auto v = root.get("name")) POLDER_ASSIGN(s.name, text(path, *v, "name"));
  if (auto v = root.get("args")) POLDER_ASSIGN(s.args, texts(path, *v, "args"));
  if (auto v = root.get("files")) POLDER_ASSIGN(s.files, texts(path, *v, "files"));
  if (auto v = root.get("env")) POLDER_ASSIGN(s.env, key_values(path, *v, "env"));
  if (auto v = root.get("labels")) POLDER_ASSIGN(s.labels, key_values(path, *v, "labels"));
  if (auto v = root.get("max_time")) {
    if (auto i = v->value<std::int64_t>(); i && *i > 0) {
      s.max_run_time_s = static_cast<std::uint64_t>(*i);
    } else {
      std::string d;
      POLDER_ASSIGN(d, text(path, *v, "max_time"));
      auto secs = parse_duration_s(d);
      if (!secs) return invalid_argument(at(path, *v, "max_time") + secs.status().message());
      s.max_run_time_s = *secs;
    }
  }
  if (auto v = root.get("retries")) {
    std::uint64_t r = 0;
    POLDER_ASSIGN(r, count(path, *v, "retries", 100));
    s.max_retries = static_cast<std::uint32_t>(r);
  }
  if (auto v = root.get("priority")) {
    auto p = v->value<std::int64_t>();
    if (!p || *p < -1000 || *p > 1000) return invalid_argument(at(path, *v, "priority") + "expected -1000..1000");
    s.priority = static_cast<std::int32_t>(*p);
  }
  if (auto v = root.get("resources")) POLDER_RETURN_IF_ERROR(read_resources(path, *v, s));
  if (auto v = root.get("inputs")) POLDER_RETURN_IF_ERROR(read_inputs(path, *v, s));
  if (auto v = root.get("constraints")) POLDER_RETURN_IF_ERROR(read_constraints(path, *v, s));
  return s;
}

Result<JobSpec> load_job_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return not_found(path + ": cannot open job file");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > (1u << 20)) return resource_exhausted(path + ": job file over 1 MiB");
  return parse_job_file(ss.str(), path);
}

}  // namespace polder::node
