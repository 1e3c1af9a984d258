#pragma once
// Internal: the error a broken pool gives its futures, with what broke it nested inside, so a
// caller can reach the initializer's exception or the failed MPI call (std::rethrow_if_nested).

#include <csignal>
#include <exception>
#include <rankpool/errors.hpp>
#include <string>

namespace rankpool::detail {

/// A broken_executor saying `why`, with `cause` (when set) nested in it.
inline std::exception_ptr broken_because(const std::string& why, const std::exception_ptr& cause) {
  if (!cause) return std::make_exception_ptr(broken_executor(why));
  try {
    std::rethrow_exception(cause);
  } catch (...) {
    try {
      std::throw_with_nested(broken_executor(why));
    } catch (...) {
      return std::current_exception();
    }
  }
}

/// Why a pool stopped by terminate_workers() (`signal` SIGTERM) or kill_workers() (SIGKILL) is
/// broken.
inline std::string terminated_why(int signal) {
  return signal == SIGKILL ? "rankpool: the executor was stopped by kill_workers()"
                           : "rankpool: the executor was stopped by terminate_workers()";
}

/// The broken_executor its futures fail with.
inline std::exception_ptr terminated_error(int signal) {
  return std::make_exception_ptr(broken_executor(terminated_why(signal)));
}

}  // namespace rankpool::detail
