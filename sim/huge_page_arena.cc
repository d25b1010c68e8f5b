#include "sim/huge_page_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cassert>
#include <new>

namespace polder::sim {

namespace {

constexpr std::size_t kGrainBytes = 64;  // every block starts on a cache line

std::uintptr_t align_up(std::uintptr_t v, std::size_t alignment) { return (v + alignment - 1) & ~(alignment - 1); }

}  // namespace

HugePageArena::HugePageArena(std::size_t region_bytes)
    : region_bytes_(align_up(std::max(region_bytes, kHugePageBytes), kHugePageBytes)) {}

HugePageArena::~HugePageArena() {
  for (const Region& r : regions_) munmap(r.base, r.bytes);
}

std::size_t HugePageArena::rounded(std::size_t bytes) {
  return align_up(std::max<std::size_t>(bytes, 1), kGrainBytes);
}

// Maps a region of at least `at_least_bytes` whose start is 2 MiB-aligned
// (over-map by one huge page, then trim), and advises huge pages for it.
void HugePageArena::add_region(std::size_t at_least_bytes) {
  const std::size_t bytes = align_up(std::max(region_bytes_, at_least_bytes), kHugePageBytes);
  const std::size_t mapped = bytes + kHugePageBytes;
  void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t base = align_up(start, kHugePageBytes);
  if (base > start) munmap(raw, base - start);
  const std::uintptr_t tail = base + bytes;
  if (start + mapped > tail) munmap(reinterpret_cast<void*>(tail), start + mapped - tail);
  void* region = reinterpret_cast<void*>(base);
  static_cast<void>(madvise(region, bytes, MADV_HUGEPAGE));  // a hint: without it, ordinary pages
  regions_.push_back({region, bytes});
  mapped_bytes_ += bytes;
  next_ = static_cast<std::uint8_t*>(region);
  end_ = next_ + bytes;
}

void* HugePageArena::do_allocate(std::size_t bytes, std::size_t alignment) {
  assert(alignment <= kHugePageBytes && (alignment & (alignment - 1)) == 0);
  const std::size_t size = rounded(bytes);
  if (alignment <= kGrainBytes) {
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      used_bytes_ += size;
      return p;
    }
  }
  auto at = align_up(reinterpret_cast<std::uintptr_t>(next_), std::max(alignment, kGrainBytes));
  if (next_ == nullptr || at + size > reinterpret_cast<std::uintptr_t>(end_)) {
    add_region(size + alignment);
    at = align_up(reinterpret_cast<std::uintptr_t>(next_), std::max(alignment, kGrainBytes));
  }
  next_ = reinterpret_cast<std::uint8_t*>(at + size);
  used_bytes_ += size;
  return reinterpret_cast<void*>(at);
}

void HugePageArena::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  static_cast<void>(alignment);  // a block of any alignment is reused only for ones of at most 64
  const std::size_t size = rounded(bytes);
  used_bytes_ -= size;
  free_[size].push_back(p);
}

}  // namespace polder::sim
