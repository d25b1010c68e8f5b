#include "node/rpc_client.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "node/transport.h"

namespace polder::node {
namespace {

std::int64_t wall_clock_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

RpcClient::RpcClient(const Identity& self, const NodeId& server, std::string endpoint,
                     std::chrono::milliseconds timeout)
    : self_(self.id()), server_(server), endpoint_(std::move(endpoint)), timeout_(timeout) {}

RpcClient::~RpcClient() = default;

Result<std::unique_ptr<RpcClient>> RpcClient::connect(const Identity& self, const NodeId& server,
                                                      const std::string& endpoint,
                                                      std::chrono::milliseconds timeout) {
  auto server_curve = curve_public_key(server);
  if (!server_curve) return server_curve.status();
  std::unique_ptr<RpcClient> c(new RpcClient(self, server, endpoint, timeout));
  CurveKeyPair keys = self.curve();
  try {
    c->socket_ = zmq::socket_t(c->context_, zmq::socket_type::dealer);
    c->socket_.set(zmq::sockopt::linger, 0);
    c->socket_.set(zmq::sockopt::curve_serverkey, z85_key(*server_curve));
    c->socket_.set(zmq::sockopt::curve_publickey, z85_key(keys.public_key));
    c->socket_.set(zmq::sockopt::curve_secretkey, z85_key(keys.secret_key));
    std::string monitor_endpoint = "inproc://rpc-monitor";
    zmq_socket_monitor(c->socket_.handle(), monitor_endpoint.c_str(),
                       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL);
    c->monitor_ = zmq::socket_t(c->context_, zmq::socket_type::pair);
    c->monitor_.connect(monitor_endpoint);
    c->socket_.connect(endpoint);
  } catch (const zmq::error_t& e) {
    return invalid_argument("cannot connect to " + endpoint + ": " + e.what());
  }
  sodium_memzero(keys.secret_key.data(), keys.secret_key.size());
  return c;
}

bool RpcClient::handshake_refused() {
  for (int i = 0; i < 16; ++i) {
    zmq::message_t event;
    if (!monitor_.recv(event, zmq::recv_flags::dontwait)) break;
    if (event.size() >= 2) {
      std::uint16_t id;
      std::memcpy(&id, event.data(), 2);
      if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) auth_failed_ = true;
    }
    zmq::message_t address;
    if (event.more()) (void)monitor_.recv(address, zmq::recv_flags::dontwait);
  }
  return auth_failed_;
}

Result<Envelope> RpcClient::call(Payload payload) {
  Envelope request;
  request.sender = self_;
  request.message_id = randombytes_random() | (static_cast<std::uint64_t>(randombytes_random()) << 32);
  request.timestamp_us = wall_clock_us();
  request.payload = std::move(payload);
  auto bytes = codec_.encode(request);
  if (!bytes) return bytes.status();
  try {
    zmq::message_t msg(bytes->data(), bytes->size());
    if (!socket_.send(msg, zmq::send_flags::dontwait)) {
      return unavailable("cannot queue the request to " + endpoint_);
    }
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (std::chrono::steady_clock::now() < deadline) {
      zmq::pollitem_t items[] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}, {monitor_.handle(), 0, ZMQ_POLLIN, 0}};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      zmq::poll(items, 2, std::max(left, std::chrono::milliseconds(1)));
      if (handshake_refused()) {
        return permission_denied("node at " + endpoint_ + " refused this client's key " + self_.short_hex() +
                                 " (ask its operator to add it to [client] authorized_keys), or the node's key is not " +
                                 server_.short_hex());
      }
      zmq::message_t reply;
      if (!socket_.recv(reply, zmq::recv_flags::dontwait)) continue;
      auto env = codec_.decode(std::span(static_cast<const std::uint8_t*>(reply.data()), reply.size()));
      if (!env) return Status(env.status().code(), "bad reply from node: " + env.status().message());
      if (env->message_id != request.message_id) continue;  // a late reply to an earlier call
      if (env->sender != server_) return permission_denied("reply not from the expected node");
      if (auto* err = std::get_if<ErrorReply>(&env->payload)) {
        return Status(static_cast<StatusCode>(err->code), err->message);
      }
      return env;
    }
  } catch (const zmq::error_t& e) {
    return unavailable(std::string("request to ") + endpoint_ + " failed: " + e.what());
  }
  return unavailable("no reply from node at " + endpoint_ + " within " + std::to_string(timeout_.count()) +
                     " ms (is polderd running and is this its client address?)");
}

}  // namespace polder::node
