#include "sim/event_queue.h"

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
void EventQueue::push(Event event) {
  assert(event.time_us >= now_us_ && "event scheduled in the past");
  assert(heap_.size() < capacity_max_ && "event queue bound exceeded");
  event.seq = seq_next_++;
  heap_.push_back(event);
  std::size_t hole = heap_.size() - 1;
  while (hole > 0) {  // bounded by log2(size) iterations
    std::size_t parent = (hole - 1) / 2;
    if (!before(event, heap_[parent])) break;
    heap_[hole] = heap_[parent];
    hole = parent;
  }
  heap_[hole] = event;
}

Event EventQueue::pop() {
  assert(!heap_.empty());
  const Event top = heap_.front();
  const Event last = heap_.back();
  heap_.pop_back();
  const std::size_t size = heap_.size();
  if (size > 0) {
    std::size_t hole = 0;
    for (;;) {  // bounded by log2(size) iterations
      std::size_t child = 2 * hole + 1;
      if (child >= size) break;
      if (child + 1 < size && before(heap_[child + 1], heap_[child])) ++child;
      if (!before(heap_[child], last)) break;
      heap_[hole] = heap_[child];
      hole = child;
    }
    heap_[hole] = last;
  }
  assert(top.time_us >= now_us_ && "virtual clock went backwards");
  now_us_ = top.time_us;
  return top;
}

void EventQueue::advance_to(std::int64_t time_us) {
  assert(time_us >= now_us_ && "virtual clock went backwards");
  assert((heap_.empty() || time_us <= heap_.front().time_us) && "advance_to would skip an event");
  now_us_ = time_us;
}

}  // namespace polder::sim
