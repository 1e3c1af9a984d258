#pragma once
// Internal: the start-up checks of an MPI pool. Every rank tells the others which executable it
// runs (a fingerprint of the file and of its task table) and which MPI thread level it has, so a
// pool of different programs, or a root that cannot drive a progress thread, is refused on
// every rank with one message instead of hanging or calling the wrong function.

#include <mpi.h>

#include <cstdint>
#include <string>

namespace rankpool::detail {

/// What a rank tells the others at start-up.
struct hello {
  char fingerprint[32];
  char exe[160];
  std::int32_t thread_level;
  std::int32_t pad = 0;
};

/// This process's hello.
hello make_hello();

/// Whether two hellos come from the same executable.
bool same_executable(const hello& a, const hello& b) noexcept;

/// "MPI_THREAD_MULTIPLE", ...
std::string level_name(int level);

/// Throws invalid_state_error naming `who` when MPI is not initialized (or already finalized);
/// names this process's MPI_COMM_WORLD rank in log lines.
void require_mpi(const char* who);

/// Collective over `comm`: every rank learns whether all run the same executable and whether the
/// root can drive a pool (`needs_threads`: a progress thread, so MPI_THREAD_FUNNELED at least);
/// on a mismatch every rank throws the same rankpool::error, so none hangs.
void handshake(MPI_Comm comm, int root, bool needs_threads);

}  // namespace rankpool::detail
