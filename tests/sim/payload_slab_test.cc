#include "sim/payload_slab.h"

#include <gtest/gtest.h>

namespace polder::sim {
namespace {

TEST(PayloadSlab, StoresBytesAndReusesFreedSlots) {
  PayloadSlab slab(8);
  const std::uint32_t a = slab.store(Bytes{1, 2, 3}, 1);
  ASSERT_NE(a, PayloadSlab::kNoSlot);
  EXPECT_EQ(Bytes(slab.view(a).begin(), slab.view(a).end()), (Bytes{1, 2, 3}));
  slab.release(a);
  EXPECT_EQ(slab.in_use(), 0U);
  const std::uint32_t b = slab.store(Bytes{9}, 1);
  EXPECT_EQ(b, a);
  EXPECT_EQ(Bytes(slab.view(b).begin(), slab.view(b).end()), (Bytes{9}));
}

TEST(PayloadSlab, KeepsPayloadUntilLastReferenceIsReleased) {
  PayloadSlab slab(8);
  const std::uint32_t id = slab.store(Bytes{4, 5}, 2);
  slab.release(id);
  EXPECT_EQ(slab.in_use(), 1U);
  EXPECT_EQ(slab.view(id).size(), 2U);
  slab.release(id);
  EXPECT_EQ(slab.in_use(), 0U);
}

TEST(PayloadSlab, RefusesStoreWhenFull) {
  PayloadSlab slab(2);
  EXPECT_NE(slab.store(Bytes{1}, 1), PayloadSlab::kNoSlot);
  EXPECT_NE(slab.store(Bytes{2}, 1), PayloadSlab::kNoSlot);
  EXPECT_EQ(slab.store(Bytes{3}, 1), PayloadSlab::kNoSlot);
}

TEST(PayloadSlab, SameContentGivesSameHash) {
  PayloadSlab slab(4);
  const std::uint32_t a = slab.store(Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1);
  const std::uint32_t b = slab.store(Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1);
  const std::uint32_t c = slab.store(Bytes{1, 2, 3, 4, 5, 6, 7, 8, 8}, 1);
  EXPECT_EQ(slab.content_hash(a), slab.content_hash(b));
  EXPECT_NE(slab.content_hash(a), slab.content_hash(c));
}

}  // namespace
}  // namespace polder::sim
