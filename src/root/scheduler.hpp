#pragma once
// Internal: the root half of an MPI pool: a progress thread that owns every MPI call of the
// pool on the root (the worker half is worker/serve.hpp).

#include <mpi.h>

#include <memory>
#include <rankpool/detail/core.hpp>
#include <vector>

#include "observe/telemetry.hpp"
#include "share/node_layout.hpp"

namespace rankpool::detail {

struct scheduler_config {
  MPI_Comm comm = MPI_COMM_NULL;       // owned: freed (or disconnected) when the pool ends
  bool disconnect = false;             // an intercommunicator to spawned workers: disconnect at the end
  std::vector<int> workers;            // ranks (in comm, or in its remote group) that run tasks
  std::vector<int> idle_ranks;         // ranks left out by max_workers: they only wait for shutdown
  std::size_t in_flight = 0;           // tasks outstanding per worker; 0 = sized from the task time
  double lead_ns = 100'000;            // work in flight per worker thread when sized (cpu_share::lead_ns)
  bool root_computes = false;          // a thread of the root runs tasks too
  std::size_t threads_per_worker = 1;  // threads running tasks inside each worker rank
  std::uint64_t task_deadline_ns = 0;  // root-run tasks past this fail (workers enforce their own)
  telemetry_config telemetry;          // trace file and summary, when asked for
  const char* name = "comm_executor";  // the executor's name in traces and summaries
  node_layout nodes;                   // the pool's nodes, for shared values (owned)
};

/// The root's executor core: a progress thread that owns every MPI call of the pool.
std::unique_ptr<executor_core> make_scheduler(scheduler_config cfg);

}  // namespace rankpool::detail
