// A free loopback TCP port for a test: bind port 0, read it, close. The
// kernel may hand the same port out again once it is closed, so a process
// never gets one port twice (two nodes of one test once got the same
// client port and one could not start).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <set>
#include <string>

namespace polder::testing {

inline int free_tcp_port_once() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

inline int free_tcp_port() {
  static std::mutex mu;
  static std::set<int> handed_out;
  std::lock_guard lock(mu);
  for (int tries = 0; tries < 1000; ++tries) {
    int port = free_tcp_port_once();
    if (port > 0 && handed_out.insert(port).second) return port;
  }
  return free_tcp_port_once();
}

inline std::string loopback_endpoint() { return "tcp://127.0.0.1:" + std::to_string(free_tcp_port()); }

}  // namespace polder::testing
