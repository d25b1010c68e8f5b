// HugePageArena: memory for the simulator's member tables, on transparent
// huge pages.
//
// Purpose: 10,000 simulated cores each hold a 10,000-member table (about
// 880 KB of arrays each, 8.8 GB in all). Through malloc every such array is
// its own mmap() of 4 KiB pages (they are above malloc's mmap threshold, and
// glibc's huge-page tunable leaves mappings under 2 MiB alone): millions of
// page faults at start and a TLB miss on nearly every member touched. This
// arena carves allocations out of large 2 MiB-aligned regions advised
// MADV_HUGEPAGE, so the kernel backs them with huge pages where it can.
//
// Allocation is a bump pointer; a freed block goes on a free list for its
// exact size and is handed out again for the same size (tables are of a
// few sizes: a crashed core's table is reused by the next core created).
// Memory returns to the system only when the arena is destroyed. Where
// madvise() fails or THP is off, the memory is ordinary pages: only speed
// changes, never the contents.
//
// Thread-safety: none. The simulator keeps one arena per partition thread
// and creates and destroys a core's table on its partition's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <unordered_map>
#include <vector>

namespace polder::sim {

class HugePageArena : public std::pmr::memory_resource {
 public:
  static constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;
  static constexpr std::size_t kRegionBytesDefault = std::size_t{256} << 20;

  explicit HugePageArena(std::size_t region_bytes = kRegionBytesDefault);
  ~HugePageArena() override;
  HugePageArena(const HugePageArena&) = delete;
  HugePageArena& operator=(const HugePageArena&) = delete;

  std::size_t mapped_bytes() const { return mapped_bytes_; }  // regions reserved so far
  std::size_t used_bytes() const { return used_bytes_; }      // handed out and not freed

 private:
  struct Region {
    void* base = nullptr;
    std::size_t bytes = 0;
  };
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }
  static std::size_t rounded(std::size_t bytes);
  void add_region(std::size_t at_least_bytes);

  std::size_t region_bytes_;
  std::vector<Region> regions_;
  std::uint8_t* next_ = nullptr;  // bump pointer in the newest region
  std::uint8_t* end_ = nullptr;
  std::unordered_map<std::size_t, std::vector<void*>> free_;  // by rounded size
  std::size_t mapped_bytes_ = 0;
  std::size_t used_bytes_ = 0;
};

}  // namespace polder::sim
