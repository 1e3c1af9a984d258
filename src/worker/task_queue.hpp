#pragma once
// Internal: the tasks a worker rank holds and has not started, in the order the root sent them,
// and the answers to the root's cancel and take-back requests. No MPI in it (tested in
// tests/worker/task_queue_test.cpp); its owner keeps it under a lock of its own.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <vector>

namespace rankpool::detail {

class task_queue {
 public:
  /// One unstarted task: its id and body, which point into the message that brought it.
  struct item {
    std::uint64_t id = 0;
    std::shared_ptr<const std::vector<char>> message;  // keeps the body alive
    const char* body = nullptr;
    std::size_t n = 0;
    bool answer_each = false;  // its result leaves as soon as it is done
    bool pinned = false;       // runs here or nowhere: a take-back leaves it (a team task's member)
  };

  /// A task arrived. The root sends a rank its tasks with rising ids, which is how cancel()
  /// tells a task not yet arrived from one already run. A task cancelled before it arrived is
  /// dropped (false).
  bool push(item it);
  /// The next task to start, or nothing.
  std::optional<item> pop();
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }

  /// The root cancels task `id`: true when it will not run here (it was waiting, or has not
  /// arrived and will be dropped when it does); false when it started already.
  bool cancel(std::uint64_t id);
  /// The root takes back up to `n` unstarted tasks, the last sent first: their ids. Pinned
  /// tasks stay.
  std::vector<std::uint64_t> take_back(std::size_t n);

 private:
  std::deque<item> items_;
  std::set<std::uint64_t> cancelled_ahead_;  // cancelled before they arrived
  std::uint64_t highest_ = 0;                // the highest id that arrived
};

}  // namespace rankpool::detail
