#pragma once
// Internal: what the registry offers the rest of src/ beyond detail/task.hpp.

#include <cstddef>
#include <rankpool/detail/task.hpp>
#include <string>

namespace rankpool::detail {

/// SHA-256 of this process's executable file and of its task table (32 raw bytes), computed
/// once. Ranks whose fingerprints differ run different programs.
std::string executable_fingerprint();

/// The readable (demangled) invoker type of `key`; the pointer stays valid for the process's
/// lifetime (crash reports read it from a signal handler).
const char* invoker_name(std::uint64_t key) noexcept;

/// `name` demangled (as is when it is not a mangled C++ name).
std::string demangle(const char* name);

/// The demangled name of the function at `a` (from the module's symbol table), or "" when the
/// file is stripped or the address is not a function's. Reads the file once per module.
std::string function_name(code_address a);

/// How many task types this executable registered.
std::size_t registered_task_count() noexcept;

}  // namespace rankpool::detail
