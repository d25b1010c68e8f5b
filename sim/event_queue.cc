#include "sim/event_queue.h"

#include <algorithm>
#include <limits>

namespace polder::sim {

const char* event_kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::kTick: return "tick";
    case EventKind::kDeliver: return "deliver";
    case EventKind::kDiskDone: return "disk_done";
    case EventKind::kCrash: return "crash";
    case EventKind::kRestart: return "restart";
  }
  return "unknown";
}

// Sift-up and sift-down move a "hole" instead of swapping, so each level
// costs one copy of a 40-byte POD rather than three.
void EventQueue::heap_push(std::vector<Event>& heap, const Event& event) {
  heap.push_back(event);
  std::size_t hole = heap.size() - 1;
  while (hole > 0) {  // bounded by log2(size) iterations
    std::size_t parent = (hole - 1) / 2;
    if (!before(event, heap[parent])) break;
    heap[hole] = heap[parent];
    hole = parent;
  }
  heap[hole] = event;
}

Event EventQueue::heap_pop(std::vector<Event>& heap) {
  assert(!heap.empty());
  const Event top = heap.front();
  const Event last = heap.back();
  heap.pop_back();
  const std::size_t size = heap.size();
  if (size > 0) {
    std::size_t hole = 0;
    for (;;) {  // bounded by log2(size) iterations
      std::size_t child = 2 * hole + 1;
      if (child >= size) break;
      if (child + 1 < size && before(heap[child + 1], heap[child])) ++child;
      if (!before(heap[child], last)) break;
      heap[hole] = heap[child];
      hole = child;
    }
    heap[hole] = last;
  }
  return top;
}

void EventQueue::push(Event event) {
  event.seq = seq_next_++;
  push_keyed(event);
}

void EventQueue::push_keyed(const Event& event) {
  assert(event.time_us >= now_us_ && "event scheduled in the past");
  assert(size_ < capacity_max_ && "event queue bound exceeded");
  ++size_;
  const std::int64_t bucket = bucket_of(event.time_us);
  if (bucket <= current_bucket_) {
    heap_push(current_, event);
  } else if (bucket - current_bucket_ < static_cast<std::int64_t>(kBuckets)) {
    ring_[static_cast<std::size_t>(bucket) % kBuckets].push_back(event);
    ++ring_count_;
  } else {
    heap_push(far_, event);
  }
}

void EventQueue::refill() const {
  assert(current_.empty() && size_ > 0);
  // The next bucket holding anything: the first non-empty ring bucket, or
  // the far heap's earliest when that comes first (or the ring is empty).
  std::int64_t next = far_.empty() ? std::numeric_limits<std::int64_t>::max() : bucket_of(far_.front().time_us);
  if (ring_count_ > 0) {
    for (std::int64_t b = current_bucket_ + 1; b < current_bucket_ + static_cast<std::int64_t>(kBuckets) && b < next;
         ++b) {  // bounded by kBuckets
      if (!ring_[static_cast<std::size_t>(b) % kBuckets].empty()) {
        next = b;
        break;
      }
    }
  }
  assert(next != std::numeric_limits<std::int64_t>::max());
  current_bucket_ = next;
  std::vector<Event>& bucket = ring_[static_cast<std::size_t>(next) % kBuckets];
  if (!bucket.empty() && bucket_of(bucket.front().time_us) == next) {
    ring_count_ -= bucket.size();
    current_.swap(bucket);  // the emptied vector keeps current_'s capacity for reuse
    std::make_heap(current_.begin(), current_.end(), [](const Event& a, const Event& b) { return before(b, a); });
  }
  while (!far_.empty() && bucket_of(far_.front().time_us) == next) heap_push(current_, heap_pop(far_));
  // Far events now within the ring's reach move into it, so no bucket of
  // the ring is ever also waiting in the far heap.
  while (!far_.empty() && bucket_of(far_.front().time_us) - next < static_cast<std::int64_t>(kBuckets)) {
    const Event e = heap_pop(far_);
    ring_[static_cast<std::size_t>(bucket_of(e.time_us)) % kBuckets].push_back(e);
    ++ring_count_;
  }
  assert(!current_.empty());
}

Event EventQueue::pop() {
  assert(size_ > 0);
  if (current_.empty()) refill();
  const Event top = heap_pop(current_);
  --size_;
  assert(top.time_us >= now_us_ && "virtual clock went backwards");
  now_us_ = top.time_us;
  return top;
}

void EventQueue::advance_to(std::int64_t time_us) {
  assert(time_us >= now_us_ && "virtual clock went backwards");
  assert((size_ == 0 || time_us <= next_time_us()) && "advance_to would skip an event");
  now_us_ = time_us;
}

}  // namespace polder::sim
