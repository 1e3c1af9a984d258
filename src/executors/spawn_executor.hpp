#pragma once
// Internal: the spawned side of spawn_executor.

namespace rankpool::detail {

/// The argument that marks a process started by spawn_executor.
inline constexpr const char* spawned_worker_flag = "--rankpool-spawned-worker";

/// When this process was started by spawn_executor (and MPI is initialized): completes the
/// handshake, serves tasks, finalizes MPI and exits the process. Otherwise returns at once.
void serve_if_spawned_worker();

}  // namespace rankpool::detail
