// EventQueue: the simulator's virtual clock and its pending events.
//
// Purpose: hold every future event of a run and hand them out in a total
// order, so a run is a pure function of its seed. Events are ordered by
// (time_us, seq) where seq is the insertion number: two events at the same
// virtual instant come out in the order they were pushed, never in an order
// that depends on addresses or hashing.
//
// Guarantees: pop() never goes back in time (the clock is monotonic); the
// queue never holds more than `capacity_max` events (asserted: exceeding it
// is a bug in the caller's bounds). Events are small PODs stored by value in
// a vector-backed binary heap: pushing and popping allocate nothing once the
// vector has grown to the run's high-water mark. Payloads live elsewhere
// (PayloadSlab), referenced by id.
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

  explicit EventQueue(std::size_t capacity_max = kCapacityMaxDefault) : capacity_max_(capacity_max) {}

  // Current virtual time: the time of the last popped event or advance_to().
  std::int64_t now_us() const { return now_us_; }

  // Schedules `event`; its time must not be in the past.
  void push(Event event);

  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  // Time of the earliest event. Precondition: !empty().
  std::int64_t next_time_us() const {
    assert(!heap_.empty());
    return heap_.front().time_us;
  }

  // Removes and returns the earliest event, advancing the clock to its time.
  Event pop();

  // Moves the clock forward to `time_us` (no earlier than now, and no later
  // than the next event, or an event would be skipped).
  void advance_to(std::int64_t time_us);

  void reserve(std::size_t events) { heap_.reserve(events); }

 private:
  static bool before(const Event& a, const Event& b) {
    return a.time_us < b.time_us || (a.time_us == b.time_us && a.seq < b.seq);
  }

  std::vector<Event> heap_;
  std::int64_t now_us_ = 0;
  std::uint64_t seq_next_ = 0;
  std::size_t capacity_max_;
};

}  // namespace polder::sim
