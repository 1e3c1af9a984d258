#pragma once
// Internal: small text helpers every layer uses (no MPI, no tasks).

#include <exception>
#include <string>

namespace rankpool::detail {

/// `name` demangled (as is when it is not a mangled C++ name).
std::string demangle(const char* name);

/// `s` in lower case (ASCII letters; what environment settings are compared in).
std::string lowercase(std::string s);

/// The message of the exception `e` (what(), or "unknown error" for a non-std exception).
std::string describe(const std::exception_ptr& e) noexcept;

}  // namespace rankpool::detail
