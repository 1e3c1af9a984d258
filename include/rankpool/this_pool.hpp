#pragma once
/// \file this_pool.hpp
/// rankpool::this_pool(): inside a task, the pool that runs it, to submit tasks of its own
/// (recursion, divide and conquer, a task that fans out).

#include <memory>
#include <rankpool/detail/core.hpp>
#include <rankpool/errors.hpp>
#include <rankpool/executor.hpp>
#include <rankpool/shared.hpp>
#include <type_traits>

namespace rankpool {

/// The pool a task runs in, as this_pool() returns it: `submit`, `submit_with`, `map`,
/// `starmap` and their futures work as on the executor that made the pool, and the tasks run
/// on its workers. A thread that waits on such futures (result(), wait(), as_completed, a map's
/// results) lends its place meanwhile: it runs other tasks of the pool until they are done, so
/// a recursion deeper than the pool's workers finishes. The pool belongs to the program that
/// made it: here shutdown() does nothing, and share() throws.
///
///     long fib(int n) {
///       if (n < 2) return n;
///       auto& pool = rankpool::this_pool();
///       auto a = pool.submit(fib, n - 1);
///       return fib(n - 2) + a.result();  // the worker runs other tasks while it waits
///     }
class task_pool final : public basic_executor<true> {
 public:
  /// For the executors: the pool behind `core`, which hands tasks to the executor's pool.
  explicit task_pool(std::unique_ptr<detail::executor_core> core) { core_ = std::move(core); }
  /// Leaves the pool running.
  ~task_pool() = default;

  /// Does nothing: the pool is shut down by the program that made it, not by its tasks.
  void shutdown(bool /*wait*/ = true, bool /*cancel_futures*/ = false) noexcept {}
  /// Throws invalid_state_error: values are shared where the pool was made (pass the handle to
  /// the task as an argument).
  template <class T>
  shared<std::decay_t<T>> share(T&&) {
    throw invalid_state_error("rankpool: share() on this_pool(): share the value where the pool was made");
  }
  /// Throws invalid_state_error: a task cannot stop the pool's workers.
  void terminate_workers() { throw invalid_state_error("rankpool: a task cannot terminate its pool's workers"); }
  /// Throws invalid_state_error: a task cannot stop the pool's workers.
  void kill_workers() { throw invalid_state_error("rankpool: a task cannot kill its pool's workers"); }
};

/// Inside a task: the pool that runs it (thread_executor, comm_executor, spawn_executor).
/// Throws invalid_state_error outside a task and in an isolated task's process
/// (executor_options::isolate: it has no MPI of its own to reach the root).
task_pool& this_pool();

namespace detail {
/// Installs `p` as this thread's this_pool() (null: none); returns the previous one.
task_pool* set_this_pool(task_pool* p) noexcept;

/// this_pool() for the tasks that run on the installing thread, and its wait hook (either may be
/// null), for as long as the scope lives.
class task_pool_scope {
 public:
  task_pool_scope(task_pool* p, wait_hook* h) noexcept : pool_(set_this_pool(p)), hook_(set_current_wait_hook(h)) {}
  ~task_pool_scope() {
    set_this_pool(pool_);
    set_current_wait_hook(hook_);
  }
  task_pool_scope(const task_pool_scope&) = delete;
  task_pool_scope& operator=(const task_pool_scope&) = delete;

 private:
  task_pool* pool_;
  wait_hook* hook_;
};
}  // namespace detail

}  // namespace rankpool
