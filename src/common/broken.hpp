#pragma once
// Internal: the error a broken pool gives its futures, with what broke it nested inside, so a
// caller can reach the initializer's exception or the failed MPI call (std::rethrow_if_nested).

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

}  // namespace rankpool::detail
