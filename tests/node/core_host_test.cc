#include "node/core_host.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

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

  void start(StorageOptions storage_options = {}, CoreHostOptions core_host_options = {}) {
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
        [this](const CoreEvent& e) { events_.push_back(e); }, std::move(core_host_options));
  }

  static CoreHostOptions pipelined() {
    CoreHostOptions o;
    o.pipelined = true;
    o.inline_ops_max = 0;  // every write goes through the committer thread
    return o;
  }

  // Payload bytes of every envelope the peer receives within `within`.
  std::vector<Bytes> peer_payloads(std::chrono::milliseconds within, std::size_t want) {
    std::vector<Bytes> out;
    auto end = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < end && out.size() < want) {
      host_transport_->poll(1ms);
      for (auto& in : peer_transport_->poll(10ms)) {
        auto env = codec_.decode(in.bytes);
        if (env.is_ok()) out.push_back(std::get<ConsensusPayload>(env->payload).bytes);
      }
    }
    return out;
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

TEST_F(CoreHostTest, PipelinedFlushSendsOnlyOnceTheWriteIsDurable) {
  start({}, pipelined());
  ASSERT_GE(host_core_->completion_fd(), 0);
  host_core_->deliver(peer_.id(), Bytes{7, 8}, Instant{});
  ASSERT_TRUE(host_core_->flush(0).is_ok());
  // Whatever the committer did meanwhile: a group is sent and raised only
  // when complete() sees it durable, and then its record is on disk.
  for (int i = 0; i < 2000 && host_core_->groups_in_flight() > 0; ++i) {
    ASSERT_TRUE(host_core_->complete(0).is_ok());
    if (host_core_->groups_in_flight() > 0) {
      EXPECT_TRUE(events_.empty());
      std::this_thread::sleep_for(1ms);
    }
  }
  ASSERT_EQ(host_core_->groups_in_flight(), 0u);
  EXPECT_EQ(**storage_->get(Column::kAcceptor, "last"), (Bytes{7, 8}));
  ASSERT_EQ(events_.size(), 1u);
  auto got = peer_payloads(3s, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], (Bytes{7, 8}));
  EXPECT_EQ(host_core_->writes(), 1u);
}

// The daemon's turn in pipelined mode: with nothing in flight, persist()
// writes on the loop thread, so the job records written kAsync before it
// ride the same fsync and Storage::sync() has nothing left to do; the
// replies still wait for flush().
TEST_F(CoreHostTest, PipelinedPersistWritesInlineWhenNothingIsInFlight) {
  auto disk = std::make_shared<DiskFullSwitch>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(std::make_shared<FaultFileSystem>(disk));
  StorageOptions options;
  options.env = env.get();
  CoreHostOptions o;
  o.pipelined = true;
  start(options, o);
  ASSERT_TRUE(storage_->put(Column::kJobs, "j1", Bytes{1}, Durability::kAsync).is_ok());
  host_core_->deliver(peer_.id(), Bytes{5}, Instant{});
  const int before = disk->syncs();
  ASSERT_TRUE(host_core_->persist().is_ok());
  EXPECT_GT(disk->syncs(), before);
  EXPECT_EQ(**storage_->get(Column::kAcceptor, "last"), (Bytes{5}));
  const int after_persist = disk->syncs();
  ASSERT_TRUE(storage_->sync().is_ok());
  EXPECT_EQ(disk->syncs(), after_persist) << "the job record rode the consensus write";
  EXPECT_EQ(host_core_->groups_in_flight(), 0u);
  EXPECT_TRUE(events_.empty()) << "nothing is raised before flush()";
  ASSERT_TRUE(host_core_->flush(0).is_ok());
  EXPECT_EQ(disk->syncs(), after_persist) << "flush() does not write again";
  ASSERT_EQ(events_.size(), 1u);
  auto got = peer_payloads(3s, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], (Bytes{5}));
  host_core_.reset();
  storage_.reset();
}

// With a write bigger than inline_ops_max (here: any), persist() leaves it
// to the committer, and the caller's own kAsync writes need Storage::sync().
TEST_F(CoreHostTest, PipelinedPersistLeavesLargeWritesToTheCommitter) {
  start({}, pipelined());
  host_core_->deliver(peer_.id(), Bytes{6}, Instant{});
  ASSERT_TRUE(host_core_->persist().is_ok());
  EXPECT_FALSE(storage_->get(Column::kAcceptor, "last")->has_value());
  ASSERT_TRUE(host_core_->flush(0).is_ok());
  ASSERT_TRUE(host_core_->drain(0).is_ok());
  EXPECT_EQ(**storage_->get(Column::kAcceptor, "last"), (Bytes{6}));
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(host_core_->writes(), 1u);
}

TEST_F(CoreHostTest, PipelinedGroupsLeaveInFlushOrderEvenWithoutWrites) {
  start({}, pipelined());
  host_core_->deliver(peer_.id(), Bytes{1}, Instant{});
  ASSERT_TRUE(host_core_->flush(0).is_ok());
  // A turn that writes nothing (the tick only sends to itself) still waits
  // behind the turn before it.
  host_core_->tick_if_due(Instant{});
  ASSERT_TRUE(host_core_->flush(0).is_ok());
  host_core_->deliver(peer_.id(), Bytes{3}, Instant{});
  ASSERT_TRUE(host_core_->flush(0).is_ok());
  ASSERT_TRUE(host_core_->drain(0).is_ok());
  EXPECT_EQ(host_core_->groups_in_flight(), 0u);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(**storage_->get(Column::kAcceptor, "last"), (Bytes{3}));
  auto got = peer_payloads(3s, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (Bytes{1}));
  EXPECT_EQ(got[1], (Bytes{3}));
  host_core_->deliver_loopback(Instant{});
  EXPECT_EQ(core_->received_from.back(), host_.id());
}

TEST_F(CoreHostTest, PipelinedFailedWriteSendsNothingThenOrLater) {
  auto disk = std::make_shared<DiskFullSwitch>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(std::make_shared<FaultFileSystem>(disk));
  StorageOptions options;
  options.env = env.get();
  start(options, pipelined());
  disk->set(true);
  host_core_->deliver(peer_.id(), Bytes{9}, Instant{});
  // The write happens on the committer thread: flush() reports the failure
  // if the committer was quick enough, drain() does otherwise.
  Status s = host_core_->flush(0);
  if (s.is_ok()) s = host_core_->drain(0);
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("durable write failed"), std::string::npos) << s.to_string();
  disk->set(false);
  // Fail-stop: a later turn is refused too, though the disk is back.
  host_core_->deliver(peer_.id(), Bytes{10}, Instant{});
  EXPECT_FALSE(host_core_->flush(0).is_ok() && host_core_->drain(0).is_ok());
  EXPECT_TRUE(events_.empty());
  EXPECT_TRUE(peer_receives(500ms).empty());
  host_core_.reset();
  storage_.reset();
}

TEST_F(CoreHostTest, BundlesAFlushsMessagesPerPeerInOrder) {
  CoreHostOptions o;
  std::vector<std::size_t> bundle_sizes;
  o.bundle = [&](std::span<const Bytes> messages) {
    bundle_sizes.push_back(messages.size());
    Bytes joined;
    for (const auto& m : messages) joined.insert(joined.end(), m.begin(), m.end());
    return joined;
  };
  o.bundle_messages_max = 2;
  o.bundle_bytes_max = 1024;
  start({}, o);
  for (std::uint8_t b : {1, 2, 3}) host_core_->deliver(peer_.id(), Bytes{b}, Instant{});
  ASSERT_TRUE(host_core_->flush(0).is_ok());
  // Three echoes to one peer, at most two per bundle: a bundle of two, then
  // the third alone, unbundled.
  EXPECT_EQ(bundle_sizes, (std::vector<std::size_t>{2}));
  auto got = peer_payloads(3s, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (Bytes{1, 2}));
  EXPECT_EQ(got[1], (Bytes{3}));
  EXPECT_EQ(host_core_->messages_bundled(), 2u);
}

}  // namespace
}  // namespace polder::node
