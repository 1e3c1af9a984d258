// The start-up checks of an MPI pool (see handshake.hpp).

#include "registry/handshake.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <rankpool/detail/log.hpp>
#include <rankpool/errors.hpp>
#include <sstream>
#include <vector>

#include "common/self_exe.hpp"
#include "registry/registry.hpp"
#include "wire/mpi_call.hpp"

namespace rankpool::detail {

hello make_hello() {
  hello h{};
  auto fp = executable_fingerprint();
  std::memcpy(h.fingerprint, fp.data(), std::min(fp.size(), sizeof h.fingerprint));
  std::string exe = self_executable();
  if (exe.empty()) exe = "?";
  std::snprintf(h.exe, sizeof h.exe, "%s", exe.c_str());
  mpi::call("MPI_Query_thread", MPI_Query_thread, &h.thread_level);
  return h;
}

bool same_executable(const hello& a, const hello& b) noexcept {
  return std::memcmp(a.fingerprint, b.fingerprint, sizeof a.fingerprint) == 0;
}

std::string level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE:
      return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED:
      return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED:
      return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE:
      return "MPI_THREAD_MULTIPLE";
    default:
      return "an unknown thread level";
  }
}

void require_mpi(const char* who) {
  int initialized = 0, finalized = 0;
  mpi::call("MPI_Initialized", MPI_Initialized, &initialized);
  mpi::call("MPI_Finalized", MPI_Finalized, &finalized);
  if (!initialized || finalized)
    throw invalid_state_error(std::string("rankpool: ") + who +
                              " needs MPI to be initialized: create a rankpool::environment first "
                              "(or call MPI_Init_thread with MPI_THREAD_MULTIPLE)");
  // Log lines name the rank in MPI_COMM_WORLD (a spawned worker's world is its own job).
  int world_rank = 0;
  mpi::call("MPI_Comm_rank", MPI_Comm_rank, MPI_COMM_WORLD, &world_rank);
  log::set_rank(world_rank);
}

void handshake(MPI_Comm comm, int root, bool needs_threads) {
  int size = 0;
  mpi::call("MPI_Comm_size", MPI_Comm_size, comm, &size);
  hello mine = make_hello();
  std::vector<hello> all(static_cast<std::size_t>(size));
  mpi::call("MPI_Allgather", MPI_Allgather, &mine, static_cast<int>(sizeof mine), MPI_BYTE, all.data(),
            static_cast<int>(sizeof mine), MPI_BYTE, comm);
  const hello& r = all[static_cast<std::size_t>(root)];
  std::ostringstream differing;
  int bad = 0;
  for (int i = 0; i < size; ++i) {
    const hello& h = all[static_cast<std::size_t>(i)];
    if (!same_executable(h, r)) {
      if (bad++ < 8) differing << (bad > 1 ? ", " : "") << "rank " << i << " runs " << h.exe;
    }
  }
  if (bad) {
    std::ostringstream msg;
    msg << "rankpool: the ranks do not run the same executable (every rank must run the same program): root rank "
        << root << " runs " << r.exe << ", but " << differing.str() << (bad > 8 ? ", ..." : "");
    throw error(msg.str());
  }
  // Below MPI_THREAD_MULTIPLE the progress thread is the only thread of the root that calls MPI
  // (mpi::serialize_calls); MPI_THREAD_SINGLE allows no second thread at all.
  if (needs_threads && r.thread_level < MPI_THREAD_FUNNELED)
    throw error(
        "rankpool: comm_executor needs at least MPI_THREAD_FUNNELED on the root (its progress thread calls MPI "
        "while the program runs), but MPI provides " +
        level_name(r.thread_level) +
        "; initialize MPI with MPI_Init_thread(..., MPI_THREAD_MULTIPLE, ...) or use rankpool::environment");
}

}  // namespace rankpool::detail
