#pragma once
// The one way the library calls MPI: `mpi::call("MPI_Isend", MPI_Isend, args...)` runs the routine
// and throws rankpool::mpi_error (routine, code, class, MPI's text) when it does not return
// MPI_SUCCESS. Failures reach it because the library's own communicators use MPI_ERRORS_RETURN
// (set_errors_return). Tests make a chosen call fail through inject_failure, so the paths that
// handle a failed send or receive run without breaking the MPI library for real.
// Below MPI_THREAD_MULTIPLE every call goes through one process-wide lock (serialize_calls), so
// the library's threads (the root's progress thread, a user thread placing a shared value, a
// worker's watcher) never call MPI at the same time.

#include <mpi.h>

#include <atomic>
#include <exception>
#include <mutex>
#include <string>
#include <utility>

namespace rankpool::detail::mpi {

/// Throws rankpool::mpi_error for `rc` returned by `routine` (rc must not be MPI_SUCCESS).
[[noreturn]] void raise(const char* routine, int rc);

/// Throws rankpool::mpi_error when `rc`, returned by `routine`, is not MPI_SUCCESS. For results
/// that do not come from a call through call(), such as the per-process error codes of
/// MPI_Comm_spawn.
inline void check(const char* routine, int rc) {
  if (rc != MPI_SUCCESS) [[unlikely]]
    raise(routine, rc);
}

/// Test hook: the `nth` next call of `routine` (1 = the next one) made through call() or
/// try_call() in this process does not run and returns `code` instead. One injection at a time;
/// a later one replaces it.
void inject_failure(const std::string& routine, int nth, int code = MPI_ERR_OTHER);

/// Whether an armed injection takes this call of `routine`; sets `code` when it does.
bool take_injected(const char* routine, int& code);

/// True while an injection is armed (a relaxed load, so unarmed calls pay almost nothing).
inline std::atomic<bool>& injection_armed() {
  static std::atomic<bool> armed{false};
  return armed;
}

/// The lock that serializes the library's MPI calls below MPI_THREAD_MULTIPLE. `on` is set before
/// the pool's threads start and never cleared, so a relaxed load suffices.
struct call_gate {
  std::atomic<bool> on{false};
  std::mutex lock;
};
inline call_gate& gate() {
  static call_gate g;
  return g;
}

/// Where MPI provides less than MPI_THREAD_MULTIPLE, makes every later call() and try_call() of
/// this process take the gate, one at a time. Called by each executor before it starts a thread
/// that calls MPI. Returns the provided level. A blocking call holds the gate while it waits,
/// so the library only blocks where no other rank waits on this one (small sends, collectives
/// after an MPI_Ibarrier everyone has reached); longer waits test a request, gate per test.
int serialize_calls();

/// Calls `fn(args...)`, an MPI routine named `routine`, and throws rankpool::mpi_error when it
/// fails.
template <class F, class... A>
void call(const char* routine, F fn, A&&... args) {
  int rc = 0;
  if (injection_armed().load(std::memory_order_relaxed) && take_injected(routine, rc)) [[unlikely]]
    raise(routine, rc);
  if (gate().on.load(std::memory_order_relaxed)) [[unlikely]] {
    std::lock_guard serial(gate().lock);
    check(routine, fn(std::forward<A>(args)...));  // raise() asks MPI for the error's text: still one at a time
    return;
  }
  check(routine, fn(std::forward<A>(args)...));
}

/// Logs a failed clean-up call (try_call's warning).
void warn_failed(const std::exception& e) noexcept;

/// As call(), for clean-up paths that must not throw (freeing a communicator while another error
/// is on its way): a failure is logged as a warning and reported as false.
template <class F, class... A>
bool try_call(const char* routine, F fn, A&&... args) noexcept {
  try {
    call(routine, fn, std::forward<A>(args)...);
    return true;
  } catch (const std::exception& e) {
    warn_failed(e);
    return false;
  }
}

/// Sets MPI_ERRORS_RETURN on `comm`, a communicator the library created, so that failures on it
/// come back as error codes (and so as mpi_error) instead of aborting the job.
void set_errors_return(MPI_Comm comm);

}  // namespace rankpool::detail::mpi
