// HttpServer: the node's operator-facing HTTP endpoint (binds to localhost
// by default): /healthz, /metrics (Prometheus text), /api/nodes and
// /api/jobs (JSON) and the dashboard at /.
//
// The daemon is single-threaded and the HTTP server runs its own threads,
// so they share nothing but a Snapshot: the event loop publishes a fresh
// one every half second (publish()), the handlers serve the latest copy.
// /healthz answers 503 when the event loop stopped publishing (stuck).
//
// Thread-safety: publish() and the handlers may run concurrently (a mutex
// guards the snapshot); start()/stop() from the owning thread only.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "protocol/status.h"

namespace httplib {
class Server;
}

namespace polder::node {

struct Snapshot {
  std::string metrics;     // Prometheus text exposition
  std::string nodes_json;  // {"self": ..., "members": [...]}
  std::string jobs_json;   // {"jobs": [...]}
  std::string events_json; // {"events": [...]} recent events, newest last
  std::chrono::steady_clock::time_point published;
};

// The dashboard page (plain HTML + JS, no external assets).
const std::string& dashboard_html();

class HttpServer {
 public:
  HttpServer();
  ~HttpServer();  // stops the server

  // Binds `listen` ("HOST:PORT") and starts serving. Errors: malformed
  // address, port in use, permission denied.
  Status start(const std::string& listen);
  void publish(Snapshot snapshot);
  void stop();
  const std::string& address() const { return address_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::mutex mu_;
  Snapshot snapshot_;
  std::string address_;
};

}  // namespace polder::node
