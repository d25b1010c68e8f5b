// The cut of a job list that is too long to send or show whole: the newest
// jobs, as the dashboard shows them, not whichever a map's order put first.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "protocol/messages.h"

namespace polder::node {

// The JobView an item points to (the default of keep_newest).
struct PointedView {
  const JobView& operator()(const JobView* v) const { return *v; }
};

// Keeps the `max` most recently submitted of `items` (ties broken by job
// id, so the cut does not depend on the order they came in), oldest first;
// returns true when some were left out. `view_of(item)` gives the item's
// JobView (items are pointers to views, or to the records holding them).
template <class T, class ViewOf = PointedView>
bool keep_newest(std::vector<T>& items, std::size_t max, ViewOf view_of = {}) {
  auto later = [&](const T& a, const T& b) {
    const JobView& x = view_of(a);
    const JobView& y = view_of(b);
    return x.submitted_at_us != y.submitted_at_us ? x.submitted_at_us > y.submitted_at_us : x.job_id > y.job_id;
  };
  const bool cut = items.size() > max;
  if (cut) {
    std::nth_element(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(max), items.end(), later);
    items.resize(max);
  }
  std::sort(items.begin(), items.end(), [&](const T& a, const T& b) { return later(b, a); });
  return cut;
}

}  // namespace polder::node
