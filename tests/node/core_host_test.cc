#include "node/core_host.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/node/fault_fs.h"
#include "tests/node/test_ports.h"
#include "tests/protocol/test_values.h"

namespace polder::node {
namespace {

using namespace std::chrono_literals;

using polder::testing::identity_from;

// Echo core: persists what it receives, then echoes it to the sender and
// reports an event. On tick it sends itself a note.
class EchoCore : public Core {
 public:
  explicit EchoCore(NodeId self) : self_(self) {}
  Effects receive(const NodeId& from, std::span<const std::uint8_t> bytes, Instant) override {
    received_from.push_back(from);
    Effects e;
    e.persist.push_back({Column::kAcceptor, "last", Bytes(bytes.begin(), bytes.end()), false});
    e.send.push_back({from, Bytes(bytes.begin(), bytes.end())});
    e.events.push_back({"echoed", std::to_string(bytes.size())});
    return e;
  }
  Effects tick(Instant now) override {
    ++ticks;
    Effects e;
    e.send.push_back({self_, Bytes{0xAA}});
    e.wake_at = now + std::chrono::hours(1);
    return e;
  }
  NodeId self_;
  std::vector<NodeId> received_from;
  int ticks = 0;
};

class CoreHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/polder-corehost-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void start(StorageOptions storage_options = {}) {
    auto storage = Storage::open(dir_, storage_options);
    ASSERT_TRUE(storage.is_ok()) << storage.status().to_string();
    storage_ = std::move(*storage);
    std::string peer_addr = testing::loopback_endpoint();
    TransportOptions host_options;
    host_options.listen = testing::loopback_endpoint();
    host_transport_ = Transport::create(host_, host_options).value();
    TransportOptions peer_options;
    peer_options.listen = peer_addr;
    peer_transport_ = Transport::create(peer_, peer_options).value();
    peer_transport_->allow_peer(host_.id());
    ASSERT_TRUE(host_transport_->connect_peer(peer_.id(), peer_addr).is_ok());
    auto core = std::make_unique<EchoCore>(host_.id());
    core_ = core.get();
    host_core_ = std::make_unique<CoreHost>(
        "echo", std::move(core), host_.id(), *storage_, *host_transport_, codec_,
        [](Bytes b) { return Payload(ConsensusPayload{std::move(b)}); },
        [this](const CoreEvent& e) { events_.push_back(e); });
  }

  // What the peer receives within `within`.
  std::vector<Inbound> peer_receives(std::chrono::milliseconds within) {
    auto end = std::chrono::steady_clock::now() + within;
    std::vector<Inbound> all;
    while (std::chrono::steady_clock::now() < end && all.empty()) {
      host_transport_->poll(5ms);
      for (auto& in : peer_transport_->poll(20ms)) all.push_back(std::move(in));
    }
    return all;
  }

  std::string dir_;
  Identity host_ = identity_from(1);
  Identity peer_ = identity_from(2);
  Codec codec_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Transport> host_transport_, peer_transport_;
  std::unique_ptr<CoreHost> host_core_;
  EchoCore* core_ = nullptr;
  std::vector<CoreEvent> events_;
};

TEST_F(CoreHostTest, PersistsThenSendsThenReportsEvents) {
  start();
  host_core_->deliver(peer_.id(), Bytes{7, 8}, Instant{});
  // Nothing happens before flush: no record, no message, no event.
  EXPECT_FALSE(storage_->get(Column::kAcceptor, "last")->has_value());
  EXPECT_TRUE(events_.empty());
  ASSERT_TRUE(host_core_->flush(0).is_ok());
  EXPECT_EQ(**storage_->get(Column::kAcceptor, "last"), (Bytes{7, 8}));
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kind, "echoed");
  auto in = peer_receives(3s);
  ASSERT_FALSE(in.empty());
  auto env = codec_.decode(in[0].bytes);
  ASSERT_TRUE(env.is_ok());
  EXPECT_EQ(env->sender, host_.id());
  EXPECT_EQ(std::get<ConsensusPayload>(env->payload).bytes, (Bytes{7, 8}));
}

TEST_F(CoreHostTest, FailedDurableWriteSendsNothingAndStops) {
  auto disk = std::make_shared<DiskFullSwitch>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(std::make_shared<FaultFileSystem>(disk));
  StorageOptions options;
  options.env = env.get();
  start(options);
  disk->set(true);
  host_core_->deliver(peer_.id(), Bytes{9}, Instant{});
  Status s = host_core_->flush(0);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("durable write failed"), std::string::npos) << s.to_string();
  EXPECT_TRUE(events_.empty());
  EXPECT_TRUE(peer_receives(500ms).empty());
  disk->set(false);
  host_core_.reset();
  storage_.reset();
}

TEST_F(CoreHostTest, SelfAddressedMessagesLoopBackWithoutTheNetwork) {
  start();
  host_core_->tick_if_due(Instant{});
  EXPECT_EQ(core_->ticks, 1);
  ASSERT_TRUE(host_core_->flush(0).is_ok());
  host_core_->deliver_loopback(Instant{});
  ASSERT_EQ(core_->received_from.size(), 1u);
  EXPECT_EQ(core_->received_from[0], host_.id());
  EXPECT_EQ(host_core_->messages_sent(), 0u);
}

TEST_F(CoreHostTest, TicksOnlyWhenDue) {
  start();
  host_core_->tick_if_due(Instant{});
  host_core_->tick_if_due(Instant{} + 1s);  // wake_at is an hour away
  EXPECT_EQ(core_->ticks, 1);
  host_core_->tick_if_due(Instant{} + std::chrono::hours(2));
  EXPECT_EQ(core_->ticks, 2);
}

}  // namespace
}  // namespace polder::node
