#pragma once
// The invoker registry and code addresses (compiled in src/registry/registry.cpp): how a task
// finds its function on another rank without any registration by the user. Invokers are keyed by
// the mangled name of the invoker type, the same in every copy of one executable; function
// pointers travel as (module, offset).

#include <cstdint>
#include <rankpool/detail/codec.hpp>

namespace rankpool::detail {

/// Decodes a TASK body (callable and arguments) from `in`, runs it, and writes the RESULT body
/// (status byte, then the value or the exception) to `out`. Never throws.
using invoke_fn = void (*)(reader& in, writer& out) noexcept;

/// Adds an invoker under a key derived from `type_name`; called from static initialisation.
std::uint64_t register_invoker(const char* type_name, invoke_fn fn) noexcept;
/// The invoker for `key`, or nullptr when this executable has none.
invoke_fn find_invoker(std::uint64_t key) noexcept;
/// The readable (demangled) invoker type of `key`; the pointer stays valid for the process's
/// lifetime (crash reports read it from a signal handler).
const char* invoker_name(std::uint64_t key) noexcept;

/// A code address as (module, offset), valid in every process running the same binaries.
struct code_address {
  std::uint64_t module = 0;
  std::uint64_t offset = 0;
};
/// Locates the function at `fn`; throws rankpool::error when it is in no loaded module.
code_address encode_code_address(const void* fn);
/// The function at `a` in this process; throws decode_error when `a` is not inside the
/// executable code of a loaded module.
const void* decode_code_address(code_address a);

}  // namespace rankpool::detail
