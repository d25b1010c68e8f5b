// A RocksDB FileSystem wrapper that fails writes like a full disk, on
// command: tests wrap the real Env and inject the fault (STYLE.md).
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <memory>

namespace polder::node {

// A FileSystem that, when told the disk is full, fails every append and sync
// the way a full disk does (STYLE.md: wrap the real Env, inject the fault).
class DiskFullSwitch {
 public:
  void set(bool full) { full_.store(full); }
  bool full() const { return full_.load(); }
  // Syncs of writable files that reached the disk (tests count fsyncs).
  void count_sync() { syncs_.fetch_add(1); }
  int syncs() const { return syncs_.load(); }

 private:
  std::atomic<bool> full_{false};
  std::atomic<int> syncs_{0};
};

class FaultWritableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultWritableFile(std::unique_ptr<rocksdb::FSWritableFile>&& file,
                    std::shared_ptr<DiskFullSwitch> disk)
      : FSWritableFileOwnerWrapper(std::move(file)), disk_(std::move(disk)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* d) override {
    if (disk_->full()) return no_space();
    return FSWritableFileOwnerWrapper::Append(data, o, d);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& v,
                           rocksdb::IODebugContext* d) override {
    if (disk_->full()) return no_space();
    return FSWritableFileOwnerWrapper::Append(data, o, v, d);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    if (disk_->full()) return no_space();
    disk_->count_sync();
    return FSWritableFileOwnerWrapper::Sync(o, d);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* d) override {
    if (disk_->full()) return no_space();
    disk_->count_sync();
    return FSWritableFileOwnerWrapper::Fsync(o, d);
  }

 private:
  static rocksdb::IOStatus no_space() {
    return rocksdb::IOStatus::NoSpace("injected fault", "No space left on device");
  }
  std::shared_ptr<DiskFullSwitch> disk_;
};

class FaultFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultFileSystem(std::shared_ptr<DiskFullSwitch> disk)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), disk_(std::move(disk)) {}
  const char* Name() const override { return "PolderFaultFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* d) override {
    return wrap(target()->NewWritableFile(f, o, r, d), r);
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* d) override {
    return wrap(target()->ReopenWritableFile(f, o, r, d), r);
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* d) override {
    return wrap(target()->ReuseWritableFile(f, old, o, r, d), r);
  }

 private:
  rocksdb::IOStatus wrap(rocksdb::IOStatus s, std::unique_ptr<rocksdb::FSWritableFile>* r) {
    if (s.ok()) *r = std::make_unique<FaultWritableFile>(std::move(*r), disk_);
    return s;
  }
  std::shared_ptr<DiskFullSwitch> disk_;
};

}  // namespace polder::node
