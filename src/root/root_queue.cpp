// The tasks waiting on the root, in lanes (see root_queue.hpp).

#include "root/root_queue.hpp"

#include <algorithm>
#include <cmath>

namespace rankpool::detail {

std::deque<task_ptr>& root_queue::queue_of(const task& t) {
  // With one lane or none, every task may as well wait in the shared queue. Lane i holds the
  // places in [i/n, (i+1)/n): the stretch worker i's page toucher maps first (share_table.cpp).
  if (lanes_.size() < 2 || !(t.place >= 0)) return shared_;
  const auto at = static_cast<std::size_t>(std::floor(t.place * static_cast<double>(lanes_.size())));
  return lanes_[std::min(at, lanes_.size() - 1)];
}

void root_queue::push(task_ptr t) {
  auto& q = queue_of(*t);
  enqueue(q, std::move(t));
  ++size_;
}

void root_queue::push_taken_back(task_ptr t) {
  auto& q = queue_of(*t);
  requeue(q, std::move(t));
  ++size_;
}

root_queue::source root_queue::pick(std::optional<std::size_t> slot) const {
  const bool own = slot && *slot < lanes_.size() && !lanes_[*slot].empty();
  if (own && (shared_.empty() || lanes_[*slot].front()->priority >= shared_.front()->priority)) return {*slot, false};
  if (!shared_.empty()) return {shared_lane, false};
  // Nothing of its own: the end of the longest other lane.
  source s{none, true};
  for (std::size_t i = 0; i < lanes_.size(); ++i)
    if (!lanes_[i].empty() && (s.lane == none || lanes_[i].size() > lanes_[s.lane].size())) s.lane = i;
  return s;
}

const task* root_queue::peek(std::optional<std::size_t> slot) const {
  const source s = pick(slot);
  if (s.lane == none) return nullptr;
  const auto& q = s.lane == shared_lane ? shared_ : lanes_[s.lane];
  return s.back ? q.back().get() : q.front().get();
}

task_ptr root_queue::pop(std::optional<std::size_t> slot) {
  const source s = pick(slot);
  if (s.lane == none) return nullptr;
  auto& q = s.lane == shared_lane ? shared_ : lanes_[s.lane];
  task_ptr t;
  if (s.back) {
    t = std::move(q.back());
    q.pop_back();
  } else {
    t = std::move(q.front());
    q.pop_front();
  }
  --size_;
  return t;
}

void root_queue::clear() {
  shared_.clear();
  for (auto& lane : lanes_) lane.clear();
  size_ = 0;
}

}  // namespace rankpool::detail
