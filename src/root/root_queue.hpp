#pragma once
// Internal: the tasks that wait on the root, unsent. A task of a contiguous map
// (map_options::contiguous) waits in the lane of the worker slot whose stripe of the input holds
// it, everything else in one shared queue. A slot takes from its own lane and the shared queue,
// the higher priority first; with both empty it takes the last task of the longest other lane
// (the end of another worker's stripe, farthest from where that worker reads), so no worker idles
// while a task waits anywhere. No MPI in it: tests/root/root_queue_test.cpp.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <rankpool/detail/task.hpp>
#include <vector>

namespace rankpool::detail {

class root_queue {
 public:
  /// `lanes`: the worker slots a placed task can wait for (0: one queue for every task).
  explicit root_queue(std::size_t lanes = 0) : lanes_(lanes) {}

  /// Queues a new task behind the waiting tasks of its priority (see enqueue in task.hpp), in
  /// its lane when it has a place.
  void push(task_ptr t);
  /// Queues a task taken back unstarted from a worker before the waiting tasks of its priority
  /// (see requeue in task.hpp), in its lane when it has a place.
  void push_taken_back(task_ptr t);

  /// Whether no task waits.
  bool empty() const noexcept { return size_ == 0; }
  /// Tasks waiting, in every lane.
  std::size_t size() const noexcept { return size_; }

  /// The task pop(`slot`) would return, or null when none waits. `slot`: a worker slot, or
  /// nothing for the root's own compute slot (which has no lane).
  const task* peek(std::optional<std::size_t> slot) const;
  /// The next task for `slot`: the front of its lane or of the shared queue, the higher
  /// priority first and its lane on a tie; else the back of the longest other lane; null when
  /// none waits.
  task_ptr pop(std::optional<std::size_t> slot);

  /// Calls `f(task&)` for every waiting task.
  template <class F>
  void for_each(F&& f) {
    for (auto& t : shared_) f(*t);
    for (auto& lane : lanes_)
      for (auto& t : lane) f(*t);
  }
  /// Drops every waiting task.
  void clear();

 private:
  // Where pop(slot) takes from: a lane (or the shared queue, or none when nothing waits) and
  // whether from its back (a steal).
  static constexpr std::size_t shared_lane = SIZE_MAX - 1;
  static constexpr std::size_t none = SIZE_MAX;
  struct source {
    std::size_t lane = none;
    bool back = false;
  };
  source pick(std::optional<std::size_t> slot) const;
  std::deque<task_ptr>& queue_of(const task& t);

  std::deque<task_ptr> shared_;              // tasks without a place (or with one lane at most)
  std::vector<std::deque<task_ptr>> lanes_;  // per worker slot: the placed tasks of its stripe
  std::size_t size_ = 0;
};

}  // namespace rankpool::detail
