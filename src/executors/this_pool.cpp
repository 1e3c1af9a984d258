// rankpool::this_pool(): the pool a task runs in (see this_pool.hpp). Each thread that runs
// tasks installs its pool's task_pool (thread_core, the worker's serve loop and thread team,
// the root's own thread).

#include <rankpool/this_pool.hpp>
#include <utility>

#include "common/worker_identity.hpp"

namespace rankpool {
namespace {
thread_local task_pool* this_threads_pool = nullptr;
}  // namespace

task_pool& this_pool() {
  if (this_threads_pool) return *this_threads_pool;
  if (detail::this_worker().forked_child)
    throw invalid_state_error(
        "rankpool: this_pool() in an isolated task (executor_options::isolate): its process cannot reach the root; "
        "submit from tasks that are not isolated");
  throw invalid_state_error("rankpool: this_pool() is called outside a task");
}

namespace detail {
task_pool* set_this_pool(task_pool* p) noexcept {
  return std::exchange(this_threads_pool, p);
}
}  // namespace detail

}  // namespace rankpool
