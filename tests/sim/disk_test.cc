#include "sim/disk.h"

#include <gtest/gtest.h>

namespace polder::sim {
namespace {

PersistOp put(std::string key, std::uint8_t value) { return PersistOp{Column::kMeta, std::move(key), Bytes{value}, false}; }

TEST(SimDisk, WriteIsDurableAndEraseRemoves) {
  SimDisk disk;
  std::vector<PersistOp> ops{put("a", 1), put("b", 2)};
  disk.write(ops);
  ops = {PersistOp{Column::kMeta, "a", {}, true}};
  disk.write(ops);
  ASSERT_EQ(disk.durable().size(), 1U);
  EXPECT_EQ(disk.durable().at({Column::kMeta, "b"}), Bytes{2});
}

TEST(SimDisk, SlowDiskQueuesBatchesInFifoOrder) {
  SimDisk disk(DiskOptions{100, 16});
  EXPECT_TRUE(disk.must_queue(true));
  EXPECT_FALSE(disk.must_queue(false));
  PendingBatch first;
  first.persist.push_back(put("a", 1));
  EXPECT_EQ(disk.submit(std::move(first), true, 0), 100);
  // A batch without writes behind a pending one waits for it.
  EXPECT_TRUE(disk.must_queue(false));
  EXPECT_EQ(disk.submit(PendingBatch{}, false, 10), 100);
  EXPECT_TRUE(disk.durable().empty());
  disk.complete_oldest();
  EXPECT_EQ(disk.durable().size(), 1U);
  EXPECT_EQ(disk.pending_count(), 1U);
}

TEST(SimDisk, CrashDropsPendingWritesAndKeepsDurableOnes) {
  SimDisk disk(DiskOptions{100, 16});
  std::vector<PersistOp> ops{put("kept", 1)};
  disk.write(ops);
  PendingBatch pending;
  pending.persist.push_back(put("lost", 2));
  disk.submit(std::move(pending), true, 0);
  disk.crash();
  EXPECT_FALSE(disk.has_pending());
  EXPECT_EQ(disk.durable().count({Column::kMeta, "kept"}), 1U);
  EXPECT_EQ(disk.durable().count({Column::kMeta, "lost"}), 0U);
}

TEST(SimDisk, RejectsNegativeDelay) {
  EXPECT_EQ(validate_disk_options(DiskOptions{-1, 16}).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace polder::sim
