#pragma once
// Internal: who this process is, as remote errors report it.

#include <cstdint>
#include <string>

namespace rankpool::detail {

struct worker_identity {
  int rank = -1;              // rank in the executor's communicator (-1 outside a worker loop)
  std::string host;           // gethostname()
  bool forked_child = false;  // an isolated task runner (isolation.cpp): MPI is not for it
};

/// This process's identity; the worker loop sets the rank.
worker_identity& this_worker() noexcept;

}  // namespace rankpool::detail
