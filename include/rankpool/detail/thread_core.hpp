#pragma once
// The executor core of local worker threads (compiled in src/executors/thread_core.cpp).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <rankpool/detail/core.hpp>
#include <rankpool/options.hpp>

namespace rankpool::detail {

/// Local worker threads (thread_executor, and comm_executor on a one-rank communicator).
/// `deadline_ns`: per-task deadline (0 = none), as executor_options::task_deadline. The trace
/// and summary follow `options` (null: the environment only); `name` names the pool in them.
std::unique_ptr<executor_core> make_thread_core(std::size_t workers, std::function<void()> initializer,
                                                std::uint64_t deadline_ns = 0,
                                                const executor_options* options = nullptr,
                                                const char* name = "thread_executor");

}  // namespace rankpool::detail
