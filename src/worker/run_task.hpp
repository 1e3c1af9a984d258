#pragma once
// Internal: running one task body on a worker, the part every way of running one shares (inline
// in the serve loop, on a thread of a team, in an isolated child): find the invoker, install
// the task's context (stop requests, deadline), time it, and turn an overrun into timeout_error.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <rankpool/detail/codec.hpp>
#include <rankpool/detail/exception_codec.hpp>

namespace rankpool::detail {

class stop_board;

/// Decodes one task body (invoker key, callable, arguments), runs it and writes its result body
/// (status byte, then the value or the exception) to `out`. Never throws.
void run_body(std::uint64_t id, const char* body, std::size_t n, writer& out);

/// When and for how long a task ran.
struct task_timing {
  std::chrono::steady_clock::time_point started;
  std::uint64_t exec_ns = 0;
};

/// Nanoseconds since `t0`.
inline std::uint64_t elapsed_ns(std::chrono::steady_clock::time_point t0) noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
}

/// Runs task `id` with run_body, appending its result body to `out`, under a task context whose
/// stop_requested() consults `board` (reading control messages itself when `owns_mpi`: only the
/// thread that owns MPI may) and sees the deadline `deadline_ns` after the start (0 = none). A
/// task that ran past its deadline gets timeout_error as its result instead. Never throws.
task_timing run_task(std::uint64_t id, const char* body, std::size_t n, writer& out, stop_board& board, bool owns_mpi,
                     std::uint64_t deadline_ns);

/// The timeout_error of a task that ran `deadline_ns` and longer on this worker (`killed`: its
/// isolated process was killed for it).
std::exception_ptr overran(std::uint64_t deadline_ns, bool killed = false);

/// What every task gets on a worker whose initializer failed.
std::exception_ptr broken_by_initializer();

}  // namespace rankpool::detail
