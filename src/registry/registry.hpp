#pragma once
// Internal: what the registry offers the rest of src/ beyond <rankpool/detail/registry.hpp>
// (both are compiled in registry.cpp).

#include <rankpool/detail/registry.hpp>
#include <string>

namespace rankpool::detail {

/// SHA-256 of this process's executable file and of its task table (32 raw bytes), computed
/// once. Ranks whose fingerprints differ run different programs.
std::string executable_fingerprint();

/// The demangled name of the function at `a` (from the module's symbol table), or "" when the
/// file is stripped or the address is not a function's. Reads the file once per module.
std::string function_name(code_address a);

}  // namespace rankpool::detail
