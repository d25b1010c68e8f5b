// RpcClient: the CLI's side of the client channel. One request, one reply,
// over CurveZMQ with the CLI's own key (which the node's operator
// authorised) and the node's public key as the expected server key.
//
// call() never hangs: it waits at most the timeout and then says whether
// the node refused our key, or could not be reached at all.
//
// Thread-safety: none; one RpcClient per thread.
#pragma once

#include <zmq.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "protocol/codec.h"
#include "protocol/identity.h"

namespace polder::node {

class RpcClient {
 public:
  static Result<std::unique_ptr<RpcClient>> connect(const Identity& self, const NodeId& server,
                                                    const std::string& endpoint, std::chrono::milliseconds timeout);
  ~RpcClient();
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  // Sends `payload` in an envelope and returns the node's reply envelope.
  // An ErrorReply from the node comes back as an error Status.
  Result<Envelope> call(Payload payload);

 private:
  RpcClient(const Identity& self, const NodeId& server, std::string endpoint, std::chrono::milliseconds timeout);
  // Drains monitor events; true when the server refused our key.
  bool handshake_refused();

  NodeId self_;
  NodeId server_;
  std::string endpoint_;
  std::chrono::milliseconds timeout_;
  Codec codec_;
  zmq::context_t context_;
  zmq::socket_t socket_;
  zmq::socket_t monitor_;
  bool auth_failed_ = false;
};

}  // namespace polder::node
