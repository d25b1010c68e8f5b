// EventQueue: the simulator's virtual clock and its pending events.
//
// Purpose: hold every future event of a run and hand them out in a total
// order, so a run is a pure function of its seed. Events are ordered by
// (time_us, seq) where seq is the insertion number: two events at the same
// virtual instant come out in the order they were pushed, never in an order
// that depends on addresses or hashing.
//
// Structure: a calendar queue. Virtual time is cut into buckets of
// kBucketUs; the bucket being consumed is a small binary heap, the next
// kBuckets - 1 buckets are unsorted vectors (a push is an append), and
// anything further out waits in a second heap until its bucket comes up.
// When the current bucket runs dry, the next non-empty one is heapified.
// The order handed out is exactly the (time_us, seq) order of one binary
// heap over everything: only the cost changes. In a 10,000-node gossip
// run one heap over every pending event (a tick and messages in flight
// per node) was 6% of the CPU, its lower levels out of cache; the current
// bucket's heap is a few hundred events.
//
// Guarantees: pop() never goes back in time (the clock is monotonic); the
// queue never holds more than `capacity_max` events (asserted: exceeding it
// is a bug in the caller's bounds). Events are small PODs stored by value:
// pushing and popping allocate nothing once the vectors have grown to the
// run's high-water mark. Payloads live elsewhere (PayloadSlab), referenced
// by id.
//
// Thread-safety: none; one queue per simulator, used from one thread.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace polder::sim {

enum class EventKind : std::uint8_t {
  kTick = 0,      // call core.tick() on `node`
  kDeliver = 1,   // deliver payload `payload` from `from` to `node`
  kDiskDone = 2,  // the oldest pending disk write of `node` completes
  kCrash = 3,     // crash `node`
  kRestart = 4,   // restart `node`
};

const char* event_kind_name(EventKind kind);

// One scheduled event. `payload` and `token` mean what `kind` says:
// kDeliver: payload = slab id; kTick: token = tick token; kTick/kDiskDone:
// incarnation = the node's incarnation when scheduled (stale after a crash).
struct Event {
  std::int64_t time_us = 0;
  std::uint64_t seq = 0;  // assigned by EventQueue::push
  std::uint32_t node = 0;
  std::uint32_t from = 0;
  std::uint32_t payload = 0;
  std::uint32_t incarnation = 0;
  EventKind kind = EventKind::kTick;
};

class EventQueue {
 public:
  static constexpr std::size_t kCapacityMaxDefault = std::size_t{1} << 28;
  static constexpr int kBucketShift = 10;  // buckets of 1,024 us
  static constexpr std::int64_t kBucketUs = std::int64_t{1} << kBucketShift;
  static constexpr std::size_t kBuckets = 4096;  // ~4.2 s of virtual time in the ring

  explicit EventQueue(std::size_t capacity_max = kCapacityMaxDefault)
      : ring_(kBuckets), capacity_max_(capacity_max) {}

  // Current virtual time: the time of the last popped event or advance_to().
  std::int64_t now_us() const { return now_us_; }

  // Schedules `event`; its time must not be in the past.
  void push(Event event);
  // Schedules `event` with the tie-break the caller put in `event.seq`
  // instead of the insertion number (ParallelSimulator: a key that does not
  // depend on which thread inserted first). Keys must be distinct; do not
  // mix with push() in one queue.
  void push_keyed(const Event& event);

  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  // Time of the earliest event. Precondition: !empty().
  std::int64_t next_time_us() const {
    assert(size_ > 0);
    if (current_.empty()) refill();
    return current_.front().time_us;
  }

  // The earliest event, left in place. Precondition: !empty().
  const Event& peek() const {
    assert(size_ > 0);
    if (current_.empty()) refill();
    return current_.front();
  }
  // Up to two events that come soon after peek()'s (the heap's second
  // level): the simulator prefetches their nodes. Null when there is none.
  const Event* soon(std::size_t which) const {
    return which < 2 && which + 1 < current_.size() ? &current_[which + 1] : nullptr;
  }

  // Removes and returns the earliest event, advancing the clock to its time.
  Event pop();

  // Moves the clock forward to `time_us` (no earlier than now, and no later
  // than the next event, or an event would be skipped).
  void advance_to(std::int64_t time_us);

  void reserve(std::size_t events) { far_.reserve(events); }

 private:
  static bool before(const Event& a, const Event& b) {
    return a.time_us < b.time_us || (a.time_us == b.time_us && a.seq < b.seq);
  }
  static std::int64_t bucket_of(std::int64_t time_us) { return time_us >> kBucketShift; }
  static void heap_push(std::vector<Event>& heap, const Event& event);
  static Event heap_pop(std::vector<Event>& heap);
  // Makes the next non-empty bucket current. Precondition: current_ is
  // empty and size_ > 0. Logically const: the order handed out is unchanged.
  void refill() const;

  // Mutable for refill(), which next_time_us() may need.
  mutable std::vector<Event> current_;              // heap: events of bucket current_bucket_
  mutable std::vector<std::vector<Event>> ring_;    // buckets current_bucket_+1 .. +kBuckets-1, by bucket % kBuckets
  mutable std::vector<Event> far_;                  // heap: events of later buckets
  mutable std::int64_t current_bucket_ = 0;
  mutable std::size_t ring_count_ = 0;
  std::size_t size_ = 0;
  std::int64_t now_us_ = 0;
  std::uint64_t seq_next_ = 0;
  std::size_t capacity_max_;
};

}  // namespace polder::sim
