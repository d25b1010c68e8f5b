#include "node/transport.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "node/rpc_client.h"
#include "protocol/codec.h"
#include "tests/node/test_ports.h"
#include "tests/protocol/test_values.h"

namespace polder::node {
namespace {

using namespace std::chrono_literals;

using polder::testing::identity_from;

std::unique_ptr<Transport> make_transport(const Identity& id, std::string listen, std::string client_listen = "",
                                          int send_hwm = 1000) {
  TransportOptions o;
  o.listen = std::move(listen);
  o.client_listen = std::move(client_listen);
  o.send_hwm = send_hwm;
  o.reconnect_ivl_ms = 20;
  o.reconnect_ivl_max_ms = 100;
  auto t = Transport::create(id, o);
  EXPECT_TRUE(t.is_ok()) << t.status().to_string();
  return std::move(*t);
}

// Sends `payload` from `a` to `b` until `b` receives something or the
// deadline passes (the first messages may race the handshake).
std::vector<Inbound> send_until_received(Transport& a, const NodeId& b_id, Transport& b, const Bytes& payload,
                                         std::chrono::milliseconds deadline = 3000ms) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    (void)a.send_to_peer(b_id, payload);
    a.poll(5ms);
    auto in = b.poll(20ms);
    if (!in.empty()) return in;
  }
  return {};
}

TEST(TransportTest, AdmittedPeerMessageArrivesWithAuthenticatedSender) {
  Identity alice = identity_from(1), bob = identity_from(2);
  std::string bob_addr = testing::loopback_endpoint();
  auto a = make_transport(alice, testing::loopback_endpoint());
  auto b = make_transport(bob, bob_addr);
  b->allow_peer(alice.id());
  ASSERT_TRUE(a->connect_peer(bob.id(), bob_addr).is_ok());
  auto in = send_until_received(*a, bob.id(), *b, Bytes{1, 2, 3});
  ASSERT_FALSE(in.empty());
  EXPECT_EQ(in[0].from, alice.id());
  EXPECT_EQ(in[0].channel, Channel::kPeer);
  EXPECT_EQ(in[0].bytes, (Bytes{1, 2, 3}));
  EXPECT_GE(b->counters().admitted_handshakes, 1u);
  EXPECT_EQ(b->counters().refused_handshakes, 0u);
}

TEST(TransportTest, RefusesPeerKeyOutsideAllowlist) {
  Identity alice = identity_from(1), bob = identity_from(2), mallory = identity_from(3);
  std::string bob_addr = testing::loopback_endpoint();
  auto m = make_transport(mallory, testing::loopback_endpoint());
  auto b = make_transport(bob, bob_addr);
  b->allow_peer(alice.id());  // only alice
  ASSERT_TRUE(m->connect_peer(bob.id(), bob_addr).is_ok());
  auto in = send_until_received(*m, bob.id(), *b, Bytes{9}, 1500ms);
  EXPECT_TRUE(in.empty());
  EXPECT_GE(b->counters().refused_handshakes, 1u);
  EXPECT_EQ(b->counters().received, 0u);
}

TEST(TransportTest, ImpostorAtPeerAddressIsNotTrusted) {
  // Alice expects Bob's key at an address where Mallory listens: the Curve
  // handshake fails on Alice's side, nothing reaches Mallory.
  Identity alice = identity_from(1), bob = identity_from(2), mallory = identity_from(3);
  std::string addr = testing::loopback_endpoint();
  auto a = make_transport(alice, testing::loopback_endpoint());
  auto m = make_transport(mallory, addr);
  m->allow_peer(alice.id());
  ASSERT_TRUE(a->connect_peer(bob.id(), addr).is_ok());
  auto in = send_until_received(*a, bob.id(), *m, Bytes{7}, 1000ms);
  EXPECT_TRUE(in.empty());
}

TEST(TransportTest, ReconnectsAfterPeerRestarts) {
  Identity alice = identity_from(1), bob = identity_from(2);
  std::string bob_addr = testing::loopback_endpoint();
  auto a = make_transport(alice, testing::loopback_endpoint());
  auto b = make_transport(bob, bob_addr);
  b->allow_peer(alice.id());
  ASSERT_TRUE(a->connect_peer(bob.id(), bob_addr).is_ok());
  ASSERT_FALSE(send_until_received(*a, bob.id(), *b, Bytes{1}).empty());
  b.reset();  // bob goes away...
  std::this_thread::sleep_for(50ms);
  b = make_transport(bob, bob_addr);  // ...and comes back on the same address
  b->allow_peer(alice.id());
  auto in = send_until_received(*a, bob.id(), *b, Bytes{2}, 5000ms);
  ASSERT_FALSE(in.empty());
  EXPECT_EQ(in.back().from, alice.id());
}

// libzmq never reconnects a DEALER whose handshake was refused, so without
// the redial in send_to_peer a node that dialled a peer a moment before the
// peer admitted its key (an invitation still spreading) could never reach it.
TEST(TransportTest, DialsAgainAfterAPeerThatRefusedItAdmitsItsKey) {
  Identity alice = identity_from(1), bob = identity_from(2);
  std::string bob_addr = testing::loopback_endpoint();
  auto a = make_transport(alice, testing::loopback_endpoint());
  auto b = make_transport(bob, bob_addr);  // alice not admitted yet
  ASSERT_TRUE(a->connect_peer(bob.id(), bob_addr).is_ok());
  ASSERT_TRUE(send_until_received(*a, bob.id(), *b, Bytes{1}, 1000ms).empty());
  ASSERT_GE(b->counters().refused_handshakes, 1u);
  b->allow_peer(alice.id());  // now bob admits her
  auto in = send_until_received(*a, bob.id(), *b, Bytes{2}, 8000ms);
  ASSERT_FALSE(in.empty()) << "sends after the admission never arrived";
  EXPECT_EQ(in.back().from, alice.id());
  EXPECT_GE(a->counters().redials, 1u);
}

TEST(TransportTest, SendQueueToUnreachablePeerIsBounded) {
  Identity alice = identity_from(1), bob = identity_from(2);
  auto a = make_transport(alice, testing::loopback_endpoint(), "", /*send_hwm=*/10);
  ASSERT_TRUE(a->connect_peer(bob.id(), testing::loopback_endpoint()).is_ok());  // nobody listens
  int refused = 0;
  for (int i = 0; i < 100; ++i) {
    if (a->send_to_peer(bob.id(), Bytes(64, 1)).code() == StatusCode::kResourceExhausted) ++refused;
  }
  EXPECT_GE(refused, 80);
  EXPECT_EQ(a->counters().dropped_send_full, static_cast<std::uint64_t>(refused));
}

TEST(TransportTest, SendToUnknownPeerIsAnError) {
  auto a = make_transport(identity_from(1), testing::loopback_endpoint());
  EXPECT_EQ(a->send_to_peer(identity_from(2).id(), Bytes{1}).code(), StatusCode::kNotFound);
}

TEST(TransportTest, BindFailureIsAClearError) {
  std::string addr = testing::loopback_endpoint();
  auto first = make_transport(identity_from(1), addr);
  TransportOptions o;
  o.listen = addr;
  auto second = Transport::create(identity_from(2), o);
  ASSERT_FALSE(second.is_ok());
  EXPECT_NE(second.status().message().find(addr), std::string::npos);
}

// A node answering pings on its client channel, in a thread.
class ClientChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    endpoint_ = testing::loopback_endpoint();
    server_ = make_transport(node_, "", endpoint_);
    server_->allow_client(cli_.id());
    thread_ = std::thread([this] {
      Codec codec;
      while (!stop_) {
        for (auto& in : server_->poll(10ms)) {
          auto req = codec.decode(in.bytes);
          if (!req) continue;
          Envelope reply;
          reply.sender = node_.id();
          reply.message_id = req->message_id;
          reply.payload = Pong{std::get<Ping>(req->payload).token};
          (void)server_->reply_to_client(in.routing_id, *codec.encode(reply));
        }
      }
    });
  }
  void TearDown() override {
    stop_ = true;
    thread_.join();
  }
  Identity node_ = identity_from(10);
  Identity cli_ = identity_from(11);
  std::string endpoint_;
  std::unique_ptr<Transport> server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(ClientChannelTest, AuthorisedClientGetsReply) {
  auto client = RpcClient::connect(cli_, node_.id(), endpoint_, 3000ms);
  ASSERT_TRUE(client.is_ok());
  auto reply = (*client)->call(Ping{41});
  ASSERT_TRUE(reply.is_ok()) << reply.status().to_string();
  EXPECT_EQ(std::get<Pong>(reply->payload).token, 41u);
}

TEST_F(ClientChannelTest, UnauthorisedClientIsRefusedWithClearError) {
  auto client = RpcClient::connect(identity_from(12), node_.id(), endpoint_, 3000ms);
  ASSERT_TRUE(client.is_ok());
  auto reply = (*client)->call(Ping{1});
  ASSERT_FALSE(reply.is_ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kPermissionDenied) << reply.status().to_string();
}

TEST(RpcClientTest, UnreachableNodeTimesOutWithClearError) {
  auto client = RpcClient::connect(identity_from(11), identity_from(10).id(), testing::loopback_endpoint(), 300ms);
  ASSERT_TRUE(client.is_ok());
  auto start = std::chrono::steady_clock::now();
  auto reply = (*client)->call(Ping{1});
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(reply.is_ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kUnavailable);
  EXPECT_LT(took, 2000ms);
}

}  // namespace
}  // namespace polder::node
