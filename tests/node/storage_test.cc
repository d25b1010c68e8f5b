#include "node/storage.h"
#include "tests/node/fault_fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

namespace polder::node {
namespace {

using ::testing::HasSubstr;

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// A fresh directory under /tmp, removed (with anything inside) at the end.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "polder-storage-XXXXXX").string();
    const char* made = mkdtemp(templ.data());
    if (made == nullptr) std::abort();  // the test machine itself is broken
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string sub(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// Storage over a FileSystem that counts fsyncs and can fill up on demand.
struct FaultDisk {
  std::shared_ptr<DiskFullSwitch> disk = std::make_shared<DiskFullSwitch>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(std::make_shared<FaultFileSystem>(disk));
  StorageOptions options() const {
    StorageOptions o;
    o.env = env.get();
    return o;
  }
};

std::unique_ptr<Storage> open_or_die(const std::string& dir, StorageOptions options = {}) {
  Result<std::unique_ptr<Storage>> r = Storage::open(dir, options);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? std::move(r).value() : nullptr;
}

std::optional<Bytes> get_or_die(const Storage& storage, Column column, std::string_view key) {
  Result<std::optional<Bytes>> r = storage.get(column, key);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : std::nullopt;
}

// Writes key=value into the default family of the RocksDB at `dir`, behind
// Storage's back, as a newer polderd or another program would; optionally
// adds a family Storage does not know.
void raw_put_default(const std::string& dir, const std::string& key, const std::string& value,
                     const std::string& extra_family = "") {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  std::vector<std::string> families;
  if (!rocksdb::DB::ListColumnFamilies(options, dir, &families).ok()) families = {"default"};
  if (!extra_family.empty()) families.push_back(extra_family);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& f : families) descriptors.emplace_back(f, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(options, dir, descriptors, &handles, &db).ok());
  std::unique_ptr<rocksdb::DB> owned(db);
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[0], key, value).ok());
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  ASSERT_TRUE(db->Close().ok());
}

// ------------------------------------------------------------------ tests

TEST(StorageTest, SurvivesCloseAndReopen) {
  TempDir tmp;
  {
    auto storage = open_or_die(tmp.path());
    ASSERT_NE(storage, nullptr);
    ASSERT_TRUE(storage->put(Column::kMeta, "node", bytes("meta"), Durability::kSync).is_ok());
    ASSERT_TRUE(storage->put(Column::kAcceptor, "j1/0", bytes("promise"), Durability::kSync).is_ok());
    ASSERT_TRUE(storage->put(Column::kJobs, "j1", bytes("spec"), Durability::kAsync).is_ok());
    ASSERT_TRUE(storage->put(Column::kLogs, "j1/out", bytes("hello"), Durability::kSync).is_ok());
    ASSERT_TRUE(storage->close().is_ok());
  }
  auto storage = open_or_die(tmp.path());
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(get_or_die(*storage, Column::kMeta, "node"), bytes("meta"));
  EXPECT_EQ(get_or_die(*storage, Column::kAcceptor, "j1/0"), bytes("promise"));
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "j1"), bytes("spec"));
  EXPECT_EQ(get_or_die(*storage, Column::kLogs, "j1/out"), bytes("hello"));
  // Columns are separate key spaces.
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "node"), std::nullopt);
}

TEST(StorageTest, RejectsDirectoryLockedInThisProcess) {
  TempDir tmp;
  auto first = open_or_die(tmp.path());
  ASSERT_NE(first, nullptr);
  Result<std::unique_ptr<Storage>> second = Storage::open(tmp.path());
  ASSERT_FALSE(second.is_ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("locked"));
  EXPECT_THAT(second.status().message(), HasSubstr(tmp.path()));
  // The first holder is unaffected, and the lock goes with it.
  EXPECT_TRUE(first->put(Column::kJobs, "k", bytes("v"), Durability::kSync).is_ok());
  first.reset();
  EXPECT_NE(open_or_die(tmp.path()), nullptr);
}

// Another polderd: a child process takes the same fcntl lock on DIR/LOCK that
// RocksDB takes. The child only makes async-signal-safe calls after fork().
TEST(StorageTest, RejectsDirectoryLockedByAnotherProcess) {
  TempDir tmp;
  open_or_die(tmp.path()).reset();  // creates the store and its LOCK file
  const std::string lock_path = tmp.sub("LOCK");
  int ready[2];
  int release[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(release), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    close(release[1]);
    const int fd = ::open(lock_path.c_str(), O_RDWR);
    struct flock lock = {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    const char locked = (fd >= 0 && fcntl(fd, F_SETLK, &lock) == 0) ? '1' : '0';
    if (write(ready[1], &locked, 1) != 1) _exit(2);
    char ignored;
    if (read(release[0], &ignored, 1) < 0) _exit(3);  // returns at EOF too
    _exit(0);
  }
  close(ready[1]);
  close(release[0]);
  char locked = '0';
  ASSERT_EQ(read(ready[0], &locked, 1), 1);
  ASSERT_EQ(locked, '1') << "the child could not lock " << lock_path;

  Result<std::unique_ptr<Storage>> r = Storage::open(tmp.path());
  close(release[1]);  // let the child go before any assertion can return
  close(ready[0]);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);

  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("locked by another process"));
  EXPECT_NE(open_or_die(tmp.path()), nullptr) << "the lock must go with the process";
}

TEST(StorageTest, RejectsNewerSchemaVersion) {
  TempDir tmp;
  open_or_die(tmp.path()).reset();
  raw_put_default(tmp.path(), std::string(kSchemaVersionKey), "7");
  Result<std::unique_ptr<Storage>> r = Storage::open(tmp.path());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("schema version 7"));
  EXPECT_THAT(r.status().message(), HasSubstr("upgrade polderd"));
  EXPECT_THAT(r.status().message(), HasSubstr(tmp.path()));
}

// A newer polderd may add column families; RocksDB would refuse to open the
// store without them, and the operator must still see the schema message.
TEST(StorageTest, RejectsNewerSchemaWithColumnFamiliesItDoesNotKnow) {
  TempDir tmp;
  open_or_die(tmp.path()).reset();
  raw_put_default(tmp.path(), std::string(kSchemaVersionKey), "2", "future");
  Result<std::unique_ptr<Storage>> r = Storage::open(tmp.path());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().to_string();
}

TEST(StorageTest, RejectsCorruptSchemaVersion) {
  TempDir tmp;
  open_or_die(tmp.path()).reset();
  raw_put_default(tmp.path(), std::string(kSchemaVersionKey), "1x");
  Result<std::unique_ptr<Storage>> r = Storage::open(tmp.path());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
}

TEST(StorageTest, RejectsForeignDatabaseWithoutSchemaVersion) {
  TempDir tmp;
  raw_put_default(tmp.path(), "someone-elses", "data");
  Result<std::unique_ptr<Storage>> r = Storage::open(tmp.path());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), HasSubstr("no schema version"));
}

// Fails for root too: nobody can create a directory under a regular file.
TEST(StorageTest, RejectsDirectoryUnderARegularFile) {
  TempDir tmp;
  std::ofstream(tmp.sub("file")) << "x";
  const std::string dir = tmp.sub("file/data");
  Result<std::unique_ptr<Storage>> r = Storage::open(dir);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr(dir));
}

TEST(StorageTest, RejectsUnwritableDirectory) {
  if (geteuid() == 0) GTEST_SKIP() << "running as root: file modes do not stop root from writing";
  TempDir tmp;
  ASSERT_EQ(chmod(tmp.path().c_str(), 0500), 0);
  for (const std::string& dir : {tmp.path(), tmp.sub("data")}) {
    Result<std::unique_ptr<Storage>> r = Storage::open(dir);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << r.status().to_string();
    EXPECT_THAT(r.status().message(), HasSubstr(dir));
  }
}

TEST(StorageTest, RefusesMissingDirectoryWithoutCreateIfMissing) {
  TempDir tmp;
  StorageOptions options;
  options.create_if_missing = false;
  Result<std::unique_ptr<Storage>> r = Storage::open(tmp.sub("absent"), options);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(StorageTest, WriteBatchIsAllOrNothing) {
  TempDir tmp;
  StorageOptions options;
  options.value_size_bytes_max = 8;
  options.batch_size_bytes_max = options.key_size_bytes_max + 8;
  auto storage = open_or_die(tmp.path(), options);
  ASSERT_NE(storage, nullptr);

  WriteBatch bad;
  bad.put(Column::kJobs, "a", bytes("1"));
  bad.put(Column::kAcceptor, "b", bytes("too long for the limit"));
  EXPECT_EQ(storage->write(bad, Durability::kSync).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "a"), std::nullopt);

  WriteBatch good;
  good.put(Column::kJobs, "a", bytes("1"));
  good.put(Column::kAcceptor, "b", bytes("2"));
  good.erase(Column::kJobs, "a");
  good.put(Column::kJobs, "a", bytes("3"));  // ops apply in order
  EXPECT_EQ(good.count(), 4u);
  ASSERT_TRUE(storage->write(good, Durability::kSync).is_ok());
  storage.reset();
  storage = open_or_die(tmp.path(), options);
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "a"), bytes("3"));
  EXPECT_EQ(get_or_die(*storage, Column::kAcceptor, "b"), bytes("2"));
}

TEST(StorageTest, ApplyWritesAndErasesPersistOps) {
  TempDir tmp;
  auto storage = open_or_die(tmp.path());
  ASSERT_NE(storage, nullptr);
  ASSERT_TRUE(storage->put(Column::kAcceptor, "old", bytes("x"), Durability::kSync).is_ok());
  const std::vector<PersistOp> ops = {
      {Column::kAcceptor, "j1/0/promise", bytes("b5"), false},
      {Column::kAcceptor, "old", {}, true},
      {Column::kJobs, "j1", bytes("spec"), false},
  };
  ASSERT_TRUE(storage->apply(ops).is_ok());
  storage.reset();
  storage = open_or_die(tmp.path());
  Result<DurableRecords> acceptor = storage->load_all(Column::kAcceptor);
  ASSERT_TRUE(acceptor.is_ok()) << acceptor.status().to_string();
  const DurableRecords want = {{{Column::kAcceptor, "j1/0/promise"}, bytes("b5")}};
  EXPECT_EQ(*acceptor, want);
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "j1"), bytes("spec"));
}

TEST(StorageTest, GroupCommitFlushWritesAllEnqueuedBatches) {
  TempDir tmp;
  auto storage = open_or_die(tmp.path());
  ASSERT_NE(storage, nullptr);
  GroupCommitter committer(*storage);
  for (int i = 0; i < 100; ++i) {
    const std::string key = "job" + std::to_string(i);
    ASSERT_TRUE(committer
                    .enqueue({{Column::kAcceptor, key, bytes("accepted"), false},
                              {Column::kJobs, key, bytes("chosen"), false}})
                    .is_ok());
  }
  // An invalid batch is refused on its own; the queued ones are untouched.
  EXPECT_EQ(committer.enqueue({{Column::kJobs, "", bytes("x"), false}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(committer.pending_batches(), 100u);
  EXPECT_EQ(committer.pending_ops(), 200u);
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "job0"), std::nullopt) << "nothing before flush";

  ASSERT_TRUE(committer.flush().is_ok());
  EXPECT_EQ(committer.pending_batches(), 0u);
  storage.reset();
  storage = open_or_die(tmp.path());
  Result<DurableRecords> jobs = storage->load_all(Column::kJobs);
  ASSERT_TRUE(jobs.is_ok());
  EXPECT_EQ(jobs->size(), 100u);
  EXPECT_EQ(get_or_die(*storage, Column::kAcceptor, "job99"), bytes("accepted"));
}

TEST(StorageTest, GroupCommitQueueIsBounded) {
  TempDir tmp;
  auto storage = open_or_die(tmp.path());
  ASSERT_NE(storage, nullptr);
  GroupCommitter committer(*storage, GroupCommitter::Limits{.batches_max = 2});
  ASSERT_TRUE(committer.enqueue({{Column::kJobs, "a", bytes("1"), false}}).is_ok());
  ASSERT_TRUE(committer.enqueue({{Column::kJobs, "b", bytes("2"), false}}).is_ok());
  EXPECT_EQ(committer.enqueue({{Column::kJobs, "c", bytes("3"), false}}).code(),
            StatusCode::kResourceExhausted);
  ASSERT_TRUE(committer.flush().is_ok());
  EXPECT_TRUE(committer.enqueue({{Column::kJobs, "c", bytes("3"), false}}).is_ok());
}

TEST(StorageTest, OversizeRecordIsRejectedAndStateUnchanged) {
  TempDir tmp;
  StorageOptions options;
  options.key_size_bytes_max = 16;
  options.value_size_bytes_max = 32;
  options.batch_size_bytes_max = 48;
  auto storage = open_or_die(tmp.path(), options);
  ASSERT_NE(storage, nullptr);
  ASSERT_TRUE(storage->put(Column::kJobs, "k", bytes("before"), Durability::kSync).is_ok());

  const Bytes big(33, 'x');
  const Status value = storage->put(Column::kJobs, "k", big, Durability::kSync);
  EXPECT_EQ(value.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(value.message(), HasSubstr("33 bytes"));
  const Status key = storage->put(Column::kJobs, std::string(17, 'k'), bytes("v"), Durability::kSync);
  EXPECT_EQ(key.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "k"), bytes("before"));
  EXPECT_EQ(storage->load_all(Column::kJobs)->size(), 1u);
}

TEST(StorageTest, SchemaVersionKeyIsReservedAndHidden) {
  TempDir tmp;
  auto storage = open_or_die(tmp.path());
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->put(Column::kMeta, kSchemaVersionKey, bytes("9"), Durability::kSync).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(storage->erase(Column::kMeta, kSchemaVersionKey, Durability::kSync).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(get_or_die(*storage, Column::kMeta, kSchemaVersionKey),
            bytes(std::to_string(kSchemaVersion)));
  EXPECT_TRUE(storage->load_all(Column::kMeta)->empty());
  // Any other column may use the same key.
  EXPECT_TRUE(storage->put(Column::kJobs, kSchemaVersionKey, bytes("x"), Durability::kSync).is_ok());
}

TEST(StorageTest, ScanPagesThroughAPrefixInKeyOrder) {
  TempDir tmp;
  auto storage = open_or_die(tmp.path());
  ASSERT_NE(storage, nullptr);
  WriteBatch batch;
  for (const char* key : {"j1/a", "j1/c", "j1/b", "j2/a", "j0/z"}) batch.put(Column::kLogs, key, bytes(key));
  ASSERT_TRUE(storage->write(batch, Durability::kAsync).is_ok());

  Result<ScanPage> first = storage->scan(Column::kLogs, "j1/", "", 2);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  ASSERT_EQ(first->records.size(), 2u);
  EXPECT_EQ(first->records[0].first, "j1/a");
  EXPECT_EQ(first->records[1].first, "j1/b");
  ASSERT_TRUE(first->next_key.has_value());

  Result<ScanPage> rest = storage->scan(Column::kLogs, "j1/", *first->next_key, 2);
  ASSERT_TRUE(rest.is_ok());
  ASSERT_EQ(rest->records.size(), 1u);
  EXPECT_EQ(rest->records[0].first, "j1/c");
  EXPECT_EQ(rest->records[0].second, bytes("j1/c"));
  EXPECT_FALSE(rest->next_key.has_value());

  EXPECT_EQ(storage->scan(Column::kLogs, "", "", 0).status().code(), StatusCode::kInvalidArgument);
}

TEST(StorageTest, LoadAllRefusesToReturnATruncatedColumn) {
  TempDir tmp;
  StorageOptions options;
  options.load_records_max = 2;
  auto storage = open_or_die(tmp.path(), options);
  ASSERT_NE(storage, nullptr);
  ASSERT_TRUE(storage
                  ->apply(std::vector<PersistOp>{{Column::kAcceptor, "a", bytes("1"), false},
                                                 {Column::kAcceptor, "b", bytes("2"), false},
                                                 {Column::kAcceptor, "c", bytes("3"), false}})
                  .is_ok());
  EXPECT_EQ(storage->load_all(Column::kAcceptor).status().code(), StatusCode::kResourceExhausted);
}

TEST(StorageTest, ClosedStorageRefusesCalls) {
  TempDir tmp;
  auto storage = open_or_die(tmp.path());
  ASSERT_NE(storage, nullptr);
  ASSERT_TRUE(storage->close().is_ok());
  EXPECT_TRUE(storage->close().is_ok());  // idempotent
  EXPECT_EQ(storage->get(Column::kJobs, "k").status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(storage->put(Column::kJobs, "k", bytes("v"), Durability::kSync).code(),
            StatusCode::kFailedPrecondition);
}

// The daemon's one fsync per turn: job records written kAsync are made
// durable by the consensus core's synced write after them, or by sync().
TEST(StorageTest, OneSyncedWriteOrSyncCoversTheAsyncWritesBeforeIt) {
  TempDir tmp;
  FaultDisk fault;
  auto& disk = fault.disk;
  StorageOptions options = fault.options();
  {
    auto storage = open_or_die(tmp.path(), options);
    ASSERT_NE(storage, nullptr);
    int before = disk->syncs();
    ASSERT_TRUE(storage->put(Column::kJobs, "j1", bytes("queued"), Durability::kAsync).is_ok());
    EXPECT_EQ(disk->syncs(), before) << "a kAsync write must not fsync";
    ASSERT_TRUE(storage->put(Column::kAcceptor, "a1", bytes("accepted"), Durability::kSync).is_ok());
    int after_synced_write = disk->syncs();
    EXPECT_GT(after_synced_write, before);
    ASSERT_TRUE(storage->sync().is_ok());
    EXPECT_EQ(disk->syncs(), after_synced_write) << "nothing unsynced was left: sync() is a no-op";

    ASSERT_TRUE(storage->put(Column::kJobs, "j2", bytes("placed"), Durability::kAsync).is_ok());
    ASSERT_TRUE(storage->sync().is_ok());
    EXPECT_GT(disk->syncs(), after_synced_write) << "sync() must fsync an earlier kAsync write";
    int after_sync = disk->syncs();
    ASSERT_TRUE(storage->sync().is_ok());
    EXPECT_EQ(disk->syncs(), after_sync);

    ASSERT_TRUE(storage->put(Column::kJobs, "j3", bytes("running"), Durability::kAsync).is_ok());
    disk->set(true);
    Status failed = storage->sync();
    EXPECT_FALSE(failed.is_ok());
    EXPECT_THAT(failed.message(), HasSubstr(tmp.path()));
    disk->set(false);
    (void)storage->close();  // RocksDB holds the failed sync as a background error: the node stops
  }
  auto storage = open_or_die(tmp.path());
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "j1"), bytes("queued"));
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "j2"), bytes("placed"));
  EXPECT_EQ(get_or_die(*storage, Column::kAcceptor, "a1"), bytes("accepted"));
}

// A kLazy write (a job's "running" over its durable "placed") is no reason
// to fsync: sync() stays a no-op after it, sync_pending() false; the next
// synced write or sync() that happens anyway covers it, and a process that
// stops without either still finds it (it is in the write-ahead log).
TEST(StorageTest, ALazyWriteIsNoReasonToSyncAndTheNextSyncedWriteCoversIt) {
  TempDir tmp;
  FaultDisk fault;
  auto& disk = fault.disk;
  StorageOptions options = fault.options();
  {
    auto storage = open_or_die(tmp.path(), options);
    ASSERT_NE(storage, nullptr);
    EXPECT_FALSE(storage->sync_pending());
    int before = disk->syncs();
    ASSERT_TRUE(storage->put(Column::kJobs, "j1", bytes("running"), Durability::kLazy).is_ok());
    EXPECT_FALSE(storage->sync_pending()) << "a kLazy write must not ask for a sync";
    ASSERT_TRUE(storage->sync().is_ok());
    EXPECT_EQ(disk->syncs(), before) << "sync() after only a kLazy write must not fsync";

    ASSERT_TRUE(storage->put(Column::kJobs, "j2", bytes("placed"), Durability::kAsync).is_ok());
    EXPECT_TRUE(storage->sync_pending());
    ASSERT_TRUE(storage->put(Column::kJobs, "j3", bytes("running"), Durability::kLazy).is_ok());
    ASSERT_TRUE(storage->sync().is_ok());
    EXPECT_GT(disk->syncs(), before) << "the kAsync write still asks for its fsync";
    EXPECT_FALSE(storage->sync_pending());
    ASSERT_TRUE(storage->put(Column::kJobs, "j4", bytes("running"), Durability::kLazy).is_ok());
    // No close(): as if the process stopped here.
  }
  auto storage = open_or_die(tmp.path());
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "j1"), bytes("running"));
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "j2"), bytes("placed"));
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "j3"), bytes("running"));
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "j4"), bytes("running"));
}

TEST(StorageTest, FullDiskGivesAClearErrorAndChangesNoState) {
  TempDir tmp;
  FaultDisk fault;
  auto& disk = fault.disk;
  StorageOptions options = fault.options();
  {
    auto storage = open_or_die(tmp.path(), options);
    ASSERT_NE(storage, nullptr);
    ASSERT_TRUE(storage->put(Column::kAcceptor, "k", bytes("before"), Durability::kSync).is_ok());

    disk->set(true);
    const Status s = storage->apply(std::vector<PersistOp>{
        {Column::kAcceptor, "k", bytes("after"), false},
        {Column::kJobs, "j", bytes("new"), false},
    });
    EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.to_string();
    EXPECT_THAT(s.message(), HasSubstr("disk full"));
    EXPECT_THAT(s.message(), HasSubstr(tmp.path()));
    EXPECT_EQ(get_or_die(*storage, Column::kAcceptor, "k"), bytes("before"));
    EXPECT_EQ(get_or_die(*storage, Column::kJobs, "j"), std::nullopt);
    disk->set(false);
  }
  auto storage = open_or_die(tmp.path());
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(get_or_die(*storage, Column::kAcceptor, "k"), bytes("before"));
  EXPECT_EQ(get_or_die(*storage, Column::kJobs, "j"), std::nullopt);
}

}  // namespace
}  // namespace polder::node
