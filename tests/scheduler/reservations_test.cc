#include "scheduler/reservations.h"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "protocol/rng.h"
#include "tests/scheduler/fixtures.h"

namespace polder::scheduler {
namespace {

using testing::job_id;
using testing::kGB;

constexpr Duration kTtl = std::chrono::seconds(2);
const Instant kT0 = instant_from_us(1'000'000);

Resources gpus(std::uint32_t n, const std::string& type = "H100", std::uint32_t cpus = 1) {
  return Resources{n, type, cpus, 0};
}

ReservationTable table(std::vector<std::string> slots = std::vector<std::string>(4, "H100"), std::uint32_t cpus = 16) {
  auto t = ReservationTable::create(Capacity{std::move(slots), cpus, 64 * kGB});
  EXPECT_TRUE(t.is_ok());
  return std::move(t).value();
}

TEST(ReservationTableTest, GrantsDistinctLowestFreeSlots) {
  auto t = table();
  auto a = t.grant(job_id(1), Attempt{0}, gpus(2), kT0, kTtl);
  auto b = t.grant(job_id(2), Attempt{0}, gpus(2), kT0, kTtl);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(a->gpu_slots, (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(b->gpu_slots, (std::vector<std::uint32_t>{2, 3}));
  EXPECT_EQ(cuda_visible_devices(b->gpu_slots), "2,3");
  EXPECT_TRUE(t.check_invariants().is_ok());
}

// Admission (node/jobs.h) needs to tell a refusal behind undecided
// reservations from one behind running jobs.
TEST(ReservationTableTest, TellsWhetherARefusedRequestWaitsOnlyForReservations) {
  auto t = table({"H100", "H100", "A100"}, 4);
  auto reserved = t.grant(job_id(1), Attempt{1}, gpus(2, "H100", 2), kT0, kTtl);
  ASSERT_TRUE(reserved.is_ok());
  // Two H100 and two CPUs are held by a reservation not yet confirmed.
  EXPECT_FALSE(t.grant(job_id(2), Attempt{1}, gpus(1, "H100", 1), kT0, kTtl).is_ok());
  EXPECT_TRUE(t.fits_without_reservations(gpus(1, "H100", 1)));
  EXPECT_TRUE(t.fits_without_reservations(Resources{0, "", 4, 0}));
  EXPECT_FALSE(t.fits_without_reservations(Resources{0, "", 5, 0}));  // more than the node has
  EXPECT_FALSE(t.fits_without_reservations(gpus(3, "H100", 1)));
  EXPECT_TRUE(t.fits_without_reservations(gpus(1, "", 1)));           // any type
  // Once confirmed (the job runs), the same request waits for a running job.
  ASSERT_TRUE(t.confirm(reserved->id, kT0).is_ok());
  EXPECT_FALSE(t.fits_without_reservations(gpus(1, "H100", 1)));
  EXPECT_FALSE(t.fits_without_reservations(Resources{0, "", 3, 0}));
  EXPECT_TRUE(t.fits_without_reservations(Resources{0, "", 2, 0}));
  EXPECT_TRUE(t.fits_without_reservations(gpus(1, "A100", 1)));
  EXPECT_TRUE(t.check_invariants().is_ok());
}

TEST(ReservationTableTest, RefusesWhatIsNotFreeAndChangesNothing) {
  auto t = table();
  ASSERT_TRUE(t.grant(job_id(1), Attempt{0}, gpus(3), kT0, kTtl).is_ok());
  auto refused = t.grant(job_id(2), Attempt{0}, gpus(2), kT0, kTtl);
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("not enough free GPUs"), std::string::npos);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.free_gpus("H100"), 1u);
  auto cpu_refused = t.grant(job_id(3), Attempt{0}, Resources{0, "", 100, 0}, kT0, kTtl);
  EXPECT_EQ(cpu_refused.status().code(), StatusCode::kResourceExhausted);
}

TEST(ReservationTableTest, ExpiredReservationFreesCapacity) {
  auto t = table();
  auto r = t.grant(job_id(1), Attempt{0}, gpus(4), kT0, kTtl);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(t.next_expiry(), kT0 + kTtl);
  EXPECT_TRUE(t.tick(kT0 + kTtl - Duration(1)).empty());
  const auto expired = t.tick(kT0 + kTtl);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].id, r->id);
  EXPECT_EQ(t.free_gpus("H100"), 4u);
  EXPECT_EQ(t.free_cpus(), 16u);
  EXPECT_TRUE(t.grant(job_id(2), Attempt{0}, gpus(4), kT0 + kTtl, kTtl).is_ok());
}

TEST(ReservationTableTest, ConfirmedAllocationDoesNotExpire) {
  auto t = table();
  auto r = t.grant(job_id(1), Attempt{0}, gpus(1), kT0, kTtl);
  ASSERT_TRUE(t.confirm(r->id, kT0 + Duration(10)).is_ok());
  EXPECT_TRUE(t.tick(kT0 + std::chrono::hours(1)).empty());
  EXPECT_EQ(t.find(r->id)->state, EntryState::kAllocated);
  EXPECT_FALSE(t.next_expiry().has_value());
  EXPECT_TRUE(t.release(r->id).is_ok());
  EXPECT_EQ(t.free_gpus("H100"), 4u);
}

TEST(ReservationTableTest, ConfirmAfterExpiryFailsAndFrees) {
  auto t = table();
  auto r = t.grant(job_id(1), Attempt{0}, gpus(1), kT0, kTtl);
  auto late = t.confirm(r->id, kT0 + kTtl);
  EXPECT_EQ(late.status().code(), StatusCode::kNotFound);
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);
  EXPECT_EQ(t.size(), 0u);
}

TEST(ReservationTableTest, RetriedGrantReturnsTheSameReservation) {
  auto t = table();
  auto a = t.grant(job_id(1), Attempt{0}, gpus(2), kT0, kTtl);
  auto again = t.grant(job_id(1), Attempt{0}, gpus(2), kT0 + Duration(5), kTtl);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->id, a->id);
  EXPECT_EQ(t.free_gpus("H100"), 2u);
}

TEST(ReservationTableTest, AnotherAttemptOfAHeldJobIsFenced) {
  auto t = table();
  ASSERT_TRUE(t.grant(job_id(1), Attempt{0}, gpus(1), kT0, kTtl).is_ok());
  auto next = t.grant(job_id(1), Attempt{1}, gpus(1), kT0, kTtl);
  EXPECT_EQ(next.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(t.grant(job_id(1), Attempt{1}, gpus(1), kT0 + kTtl, kTtl).is_ok());  // the old one expired
}

TEST(ReservationTableTest, BadRequestsAreInvalidAndChangeNothing) {
  auto t = table();
  EXPECT_EQ(t.grant(job_id(1), Attempt{0}, gpus(1, "TPU"), kT0, kTtl).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.grant(job_id(1), Attempt{0}, gpus(1), kT0, Duration(0)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.grant(job_id(1), Attempt{0}, gpus(1), kT0, std::chrono::hours(1)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(t.grant(job_id(1), Attempt{0}, Resources{}, kT0, kTtl).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.release(ReservationId{99}).code(), StatusCode::kNotFound);
  EXPECT_EQ(t.confirm(ReservationId{99}, kT0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(t.check_invariants().is_ok());
}

TEST(ReservationTableTest, AnyTypeRequestTakesSlotsOfOneType) {
  auto t = table({"H100", "A100", "H100", "A100", "A100"});
  auto r = t.grant(job_id(1), Attempt{0}, gpus(3, ""), kT0, kTtl);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->gpu_type, "A100");
  EXPECT_EQ(r->gpu_slots, (std::vector<std::uint32_t>{1, 3, 4}));
  const auto acc = t.accelerators();
  ASSERT_EQ(acc.size(), 2u);
  EXPECT_EQ(acc[0], (Accelerator{"A100", 3, 0}));
  EXPECT_EQ(acc[1], (Accelerator{"H100", 2, 2}));
}

TEST(ReservationTableTest, TableIsBounded) {
  auto t = std::move(ReservationTable::create(Capacity{{}, 100, 0}, TableLimits{2, kTtl, 8})).value();
  ASSERT_TRUE(t.grant(job_id(1), Attempt{0}, Resources{0, "", 1, 0}, kT0, kTtl).is_ok());
  ASSERT_TRUE(t.grant(job_id(2), Attempt{0}, Resources{0, "", 1, 0}, kT0, kTtl).is_ok());
  EXPECT_EQ(t.grant(job_id(3), Attempt{0}, Resources{0, "", 1, 0}, kT0, kTtl).status().code(),
            StatusCode::kResourceExhausted);
}

TEST(ReservationTableTest, CreateRejectsBadCapacity) {
  EXPECT_FALSE(ReservationTable::create(Capacity{{"H100", ""}, 1, 1}).is_ok());
  EXPECT_FALSE(ReservationTable::create(Capacity{std::vector<std::string>(2000, "H100"), 1, 1}).is_ok());
  EXPECT_FALSE(ReservationTable::create(Capacity{}, TableLimits{}, 0).is_ok());
}

// One randomised run: grant/confirm/release/expire in any order, the checker
// after every step, and every refusal explained by the state before it.
class RandomRun {
 public:
  explicit RandomRun(std::uint64_t seed) : rng_(seed), table_(make_table(rng_)) {}

  void step() {
    now_ += Duration(static_cast<std::int64_t>(rng_.uniform(500'000)));
    const std::uint64_t op = rng_.uniform(100);
    if (op < 45) {
      grant();
    } else if (op < 65) {
      (void)table_.confirm(pick_id(), now_);
    } else if (op < 80) {
      (void)table_.release(pick_id());
    } else {
      for (const auto& r : table_.tick(now_)) ASSERT_LE(r.expires_at, now_);
      for (const auto& [id, r] : table_.entries()) {
        ASSERT_TRUE(r.state == EntryState::kAllocated || r.expires_at > now_) << "a due reservation survived tick";
      }
    }
    const Status s = table_.check_invariants();
    ASSERT_TRUE(s.is_ok()) << s.to_string();
  }

 private:
  static ReservationTable make_table(Rng& rng) {
    static const char* kTypes[] = {"H100", "A100"};
    Capacity c;
    const auto slots = rng.uniform(17);
    for (std::uint64_t i = 0; i < slots; ++i) c.gpu_slot_types.push_back(kTypes[rng.uniform(2)]);
    c.cpus = 1 + static_cast<std::uint32_t>(rng.uniform(64));
    c.memory_bytes = (1 + rng.uniform(256)) * kGB;
    return std::move(ReservationTable::create(std::move(c), TableLimits{32, std::chrono::seconds(5), 1024})).value();
  }

  ReservationId pick_id() {
    if (ids_.empty() || rng_.chance(0.1)) return ReservationId{1 + rng_.uniform(1000)};
    return ids_[rng_.uniform(ids_.size())];
  }

  std::uint32_t free_gpus_of(const std::string& type) const {
    if (!type.empty()) return table_.free_gpus(type);
    std::uint32_t best = 0;
    for (const auto& a : table_.accelerators()) best = std::max(best, a.free);
    return best;
  }

  void grant() {
    static const char* kAsk[] = {"", "H100", "A100"};
    Resources r{static_cast<std::uint32_t>(rng_.uniform(7)), kAsk[rng_.uniform(3)],
                static_cast<std::uint32_t>(rng_.uniform(17)), rng_.uniform(65) * kGB};
    const JobId job = job_id(static_cast<std::uint32_t>(rng_.uniform(24)));
    const Attempt attempt{static_cast<std::uint32_t>(rng_.uniform(3))};
    const Duration ttl = std::chrono::milliseconds(1 + rng_.uniform(3000));
    const std::uint32_t cpus_free = table_.free_cpus(), gpus_free = free_gpus_of(r.gpu_type);
    const std::uint64_t memory_free = table_.free_memory_bytes();
    const std::size_t size = table_.size();
    auto g = table_.grant(job, attempt, r, now_, ttl);
    if (g.is_ok()) {
      ids_.push_back(g->id);
      if (g->state == EntryState::kReserved) {
        ASSERT_GT(g->expires_at, now_);
      }
      ASSERT_EQ(g->gpu_slots.size(), g->gpu_slots.empty() ? 0u : std::set(g->gpu_slots.begin(), g->gpu_slots.end()).size());
    } else if (g.status().code() == StatusCode::kResourceExhausted && table_.size() < 32) {
      // A refusal for capacity must be true of the state before the call.
      ASSERT_TRUE(r.cpus > cpus_free || r.memory_bytes > memory_free || r.gpus > gpus_free) << g.status().to_string();
    }
    if (!g.is_ok()) {
      ASSERT_LE(table_.size(), size) << "a failed grant added an entry";
    }
  }

  Rng rng_;
  ReservationTable table_;
  Instant now_ = kT0;
  std::vector<ReservationId> ids_;
};

TEST(ReservationTableTest, NeverOverCommitsUnderRandomSequences) {
  constexpr std::uint64_t kSeeds = 300, kSteps = 500;
  std::printf("reservation random runs: seeds 1..%llu, %llu steps each\n", static_cast<unsigned long long>(kSeeds),
              static_cast<unsigned long long>(kSteps));
  for (std::uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    RandomRun run(seed);
    for (std::uint64_t i = 0; i < kSteps; ++i) {
      ASSERT_NO_FATAL_FAILURE(run.step()) << "seed " << seed << " step " << i;
    }
  }
}

}  // namespace
}  // namespace polder::scheduler
