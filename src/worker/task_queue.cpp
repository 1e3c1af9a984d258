// A worker's unstarted tasks (see task_queue.hpp).

#include "worker/task_queue.hpp"

#include <algorithm>

namespace rankpool::detail {

bool task_queue::push(item it) {
  highest_ = std::max(highest_, it.id);
  if (!cancelled_ahead_.empty() && cancelled_ahead_.erase(it.id)) return false;
  items_.push_back(std::move(it));
  return true;
}

std::optional<task_queue::item> task_queue::pop() {
  if (items_.empty()) return std::nullopt;
  item it = std::move(items_.front());
  items_.pop_front();
  return it;
}

bool task_queue::cancel(std::uint64_t id) {
  if (id > highest_) {
    cancelled_ahead_.insert(id);
    return true;
  }
  auto at = std::find_if(items_.begin(), items_.end(), [id](const item& it) { return it.id == id; });
  if (at == items_.end()) return false;
  items_.erase(at);
  return true;
}

std::vector<std::uint64_t> task_queue::take_back(std::size_t n) {
  std::vector<std::uint64_t> ids;
  for (auto at = items_.end(); ids.size() < n && at != items_.begin();) {
    --at;
    if (at->pinned) continue;
    ids.push_back(at->id);
    at = items_.erase(at);
  }
  return ids;
}

}  // namespace rankpool::detail
