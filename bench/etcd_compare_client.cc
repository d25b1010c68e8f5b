// polder-bench-etcd-client: the assignment workload of
// polder-bench-consensus-cluster, against an etcd cluster, for a side by
// side comparison (bench/etcd_compare.sh starts etcd and runs both).
//
// "Assign job j to node n if unassigned" is one compare-and-swap
// transaction through etcd's v3 JSON gateway:
//   POST /v3/kv/txn {compare: create_revision(key) == 0, success: put(key, n)}
// --concurrency threads each keep one transaction in flight (closed loop,
// like the Polder driver's in-flight window), over keep-alive HTTP/1.1
// connections spread across the members, for --seconds. A decision is a
// transaction that etcd committed with succeeded=true; latency is the
// request's round trip. Prints one JSON object with the same fields as the
// Polder bench.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace {

std::string base64(const std::string& in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 0x3F]);
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

struct Endpoint {
  std::string host;
  int port = 0;
};

struct WorkerResult {
  std::vector<std::int64_t> latencies_us;  // committed transactions inside the window
  std::uint64_t not_succeeded = 0;          // compare failed: the key was assigned already (never expected)
  std::uint64_t errors = 0;                 // HTTP or etcd errors
};

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string txn_body(const std::string& key, const std::string& node) {
  nlohmann::json compare = {{"key", base64(key)}, {"target", "CREATE"}, {"create_revision", "0"}};
  nlohmann::json put = {{"requestPut", {{"key", base64(key)}, {"value", base64(node)}}}};
  return nlohmann::json{{"compare", {compare}}, {"success", {put}}}.dump();
}

void worker(const Endpoint& ep, const std::string& prefix, int thread, std::int64_t end_us, WorkerResult& out) {
  httplib::Client client(ep.host, ep.port);
  client.set_keep_alive(true);
  // Without it Nagle holds the body behind the headers for a delayed ACK
  // (~40 ms per request): that would measure the client, not etcd.
  client.set_tcp_nodelay(true);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(10, 0);
  for (std::uint64_t seq = 0; now_us() < end_us; ++seq) {  // bounded by the window
    const std::string key = prefix + "/" + std::to_string(thread) + "-" + std::to_string(seq);
    const std::string node = "node-" + std::to_string(seq % 3);
    const std::int64_t t0 = now_us();
    auto res = client.Post("/v3/kv/txn", txn_body(key, node), "application/json");
    const std::int64_t t1 = now_us();
    if (!res || res->status != 200) {
      ++out.errors;
      continue;
    }
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_discarded() || !j.value("succeeded", false)) {
      ++out.not_succeeded;
      continue;
    }
    if (t1 <= end_us) out.latencies_us.push_back(t1 - t0);
  }
}

double percentile_ms(std::vector<std::int64_t> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return static_cast<double>(v[std::min(rank > 0 ? rank - 1 : 0, v.size() - 1)]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"polder-bench-etcd-client: CAS assignments against etcd's v3 JSON gateway (prints JSON)"};
  std::string endpoints_text;
  std::uint32_t concurrency = 64;
  double seconds = 10;
  app.add_option("--endpoints", endpoints_text, "Client URLs, comma separated: http://127.0.0.1:2379,...")->required();
  app.add_option("--concurrency", concurrency, "Transactions in flight")->check(CLI::Range(1U, 4096U))->capture_default_str();
  app.add_option("--seconds", seconds, "Seconds of load")->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  std::vector<Endpoint> endpoints;
  std::stringstream s(endpoints_text);
  for (std::string url; std::getline(s, url, ',');) {
    const auto scheme = url.find("://");
    const auto host_start = scheme == std::string::npos ? 0 : scheme + 3;
    const auto colon = url.rfind(':');
    if (colon == std::string::npos || colon < host_start) {
      std::cerr << "endpoint needs host:port: " << url << "\n";
      return 2;
    }
    endpoints.push_back({url.substr(host_start, colon - host_start), std::atoi(url.c_str() + colon + 1)});
  }
  if (endpoints.empty()) return 2;

  const std::string prefix = "/polder-bench/" + std::to_string(now_us());
  std::vector<WorkerResult> results(concurrency);
  std::vector<std::thread> threads;
  const std::int64_t end_us = now_us() + static_cast<std::int64_t>(seconds * 1e6);
  for (std::uint32_t i = 0; i < concurrency; ++i) {
    threads.emplace_back(worker, std::cref(endpoints[i % endpoints.size()]), std::cref(prefix), static_cast<int>(i),
                         end_us, std::ref(results[i]));
  }
  for (auto& t : threads) t.join();

  std::vector<std::int64_t> lat;
  std::uint64_t errors = 0, not_succeeded = 0;
  for (const auto& r : results) {
    lat.insert(lat.end(), r.latencies_us.begin(), r.latencies_us.end());
    errors += r.errors;
    not_succeeded += r.not_succeeded;
  }
  nlohmann::ordered_json j;
  j["bench"] = "etcd_cas";
  j["members"] = endpoints.size();
  j["decisions"] = lat.size();
  j["seconds"] = seconds;
  j["decisions_per_s"] = static_cast<double>(lat.size()) / seconds;
  j["p50_ms"] = percentile_ms(lat, 0.50);
  j["p90_ms"] = percentile_ms(lat, 0.90);
  j["p99_ms"] = percentile_ms(lat, 0.99);
  j["max_ms"] = percentile_ms(lat, 1.0);
  j["concurrency"] = concurrency;
  j["fsync"] = true;
  j["errors"] = errors;
  j["not_succeeded"] = not_succeeded;
  std::cout << j.dump() << "\n";
  return lat.empty() ? 1 : 0;
}
