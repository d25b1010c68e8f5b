#include "node/storage.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <filesystem>
#include <system_error>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/iterator.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/status.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

namespace polder::node {
namespace {

// Column family names, indexed by polder::Column. "default" cannot be
// renamed in RocksDB, so node metadata lives there.
constexpr std::array<std::string_view, kColumnCount> kFamilyNames = {"default", "acceptor", "jobs",
                                                                     "logs"};
static_assert(static_cast<int>(Column::kMeta) == 0 && static_cast<int>(Column::kLogs) == 3,
              "kFamilyNames is indexed by Column");

// RocksDB's info LOG is ours to bound too (STYLE.md habit 6).
constexpr std::size_t kInfoLogFilesMax = 4;
constexpr std::size_t kInfoLogSizeBytesMax = 8 * 1024 * 1024;
constexpr int kOpenFilesMax = 512;

// Per-family tuning. The acceptor family takes a few small writes per
// consensus decision and is read back only by a scan at start: with a skip
// list, its inserts (random 37-byte keys into a memtable of up to 64 MB)
// were a third of a busy node's CPU (perf, bench/consensus_cluster). A
// vector memtable appends instead and sorts once, in the background flush;
// the price is a sort per read of the unflushed part, paid by load_all() at
// start and by tests. Needs allow_concurrent_memtable_write off (one writer
// thread per write group anyway).
rocksdb::ColumnFamilyOptions family_options(std::string_view name, const rocksdb::ColumnFamilyOptions& base) {
  rocksdb::ColumnFamilyOptions o = base;
  if (name == "acceptor") o.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
  return o;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

bool valid_column(Column column) {
  const int index = static_cast<int>(column);
  return index >= 0 && index < kColumnCount;
}

std::string_view family_name(Column column) { return kFamilyNames[static_cast<int>(column)]; }

rocksdb::Slice to_slice(std::string_view s) { return {s.data(), s.size()}; }
rocksdb::Slice to_slice(std::span<const std::uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
Bytes to_bytes(const rocksdb::Slice& s) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(s.data());
  return Bytes(data, data + s.size());
}

// Turns a RocksDB status into ours, keeping RocksDB's message (it names the
// file and the OS error) after `what` (what we were doing, and where).
Status from_rocksdb(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::ok();
  const std::string text = s.ToString();
  const std::string message = std::string(what) + ": " + text;
  if (s.IsNoSpace() || contains(text, "No space left")) {
    return resource_exhausted(std::string(what) + ": disk full: " + text);
  }
  if (contains(text, "Permission denied") || contains(text, "Read-only file system")) {
    return permission_denied(message);
  }
  if (s.IsCorruption()) return data_loss(message);
  if (s.IsNotFound()) return not_found(message);
  if (s.IsInvalidArgument()) return invalid_argument(message);
  if (s.IsNotSupported()) return failed_precondition(message);
  if (s.IsIOError() || s.IsBusy() || s.IsTimedOut() || s.IsTryAgain() || s.IsAborted() ||
      s.IsIncomplete() || s.IsShutdownInProgress()) {
    return unavailable(message);
  }
  return internal_error(message);
}

// RocksDB reports a held LOCK file as an IOError: "While lock file: DIR/LOCK:
// Resource temporarily unavailable" when another process holds it, "lock hold
// by current process" when this one does. We match those phrases rather than
// "lock" alone, which may occur in the directory's own name.
bool is_lock_error(const rocksdb::Status& s) {
  const std::string text = s.ToString();
  return s.IsIOError() && (contains(text, "While lock file") || contains(text, "lock hold by"));
}

// Library exceptions (std::bad_alloc, std::filesystem, ...) stop here and
// become a value (STYLE.md habit 4).
template <typename F>
auto guarded(std::string_view what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return internal_error(std::string(what) + ": " + e.what());
  } catch (...) {
    return internal_error(std::string(what) + ": unknown exception");
  }
}

Status errno_status(int error, const std::string& what) {
  const std::string message = what + ": " + std::strerror(error);
  switch (error) {
    case EACCES:
    case EPERM:
    case EROFS:
      return permission_denied(message);
    case ENOTDIR:
    case ENAMETOOLONG:
    case ELOOP:
      return invalid_argument(message);
    case ENOSPC:
    case EDQUOT:
      return resource_exhausted(message);
    case ENOENT:
      return not_found(message);
    default:
      return unavailable(message);
  }
}

// Makes sure `dir` is a directory this process may create files in, with a
// message that names the directory (RocksDB's would name a file inside it).
Status prepare_directory(const std::string& dir, bool create_if_missing) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return errno_status(ec.value(), "cannot use storage directory " + dir);
  }
  if (!fs::exists(st)) {
    if (!create_if_missing) return not_found("storage directory " + dir + " does not exist");
    fs::create_directories(dir, ec);
    if (ec) return errno_status(ec.value(), "cannot create storage directory " + dir);
  } else if (!fs::is_directory(st)) {
    return invalid_argument("storage directory " + dir + " exists but is not a directory");
  }
  // AT_EACCESS: check with the effective ids, which are what open(2) uses.
  if (faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
    const int error = errno;
    return errno_status(error, "storage directory " + dir + " is not writable by this process (uid " +
                                   std::to_string(geteuid()) + "); fix its owner or mode");
  }
  return Status::ok();
}

Result<std::uint32_t> parse_schema_version(std::string_view text, const std::string& dir) {
  std::uint32_t version = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version == 0) {
    return data_loss("storage at " + dir + " has a corrupt schema version record (\"" +
                     std::string(text.substr(0, 32)) + "\"): restore the data directory from a backup");
  }
  return version;
}

}  // namespace

// ---------------------------------------------------------------- WriteBatch

void WriteBatch::put(Column column, std::string_view key, std::span<const std::uint8_t> value) {
  ops_.push_back(PersistOp{column, std::string(key), Bytes(value.begin(), value.end()), false});
  size_bytes_ += key.size() + value.size();
}

void WriteBatch::erase(Column column, std::string_view key) {
  ops_.push_back(PersistOp{column, std::string(key), Bytes(), true});
  size_bytes_ += key.size();
}

void WriteBatch::append(std::vector<PersistOp>&& ops) {
  ops_.reserve(ops_.size() + ops.size());
  for (PersistOp& op : ops) {
    size_bytes_ += op.key.size() + (op.erase ? 0 : op.value.size());
    ops_.push_back(std::move(op));
  }
  ops.clear();
}

void WriteBatch::clear() {
  ops_.clear();
  size_bytes_ = 0;
}

// ------------------------------------------------------------------- Storage

Storage::Storage(std::string dir, StorageOptions options)
    : dir_(std::move(dir)), options_(options) {}

Storage::~Storage() {
  const Status s = close();
  if (!s.is_ok()) spdlog::warn("storage: closing {} failed: {}", dir_, s.to_string());
}

Result<std::unique_ptr<Storage>> Storage::open(const std::string& dir, StorageOptions options) {
  return guarded("opening storage at " + dir, [&]() -> Result<std::unique_ptr<Storage>> {
    if (dir.empty()) return invalid_argument("storage directory is empty: set a data directory");
    if (options.key_size_bytes_max == 0 || options.scan_limit_max == 0 ||
        options.batch_ops_max == 0 ||
        options.batch_size_bytes_max < options.key_size_bytes_max + options.value_size_bytes_max) {
      return invalid_argument(
          "storage limits are inconsistent: a batch must hold at least one largest record");
    }
    POLDER_RETURN_IF_ERROR(prepare_directory(dir, options.create_if_missing));
    // The constructor is private: open() is the only way to get a Storage.
    std::unique_ptr<Storage> storage(new Storage(dir, options));
    POLDER_RETURN_IF_ERROR(storage->open_db());
    return storage;
  });
}

Status Storage::open_db() {
  rocksdb::Options options;
  options.env = options_.env != nullptr ? options_.env : rocksdb::Env::Default();
  options.create_if_missing = options_.create_if_missing;
  options.create_missing_column_families = false;  // see check_schema_or_initialize()
  options.paranoid_checks = true;
  options.keep_log_file_num = kInfoLogFilesMax;
  options.max_log_file_size = kInfoLogSizeBytesMax;
  options.max_open_files = kOpenFilesMax;
  options.allow_concurrent_memtable_write = false;  // see family_options()

  // Open every family on disk (RocksDB insists), including ones a newer
  // polderd may have added: the schema check must run before we refuse.
  std::vector<std::string> families;
  const bool exists = options.env->FileExists(dir_ + "/CURRENT").ok();
  if (exists) {
    POLDER_RETURN_IF_ERROR(from_rocksdb(rocksdb::DB::ListColumnFamilies(options, dir_, &families),
                                        "reading the column families of storage at " + dir_));
  } else {
    families = {std::string(kFamilyNames[0])};
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : families) {
    descriptors.emplace_back(name, family_options(name, rocksdb::ColumnFamilyOptions(options)));
  }

  std::vector<rocksdb::ColumnFamilyHandle*> raw_handles;
  rocksdb::DB* raw_db = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(options, dir_, descriptors, &raw_handles, &raw_db);
  if (!s.ok()) {
    if (is_lock_error(s)) {
      return unavailable("storage directory " + dir_ +
                         " is locked by another process (is another polderd running with this "
                         "data dir?): " +
                         s.ToString());
    }
    return from_rocksdb(s, "opening storage at " + dir_);
  }
  db_.reset(raw_db);
  for (std::size_t i = 0; i < raw_handles.size(); ++i) {
    std::unique_ptr<rocksdb::ColumnFamilyHandle> h(raw_handles[i]);
    const auto known = std::find(kFamilyNames.begin(), kFamilyNames.end(), families[i]);
    if (known == kFamilyNames.end()) {
      other_handles_.push_back(std::move(h));
    } else {
      handles_[static_cast<std::size_t>(known - kFamilyNames.begin())] = std::move(h);
    }
  }
  assert(handles_[0] != nullptr && "RocksDB always opens the default column family");
  return check_schema_or_initialize(families);
}

// Existing store: its schema version must be one we understand, and all our
// families must be there. New store (or one whose first open crashed before
// the version was written, which leaves it empty): create the families and
// write the version, synced.
Status Storage::check_schema_or_initialize(const std::vector<std::string>& existing_families) {
  std::string text;
  const rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), handles_[0].get(), to_slice(kSchemaVersionKey), &text);
  if (s.ok()) {
    Result<std::uint32_t> version = parse_schema_version(text, dir_);
    if (!version.is_ok()) return version.status();
    if (*version > kSchemaVersion) {
      return failed_precondition("storage at " + dir_ + " has schema version " +
                                 std::to_string(*version) + ", this polderd understands up to " +
                                 std::to_string(kSchemaVersion) + ": upgrade polderd");
    }
    // Versions below ours would be migrated here; 1 is the first there is.
    for (int c = 0; c < kColumnCount; ++c) {
      if (handles_[c] == nullptr) {
        return data_loss("storage at " + dir_ + " (schema version " + std::to_string(*version) +
                         ") lacks column family \"" + std::string(kFamilyNames[c]) +
                         "\": restore the data directory from a backup");
      }
    }
    spdlog::info("storage: opened {} (schema version {})", dir_, *version);
    return Status::ok();
  }
  if (!s.IsNotFound()) return from_rocksdb(s, "reading the schema version of storage at " + dir_);

  // No version: only an empty store may be initialised; anything else is not
  // ours, or lost its version, and must not be overwritten.
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  for (const auto& h : handles_) {
    if (h) all.push_back(h.get());
  }
  for (const auto& h : other_handles_) all.push_back(h.get());
  for (rocksdb::ColumnFamilyHandle* h : all) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), h));
    it->SeekToFirst();
    POLDER_RETURN_IF_ERROR(from_rocksdb(it->status(), "reading storage at " + dir_));
    if (it->Valid()) {
      return data_loss("storage at " + dir_ + " holds data but no schema version (" +
                       std::to_string(existing_families.size()) +
                       " column families): not a polderd data directory, or damaged");
    }
  }
  for (int c = 0; c < kColumnCount; ++c) {
    if (handles_[c] != nullptr) continue;
    rocksdb::ColumnFamilyHandle* raw = nullptr;
    POLDER_RETURN_IF_ERROR(from_rocksdb(
        db_->CreateColumnFamily(family_options(kFamilyNames[c], rocksdb::ColumnFamilyOptions()),
                                std::string(kFamilyNames[c]), &raw),
        "creating column family " + std::string(kFamilyNames[c]) + " in storage at " + dir_));
    handles_[c].reset(raw);
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  const std::string version = std::to_string(kSchemaVersion);
  POLDER_RETURN_IF_ERROR(from_rocksdb(
      db_->Put(sync, handles_[0].get(), to_slice(kSchemaVersionKey), version),
      "writing the schema version of storage at " + dir_));
  spdlog::info("storage: created {} (schema version {})", dir_, kSchemaVersion);
  return Status::ok();
}

Status Storage::close() {
  return guarded("closing storage at " + dir_, [&]() -> Status {
    if (!db_) return Status::ok();
    // Handles go before the DB (RocksDB asserts on leaked handles in Close).
    for (auto& h : handles_) {
      if (h) db_->DestroyColumnFamilyHandle(h.release()).PermitUncheckedError();
    }
    for (auto& h : other_handles_) db_->DestroyColumnFamilyHandle(h.release()).PermitUncheckedError();
    other_handles_.clear();
    const rocksdb::Status s = db_->Close();
    db_.reset();
    return from_rocksdb(s, "closing storage at " + dir_);
  });
}

Status Storage::check_open() const {
  if (!db_) return failed_precondition("storage at " + dir_ + " is closed");
  return Status::ok();
}

rocksdb::ColumnFamilyHandle* Storage::handle(Column column) const {
  assert(valid_column(column));
  rocksdb::ColumnFamilyHandle* h = handles_[static_cast<std::size_t>(column)].get();
  assert(h != nullptr && "an open Storage has a handle for every Column");
  return h;
}

Status Storage::validate_key(Column column, std::string_view key) const {
  if (!valid_column(column)) {
    return invalid_argument("unknown storage column " + std::to_string(static_cast<int>(column)));
  }
  if (key.empty()) return invalid_argument("storage key is empty");
  if (key.size() > options_.key_size_bytes_max) {
    return resource_exhausted("storage key of " + std::to_string(key.size()) +
                              " bytes is over the limit of " +
                              std::to_string(options_.key_size_bytes_max) + " bytes");
  }
  return Status::ok();
}

Status Storage::validate_op(const PersistOp& op) const {
  POLDER_RETURN_IF_ERROR(validate_key(op.column, op.key));
  if (op.column == Column::kMeta && op.key == kSchemaVersionKey) {
    return invalid_argument("storage key \"" + op.key + "\" in column " +
                            std::string(family_name(op.column)) + " is reserved");
  }
  if (!op.erase && op.value.size() > options_.value_size_bytes_max) {
    return resource_exhausted("storage value of " + std::to_string(op.value.size()) +
                              " bytes (column " + std::string(family_name(op.column)) +
                              ") is over the limit of " +
                              std::to_string(options_.value_size_bytes_max) + " bytes");
  }
  return Status::ok();
}

Status Storage::validate(std::span<const PersistOp> ops) const {
  if (ops.size() > options_.batch_ops_max) {
    return resource_exhausted("storage batch of " + std::to_string(ops.size()) +
                              " records is over the limit of " +
                              std::to_string(options_.batch_ops_max));
  }
  std::size_t size_bytes = 0;
  for (const PersistOp& op : ops) {
    POLDER_RETURN_IF_ERROR(validate_op(op));
    size_bytes += op.key.size() + (op.erase ? 0 : op.value.size());
  }
  if (size_bytes > options_.batch_size_bytes_max) {
    return resource_exhausted("storage batch of " + std::to_string(size_bytes) +
                              " bytes is over the limit of " +
                              std::to_string(options_.batch_size_bytes_max) + " bytes");
  }
  return Status::ok();
}

// Every op is validated before the first is added: a refused batch changes
// nothing. RocksDB then applies the batch atomically, across families.
Status Storage::write_ops(std::span<const PersistOp> ops, Durability durability) {
  POLDER_RETURN_IF_ERROR(check_open());
  POLDER_RETURN_IF_ERROR(validate(ops));
  if (ops.empty()) return Status::ok();
  rocksdb::WriteBatch batch;
  for (const PersistOp& op : ops) {
    const rocksdb::Status s = op.erase ? batch.Delete(handle(op.column), to_slice(op.key))
                                       : batch.Put(handle(op.column), to_slice(op.key),
                                                   to_slice(std::span<const std::uint8_t>(op.value)));
    POLDER_RETURN_IF_ERROR(from_rocksdb(s, "building a write batch for storage at " + dir_));
  }
  rocksdb::WriteOptions options;
  options.sync = durability == Durability::kSync;
  // A synced write makes durable every kAsync write that returned before it
  // began (one log), on whichever thread it ran: read the count first.
  const std::uint64_t async_before = async_writes_.load(std::memory_order_acquire);
  Status written = from_rocksdb(db_->Write(options, &batch),
                                "writing " + std::to_string(ops.size()) + " records to storage at " + dir_);
  if (written.is_ok()) {
    if (options.sync) {
      note_synced(async_before);
    } else if (durability == Durability::kAsync) {  // (ops is not empty)
      async_writes_.fetch_add(1, std::memory_order_acq_rel);
    }
  }
  return written;
}

void Storage::note_synced(std::uint64_t async_writes) {
  std::uint64_t seen = synced_async_writes_.load(std::memory_order_acquire);
  while (seen < async_writes &&
         !synced_async_writes_.compare_exchange_weak(seen, async_writes, std::memory_order_acq_rel)) {
  }
}

Status Storage::sync() {
  return guarded("syncing storage at " + dir_, [&]() -> Status {
    POLDER_RETURN_IF_ERROR(check_open());
    const std::uint64_t async_before = async_writes_.load(std::memory_order_acquire);
    if (synced_async_writes_.load(std::memory_order_acquire) >= async_before) return Status::ok();
    POLDER_RETURN_IF_ERROR(from_rocksdb(db_->SyncWAL(), "syncing the write-ahead log of storage at " + dir_));
    note_synced(async_before);
    return Status::ok();
  });
}

bool Storage::sync_pending() const {
  return synced_async_writes_.load(std::memory_order_acquire) < async_writes_.load(std::memory_order_acquire);
}

Result<std::optional<Bytes>> Storage::get(Column column, std::string_view key) const {
  return guarded("reading storage at " + dir_, [&]() -> Result<std::optional<Bytes>> {
    POLDER_RETURN_IF_ERROR(check_open());
    POLDER_RETURN_IF_ERROR(validate_key(column, key));
    rocksdb::PinnableSlice value;
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handle(column), to_slice(key), &value);
    if (s.IsNotFound()) return std::optional<Bytes>();
    POLDER_RETURN_IF_ERROR(from_rocksdb(s, "reading storage at " + dir_));
    return std::optional<Bytes>(to_bytes(value));
  });
}

Status Storage::put(Column column, std::string_view key, std::span<const std::uint8_t> value,
                    Durability durability) {
  return guarded("writing storage at " + dir_, [&]() -> Status {
    WriteBatch batch;
    batch.put(column, key, value);
    return write(batch, durability);
  });
}

Status Storage::erase(Column column, std::string_view key, Durability durability) {
  return guarded("writing storage at " + dir_, [&]() -> Status {
    WriteBatch batch;
    batch.erase(column, key);
    return write(batch, durability);
  });
}

Status Storage::write(const WriteBatch& batch, Durability durability) {
  return guarded("writing storage at " + dir_,
                 [&]() -> Status { return write_ops(batch.ops(), durability); });
}

Status Storage::apply(std::span<const PersistOp> ops) {
  return guarded("writing storage at " + dir_,
                 [&]() -> Status { return write_ops(ops, Durability::kSync); });
}

Result<ScanPage> Storage::scan(Column column, std::string_view prefix, std::string_view start,
                               std::size_t limit) const {
  return guarded("scanning storage at " + dir_, [&]() -> Result<ScanPage> {
    POLDER_RETURN_IF_ERROR(check_open());
    if (!valid_column(column)) {
      return invalid_argument("unknown storage column " + std::to_string(static_cast<int>(column)));
    }
    if (limit == 0 || limit > options_.scan_limit_max) {
      return invalid_argument("scan limit " + std::to_string(limit) + " is outside 1.." +
                              std::to_string(options_.scan_limit_max));
    }
    ScanPage page;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), handle(column)));
    for (it->Seek(to_slice(std::max(prefix, start))); it->Valid(); it->Next()) {
      const std::string_view key(it->key().data(), it->key().size());
      if (!key.starts_with(prefix)) break;
      if (column == Column::kMeta && key == kSchemaVersionKey) continue;
      if (page.records.size() == limit) {
        page.next_key = std::string(key);
        break;
      }
      page.records.emplace_back(std::string(key), to_bytes(it->value()));
    }
    POLDER_RETURN_IF_ERROR(from_rocksdb(it->status(), "scanning storage at " + dir_));
    return page;
  });
}

Result<DurableRecords> Storage::load_all(Column column) const {
  return guarded("loading storage at " + dir_, [&]() -> Result<DurableRecords> {
    POLDER_RETURN_IF_ERROR(check_open());
    if (!valid_column(column)) {
      return invalid_argument("unknown storage column " + std::to_string(static_cast<int>(column)));
    }
    DurableRecords records;
    rocksdb::ReadOptions read;
    read.fill_cache = false;  // a one-off full read; keep the cache for the hot set
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, handle(column)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string key = it->key().ToString();
      if (column == Column::kMeta && key == kSchemaVersionKey) continue;
      if (records.size() == options_.load_records_max) {
        return resource_exhausted("column " + std::string(family_name(column)) + " of storage at " +
                                  dir_ + " holds more than " +
                                  std::to_string(options_.load_records_max) +
                                  " records (load_records_max)");
      }
      records.emplace(std::make_pair(column, key), to_bytes(it->value()));
    }
    POLDER_RETURN_IF_ERROR(from_rocksdb(it->status(), "loading storage at " + dir_));
    return records;
  });
}

// ------------------------------------------------------------ GroupCommitter

Status GroupCommitter::enqueue(std::vector<PersistOp> ops) {
  return guarded("queueing a group commit", [&]() -> Status {
    if (ops.empty()) return Status::ok();
    if (pending_batches_ >= limits_.batches_max) {
      return resource_exhausted("group commit queue holds " + std::to_string(pending_batches_) +
                                " batches (batches_max): flush first");
    }
    POLDER_RETURN_IF_ERROR(storage_.validate(ops));
    std::size_t size_bytes = 0;
    for (const PersistOp& op : ops) size_bytes += op.key.size() + (op.erase ? 0 : op.value.size());
    const StorageOptions& o = storage_.options();
    if (pending_.count() + ops.size() > o.batch_ops_max ||
        pending_.size_bytes() + size_bytes > o.batch_size_bytes_max) {
      return resource_exhausted("group commit queue is full (" + std::to_string(pending_.count()) +
                                " records, " + std::to_string(pending_.size_bytes()) +
                                " bytes): flush first");
    }
    pending_.append(std::move(ops));
    ++pending_batches_;
    return Status::ok();
  });
}

Status GroupCommitter::flush() {
  if (pending_.empty()) return Status::ok();
  POLDER_RETURN_IF_ERROR(storage_.write(pending_, Durability::kSync));
  clear();
  return Status::ok();
}

void GroupCommitter::clear() {
  pending_.clear();
  pending_batches_ = 0;
}

}  // namespace polder::node
