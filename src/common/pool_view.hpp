#pragma once
// Internal: the core behind this_pool() in the process that holds the pool (a thread_executor's
// threads, the root's own compute thread): it hands tasks to that pool, marked nested so that
// they go before the waiting ones (detail::enqueue), and leaves its shutdown to the program.

#include <memory>
#include <rankpool/detail/core.hpp>

namespace rankpool::detail {

/// A core that submits to `pool`, which must outlive it.
std::unique_ptr<executor_core> make_pool_view(executor_core& pool);

}  // namespace rankpool::detail
