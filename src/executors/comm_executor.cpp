// comm_executor: collective set-up over a communicator. Every rank checks the communicator and
// the options, duplicates the communicator and takes part in the start-up handshake; then the
// root builds the pool (the MPI scheduler, or local threads on a one-rank communicator) and every
// other rank serves tasks until the root shuts the pool down.

#include <algorithm>
#include <optional>
#include <rankpool/comm_executor.hpp>
#include <rankpool/detail/thread_core.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "common/cpu_share.hpp"
#include "common/heap_policy.hpp"
#include "executors/options.hpp"
#include "executors/spawn_executor.hpp"
#include "registry/handshake.hpp"
#include "wire/mpi_call.hpp"

namespace rankpool {
namespace {

namespace mpi = detail::mpi;

// Throws std::invalid_argument when `comm` cannot hold a pool rooted at `root`.
void check_communicator(MPI_Comm comm, int root, int size) {
  if (root < 0 || root >= size)
    throw std::invalid_argument("rankpool: comm_executor root " + std::to_string(root) +
                                " is not a rank of the communicator (size " + std::to_string(size) + ")");
  int inter = 0;
  mpi::call("MPI_Comm_test_inter", MPI_Comm_test_inter, comm, &inter);
  if (inter) throw std::invalid_argument("rankpool: comm_executor needs an intra-communicator");
}

// Worker ranks of the pool: all but the root, the first `n` of them; the rest only wait for the
// shutdown.
void assign_ranks(detail::scheduler_config& cfg, int size, int root, std::size_t n) {
  for (int r = 0; r < size; ++r) {
    if (r == root) continue;
    (cfg.workers.size() < n ? cfg.workers : cfg.idle_ranks).push_back(r);
  }
}

// The pool's own communicator and what the node it runs on allows.
struct pool_comm {
  MPI_Comm dup = MPI_COMM_NULL;
  bool spin = true;                          // this rank may spin while it waits (cpu_share)
  std::optional<detail::node_layout> nodes;  // where shared values live (executor.share); set when size > 1
};

// Collective: duplicates `comm` (returning errors, not aborting), runs the start-up handshake and
// learns the node's layout and whether waiting threads may spin, given this rank's `threads`
// busy threads. Frees what it made before it rethrows.
pool_comm open_pool_comm(MPI_Comm comm, int root, int size, std::size_t threads) {
  detail::heap_policy::apply_once();
  pool_comm pc;
  mpi::call("MPI_Comm_dup", MPI_Comm_dup, comm, &pc.dup);
  try {
    // A dup inherits the user's error handler (by default, errors abort the job): the pool's
    // own communicator returns errors instead, so they reach mpi_error and the futures.
    mpi::set_errors_return(pc.dup);
    detail::handshake(pc.dup, root, size > 1);
    mpi::serialize_calls();  // before any thread of the pool starts
    if (size > 1) {
      pc.nodes = detail::node_layout::of(pc.dup, root);
      pc.spin = detail::cpu_share::configure(pc.nodes->node, threads);
    }
  } catch (...) {
    if (pc.nodes) pc.nodes->release();
    mpi::try_call("MPI_Comm_free", MPI_Comm_free, &pc.dup);
    throw;
  }
  return pc;
}

// A one-rank communicator: the tasks run on threads of this process.
std::unique_ptr<detail::executor_core> local_core(executor_options& o, const detail::worker_config& wcfg,
                                                  std::optional<std::size_t> max_workers) {
  if (wcfg.capture_output)
    throw std::invalid_argument(
        "rankpool: capture_output needs worker processes: a one-rank comm_executor runs its tasks on threads of "
        "this process, which share its stdout and stderr (run with more ranks, or use spawn_executor)");
  std::size_t n = max_workers.value_or(std::max(1u, std::thread::hardware_concurrency()));
  return detail::make_thread_core(n == 0 ? 1 : n, std::move(o.initializer), wcfg.deadline_ns, &o, "comm_executor");
}

}  // namespace

comm_executor::comm_executor(MPI_Comm comm, int root, executor_options o) {
  detail::require_mpi("comm_executor");
  detail::serve_if_spawned_worker();
  int size = 0, rank = 0;
  mpi::call("MPI_Comm_size", MPI_Comm_size, comm, &size);
  mpi::call("MPI_Comm_rank", MPI_Comm_rank, comm, &rank);
  check_communicator(comm, root, size);

  // Checked before any collective: every rank reads the same options and agrees.
  const detail::worker_config wcfg = detail::worker_config_of(o);
  const auto max_workers = detail::max_workers_of(o);
  // Busy threads of a rank: the root's progress thread (and its compute slot), or the worker's
  // task threads.
  const bool computes = detail::option_bool("RANKPOOL_ROOT_COMPUTES", o.root_computes).value_or(false);
  pool_comm pc = open_pool_comm(comm, root, size, rank == root ? (computes ? 2 : 1) : wcfg.threads);
  if (rank == root) {
    is_root_ = true;
    journal_ = detail::journal_of(o);
    retries_ = detail::retry_rule_of(o);
  }
  if (size == 1) {
    mpi::call("MPI_Comm_free", MPI_Comm_free, &pc.dup);
    core_ = local_core(o, wcfg, max_workers);
    return;
  }
  const auto usable = static_cast<std::size_t>(size - 1);
  const std::size_t n = std::max<std::size_t>(1, std::min(usable, max_workers.value_or(usable)));
  if (rank == root) {
    detail::scheduler_config cfg = detail::scheduler_config_of(o, wcfg, "comm_executor");
    cfg.comm = pc.dup;
    cfg.lead_ns = detail::cpu_share::lead_ns(pc.spin);
    cfg.nodes = std::move(*pc.nodes);  // set: the pool has more than one rank
    assign_ranks(cfg, size, root, n);
    core_ = detail::make_scheduler(std::move(cfg));
    return;
  }
  // A worker rank: serve (or, when left out by max_workers, only wait for the shutdown).
  const auto my_index = static_cast<std::size_t>(rank < root ? rank : rank - 1);
  try {
    detail::serve(pc.dup, root, my_index < n ? o.initializer : std::function<void()>(), wcfg, std::move(*pc.nodes));
  } catch (...) {
    mpi::try_call("MPI_Comm_free", MPI_Comm_free, &pc.dup);
    throw;
  }
  mpi::call("MPI_Comm_free", MPI_Comm_free, &pc.dup);
}

comm_executor::~comm_executor() = default;

}  // namespace rankpool
