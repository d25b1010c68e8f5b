#include "node/http_server.h"

#include <httplib.h>

namespace polder::node {
namespace {
constexpr auto kStaleAfter = std::chrono::seconds(5);
}

HttpServer::HttpServer() = default;

HttpServer::~HttpServer() { stop(); }

Status HttpServer::start(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    return invalid_argument("http listen address \"" + listen + "\" is not HOST:PORT");
  }
  std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    return invalid_argument("http listen address \"" + listen + "\" has no numeric port");
  }
  if (port <= 0 || port > 65535) return invalid_argument("http port out of range in \"" + listen + "\"");
  server_ = std::make_unique<httplib::Server>();
  auto serve = [this](const char* type, std::string Snapshot::*field) {
    return [this, type, field](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      res.set_content(snapshot_.*field, type);
    };
  };
  server_->Get("/metrics", serve("text/plain; version=0.0.4", &Snapshot::metrics));
  server_->Get("/api/nodes", serve("application/json", &Snapshot::nodes_json));
  server_->Get("/api/jobs", serve("application/json", &Snapshot::jobs_json));
  server_->Get("/api/events", serve("application/json", &Snapshot::events_json));
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    bool fresh = std::chrono::steady_clock::now() - snapshot_.published < kStaleAfter;
    res.status = fresh ? 200 : 503;
    res.set_content(fresh ? "ok\n" : "event loop not responding\n", "text/plain");
  });
  server_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(dashboard_html(), "text/html; charset=utf-8");
  });
  if (!server_->bind_to_port(host, port)) {
    server_.reset();
    return unavailable("http: cannot listen on " + listen + " (address in use or not local?)");
  }
  address_ = listen;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::ok();
}

void HttpServer::publish(Snapshot snapshot) {
  snapshot.published = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(snapshot);
}

void HttpServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace polder::node
