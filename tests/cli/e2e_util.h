// Shared helpers of the end-to-end tests: real polderd/polder processes on loopback.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/node/test_ports.h"

namespace polder::e2e {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

inline const std::string kBin = POLDER_BINARY_DIR;

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

inline RunResult run(const std::string& command) {
  RunResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A top-level string or integer field of one-line JSON output ("" if absent).
inline std::string json_field(const std::string& out, const std::string& key) {
  std::smatch m;
  std::regex re("\"" + key + "\":(\"([^\"]*)\"|(-?[0-9]+))");
  if (!std::regex_search(out, m, re)) return "";
  return m[2].matched ? m[2].str() : m[3].str();
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A polderd process, killed (TERM, then KILL) when the test ends.
class Daemon {
 public:
  // `extra`: more arguments of `polderd run` (e.g. --invitation FILE).
  Daemon(const std::string& config, const std::string& log, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"polderd", "run", "--config", config};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(log.c_str(), "w", stderr);
      (void)f;
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv((kBin + "/polderd").c_str(), argv.data());
      ::_exit(127);
    }
  }
  ~Daemon() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  // Sends `sig` (SIGSTOP/SIGCONT to pause and resume it).
  void signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // SIGTERM and wait; the exit code, or -1 if it did not exit in time.
  int terminate(std::chrono::milliseconds within) {
    ::kill(pid_, SIGTERM);
    return wait_exit(within);
  }
  // True once the process is gone (reaped here, however it ended).
  bool exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) pid_ = -1;
    return pid_ <= 0;
  }
  // Exit code if it exited within `within`, else -1.
  int wait_exit(std::chrono::milliseconds within) {
    auto end = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

class EndToEndTest : public ::testing::Test {
 public:
  RunResult polder(const std::string& dir, const std::string& args) {
    return run(kBin + "/polder --config " + dir + "/client.toml " + args);
  }

 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/polder-e2e-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  // polderd init of root_/name on free ports; returns the node dir.
  std::string init_node(const std::string& name) {
    std::string dir = root_ + "/" + name;
    auto r = run(kBin + "/polderd init --dir " + dir + " --listen " + testing::loopback_endpoint() +
                 " --client-listen " + testing::loopback_endpoint());
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return dir;
  }

  // Pings until the node answers or the deadline passes.
  RunResult ping_until_up(const std::string& dir, std::chrono::milliseconds deadline = 10s) {
    auto end = std::chrono::steady_clock::now() + deadline;
    RunResult r;
    while (std::chrono::steady_clock::now() < end) {
      r = polder(dir, "--timeout-ms 500 ping");
      if (r.exit_code == 0) break;
    }
    return r;
  }

  std::string root_;
};

inline std::string key_of(const std::string& dir) {
  std::string t = read_file(dir + "/client.toml");
  return t.substr(t.find("node_key = \"") + 12, 64);
}

inline std::string listen_of(const std::string& dir) {
  std::string t = read_file(dir + "/polderd.toml");
  auto p = t.find("\nlisten = \"") + 11;
  return t.substr(p, t.find('"', p) - p);
}

inline void add_seed(const std::string& dir, const std::string& peer_dir) {
  std::ofstream(dir + "/polderd.toml", std::ios::app)
      << "\n[[network.seeds]]\nkey = \"" << key_of(peer_dir) << "\"\naddress = \"" << listen_of(peer_dir) << "\"\n";
}

// Replaces the `members = []` line polderd init wrote.
inline void set_members(const std::string& dir, const std::vector<std::string>& peer_dirs) {
  std::string t = read_file(dir + "/polderd.toml");
  std::string list = "members = [";
  for (const auto& p : peer_dirs) list += "\"" + key_of(p) + "\", ";
  list += "]";
  t.replace(t.find("members = []"), 12, list);
  std::ofstream(dir + "/polderd.toml", std::ios::trunc) << t;
}

// Serves HTTP (metrics, health, dashboard) on a free loopback port; returns it.
inline int set_http(const std::string& dir) {
  std::string t = read_file(dir + "/polderd.toml");
  t = std::regex_replace(t, std::regex("\n#? ?http_listen = [^\n]*"), "");
  int port = testing::free_tcp_port();
  t.replace(t.find("[network]\n"), 10, "[network]\nhttp_listen = \"127.0.0.1:" + std::to_string(port) + "\"\n");
  std::ofstream(dir + "/polderd.toml", std::ios::trunc) << t;
  return port;
}

// True once every node in `dirs` reports `peers` reachable peers.
inline bool all_reach(EndToEndTest* t, const std::vector<std::string>& dirs, int peers, std::chrono::seconds within);

inline void set_fast_gossip(const std::string& dir) {
  std::string t = read_file(dir + "/polderd.toml");
  t.replace(t.find("profile = \"lan\""), 15,
            "profile = \"lan\"\nprobe_interval_ms = 200\nsuspicion_mult = 2\ngossip_interval_ms = 100");
  std::ofstream(dir + "/polderd.toml", std::ios::trunc) << t;
}

// The state and incarnation `dir`'s node reports for the member named `name`.
inline std::pair<std::string, long> member_state(EndToEndTest* t, const std::string& dir, const std::string& name) {
  std::string out = t->polder(dir, "--json nodes").output;
  auto p = out.find("\"name\":\"" + name + "\"");
  if (p == std::string::npos) return {"", -1};
  auto start = out.rfind('{', p);
  auto end = out.find('}', p);
  std::string obj = out.substr(start, end - start);
  auto sp = obj.find("\"state\":\"") + 9;
  auto ip = obj.find("\"incarnation\":") + 14;
  return {obj.substr(sp, obj.find('"', sp) - sp), std::stol(obj.substr(ip))};
}

inline bool all_reach(EndToEndTest* t, const std::vector<std::string>& dirs, int peers, std::chrono::seconds within) {
  auto end = std::chrono::steady_clock::now() + within;
  std::string want = "\"peers_reachable\":" + std::to_string(peers);
  while (std::chrono::steady_clock::now() < end) {
    bool all = true;
    for (const auto& d : dirs) {
      all = all && t->polder(d, "--json info").output.find(want) != std::string::npos;
    }
    if (all) return true;
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

}  // namespace polder::e2e
