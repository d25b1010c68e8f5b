// Storage: the node's durable state on local disk, over RocksDB.
//
// Purpose. Everything a node must remember across a crash lives here, in
// four column families that mirror polder::Column:
//   "default"  (Column::kMeta)     node metadata, and the schema version key;
//   "acceptor" (Column::kAcceptor) Paxos acceptor promises/accepts;
//   "jobs"     (Column::kJobs)     job records;
//   "logs"     (Column::kLogs)     job output and event logs.
// A core's Effects::persist goes in through apply() (or a GroupCommitter)
// before its messages are sent (STYLE.md habit 15); at restart load_all()
// hands the records back to rebuild the core (DESIGN.md invariant 4).
//
// Guarantees.
//   - A write (put, erase, write, apply, GroupCommitter::flush) is atomic:
//     after a crash either all of its records are visible or none are.
//   - Durability::kSync returns only after the write-ahead log is fsync'ed
//     (fdatasync); apply() and GroupCommitter::flush() always sync.
//   - Every input is checked before anything is written: a record over a size
//     limit, an empty or reserved key, or an unknown column is refused with a
//     Status and changes no state (DESIGN.md invariant 6).
//   - open() refuses, with a message an operator can act on, a directory that
//     another process holds (kUnavailable), that cannot be written
//     (kPermissionDenied), that was written by a newer polderd
//     (kFailedPrecondition), or whose schema version is missing or corrupt
//     (kDataLoss). Disk full becomes kResourceExhausted; other IO errors
//     become kUnavailable with RocksDB's message.
//   - No exception escapes: library exceptions become kInternal.
//
// Thread-safety. After open() returns, get/put/erase/write/apply/scan/
// load_all may be called from any number of threads at once (RocksDB's DB is
// thread-safe and Storage keeps no other mutable state but two atomic
// counters of unsynced writes, see sync()). close() and the
// destructor need exclusive access. WriteBatch and GroupCommitter are not
// thread-safe: each belongs to one thread (the event loop).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/core.h"
#include "protocol/status.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Env;
}  // namespace rocksdb

namespace polder::node {

// The on-disk layout this polderd writes and understands. Bump it when the
// meaning of stored keys or values changes; an older polderd then refuses to
// open the directory instead of misreading it.
inline constexpr std::uint32_t kSchemaVersion = 1;
// In Column::kMeta; decimal ASCII ("1") so `ldb` shows it readably. Reserved:
// put/erase refuse it and scans skip it.
inline constexpr std::string_view kSchemaVersionKey = "schema_version";

enum class Durability {
  kSync,   // fsync the write-ahead log before returning (survives power loss)
  kAsync,  // in the OS page cache only (survives a process crash, not power loss)
  // As kAsync, but no reason for sync(): durable with the next synced write
  // or sync() that happens anyway. For records whose loss in a power cut a
  // restart tolerates (a job's "running" over its durable "placed").
  kLazy,
};

struct StorageOptions {
  // Create the directory (and parents) and an empty store when missing.
  bool create_if_missing = true;
  // Limits on what one call may write or read (STYLE.md habit 6).
  std::size_t key_size_bytes_max = 4 * 1024;
  std::size_t value_size_bytes_max = 16 * 1024 * 1024;
  std::size_t batch_ops_max = 100'000;
  std::size_t batch_size_bytes_max = 64 * 1024 * 1024;  // keys + values
  std::size_t scan_limit_max = 100'000;                  // records per scan()
  std::size_t load_records_max = 10'000'000;             // records per load_all()
  // Files, locks and threads go through this Env (not owned; must outlive
  // the Storage). nullptr means rocksdb::Env::Default(). Tests pass an Env
  // over a fault-injecting FileSystem.
  rocksdb::Env* env = nullptr;
};

// An ordered list of puts and erases to write atomically with
// Storage::write(). Building it never fails; Storage::write() validates it
// as a whole. Not thread-safe.
class WriteBatch {
 public:
  void put(Column column, std::string_view key, std::span<const std::uint8_t> value);
  void erase(Column column, std::string_view key);
  // Appends ops in order (moving their values in).
  void append(std::vector<PersistOp>&& ops);

  std::size_t count() const { return ops_.size(); }
  std::size_t size_bytes() const { return size_bytes_; }  // keys + values
  bool empty() const { return ops_.empty(); }
  void clear();
  std::span<const PersistOp> ops() const { return ops_; }

 private:
  std::vector<PersistOp> ops_;
  std::size_t size_bytes_ = 0;
};

// One page of a scan(): records in key order, and where to continue.
struct ScanPage {
  std::vector<std::pair<std::string, Bytes>> records;
  // Set when more records match: pass it as `start` to the next scan().
  std::optional<std::string> next_key;
};

class Storage {
 public:
  // Opens (or, with create_if_missing, creates) the store in `dir`, holding
  // RocksDB's lock on it until close(). See the header comment for errors.
  static Result<std::unique_ptr<Storage>> open(const std::string& dir, StorageOptions options = {});

  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  // Flushes nothing extra (synced writes are already durable), releases the
  // directory lock. Idempotent. Any later call fails with kFailedPrecondition.
  Status close();

  // The value at `key`, or nullopt when absent.
  Result<std::optional<Bytes>> get(Column column, std::string_view key) const;

  Status put(Column column, std::string_view key, std::span<const std::uint8_t> value,
             Durability durability);
  Status erase(Column column, std::string_view key, Durability durability);

  // All of `batch`, atomically; nothing when any op is invalid.
  Status write(const WriteBatch& batch, Durability durability);

  // Makes every earlier kAsync write durable (one fsync of the write-ahead
  // log); a no-op when there is none. A kSync write does the same for the
  // kAsync writes before it (one log), which is how the daemon puts the job
  // records and the acceptor state of one turn under a single fsync.
  Status sync();
  // Whether a kAsync write is not yet covered by a synced write or sync():
  // sync() would fsync. kLazy writes never make it true.
  bool sync_pending() const;

  // A core's Effects::persist: atomically and durably (synced) in one write.
  Status apply(std::span<const PersistOp> ops);

  // Up to `limit` records of `column` whose key starts with `prefix`, from
  // the first such key >= `start`, in key order. 1 <= limit <= scan_limit_max.
  Result<ScanPage> scan(Column column, std::string_view prefix, std::string_view start,
                        std::size_t limit) const;

  // Every record of `column`, to rebuild a core at restart. Fails with
  // kResourceExhausted rather than return a truncated state when the column
  // holds more than load_records_max records.
  Result<DurableRecords> load_all(Column column) const;

  // Checks `ops` against the limits and reserved keys without writing:
  // what write() and apply() do first. Used by GroupCommitter::enqueue().
  Status validate(std::span<const PersistOp> ops) const;

  const std::string& dir() const { return dir_; }
  const StorageOptions& options() const { return options_; }

 private:
  Storage(std::string dir, StorageOptions options);

  Status open_db();
  Status check_schema_or_initialize(const std::vector<std::string>& existing_families);
  Status validate_op(const PersistOp& op) const;
  Status validate_key(Column column, std::string_view key) const;
  Status write_ops(std::span<const PersistOp> ops, Durability durability);
  void note_synced(std::uint64_t async_writes);  // a synced write or sync() covered this many kAsync writes
  Status check_open() const;
  rocksdb::ColumnFamilyHandle* handle(Column column) const;

  std::string dir_;
  StorageOptions options_;
  // Declared before the handles: the handles must be destroyed first.
  std::unique_ptr<rocksdb::DB> db_;
  // kAsync writes done, and how many of them a later synced write or
  // sync() covered. Counters, not one flag: a pipelined CoreHost writes
  // synced on its committer thread while the loop writes kAsync, and a
  // synced write covers only the kAsync writes that returned before it began.
  std::atomic<std::uint64_t> async_writes_{0};
  std::atomic<std::uint64_t> synced_async_writes_{0};
  std::array<std::unique_ptr<rocksdb::ColumnFamilyHandle>, kColumnCount> handles_;
  // Column families on disk that this version does not use, kept open
  // because RocksDB requires every family to be opened.
  std::vector<std::unique_ptr<rocksdb::ColumnFamilyHandle>> other_handles_;
};

// Group commit: collects the PersistOp batches that many consensus instances
// produce during one event-loop turn and makes them all durable with ONE
// synced RocksDB write (one fdatasync, ~0.17 ms here), instead of one fsync
// per decision. The event loop calls enqueue() for each core's
// Effects::persist, then flush() once, and only after flush() succeeds sends
// the messages of the batches it covered (persist, then send).
//
// Per-batch outcome: enqueue() refuses an invalid batch on its own (nothing of
// it is queued, the others are unaffected); flush() writes all queued batches
// in one atomic write, so its Status is every queued batch's status. On
// failure nothing was written and the queue is kept, so the caller may retry
// flush() or clear() it. Not thread-safe; `storage` must outlive it.
class GroupCommitter {
 public:
  struct Limits {
    std::size_t batches_max = 10'000;
  };

  explicit GroupCommitter(Storage& storage) : GroupCommitter(storage, Limits{}) {}
  GroupCommitter(Storage& storage, Limits limits) : storage_(storage), limits_(limits) {}

  // Queues `ops` (one core's Effects::persist). kResourceExhausted when the
  // queue would exceed its bounds (batches_max, or the storage's
  // batch_ops_max / batch_size_bytes_max): flush() first.
  Status enqueue(std::vector<PersistOp> ops);
  // One synced, atomic write of every queued batch; empties the queue on success.
  Status flush();
  void clear();

  std::size_t pending_batches() const { return pending_batches_; }
  std::size_t pending_ops() const { return pending_.count(); }
  std::size_t pending_size_bytes() const { return pending_.size_bytes(); }

 private:
  Storage& storage_;
  Limits limits_;
  WriteBatch pending_;
  std::size_t pending_batches_ = 0;
};

}  // namespace polder::node
