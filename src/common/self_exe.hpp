#pragma once
// Internal: where this process's executable is, for the start-up handshake and spawn_executor.

#include <string>

namespace rankpool::detail {

/// The path of this process's executable (/proc/self/exe resolved), or "" when it cannot be read.
std::string self_executable();

}  // namespace rankpool::detail
