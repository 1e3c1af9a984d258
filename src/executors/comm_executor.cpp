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
#include <vector>

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

// How the ranks of a pool are to be used: every rank passes the same (the options are checked
// before any collective, and every rank reads the same ones).
struct rank_plan {
  int root = 0;
  std::size_t workers = 1;         // at most this many worker ranks (max_workers)
  bool fit_cores = false;          // no more worker ranks on a node than its CPUs (executor_options::fit_cores)
  std::size_t worker_threads = 1;  // busy threads of a worker rank (threads_per_worker)
  bool root_computes = false;      // the root runs tasks on a thread of its own
};

// The pool's own communicator, its ranks' roles and what the node it runs on allows.
struct pool_comm {
  MPI_Comm dup = MPI_COMM_NULL;
  bool spin = true;                          // this rank may spin while it waits (cpu_share)
  std::optional<detail::node_layout> nodes;  // where shared values live (executor.share); set when size > 1
  std::vector<int> workers;                  // ranks that run tasks, in rank order (size > 1)
  std::vector<int> idle;                     // the other ranks but the root: they only wait for the shutdown
};

// Collective over the pool's communicator `pc.dup`, once its node layout is known: chooses the
// worker ranks (the first `plan.workers` ranks but the root, of those that fit their node's CPUs
// with plan.fit_cores), counts those on this rank's node, and decides whether this rank may spin
// while it waits, counting the busy threads of the ranks that have work.
void assign_ranks(pool_comm& pc, int rank, int size, const rank_plan& plan) {
  detail::node_layout& nodes = *pc.nodes;
  const std::size_t cpus = detail::cpu_share::node_cpus(nodes.node);
  int node_rank = 0;
  mpi::call("MPI_Comm_rank", MPI_Comm_rank, nodes.node, &node_rank);
  // The root is rank 0 of its node (node_layout), so a worker's place among its node's workers
  // is its node rank, less one there.
  const auto place = static_cast<std::size_t>(node_rank - (nodes.root_here ? 1 : 0));
  const std::size_t room =
      detail::cpu_share::fitting_workers(cpus, plan.worker_threads, nodes.root_here && plan.root_computes ? 1 : 0);
  const int fits = rank != plan.root && (!plan.fit_cores || place < room) ? 1 : 0;
  std::vector<int> fitting(static_cast<std::size_t>(size));
  mpi::call("MPI_Allgather", MPI_Allgather, &fits, 1, MPI_INT, fitting.data(), 1, MPI_INT, pc.dup);
  bool works = false;
  for (int r = 0; r < size; ++r) {
    if (r == plan.root) continue;
    const bool chosen = fitting[static_cast<std::size_t>(r)] != 0 && pc.workers.size() < plan.workers;
    (chosen ? pc.workers : pc.idle).push_back(r);
    works |= chosen && r == rank;
  }
  int mine = works ? 1 : 0, here = 0;
  mpi::call("MPI_Allreduce", MPI_Allreduce, &mine, &here, 1, MPI_INT, MPI_SUM, nodes.node);
  nodes.workers_here = static_cast<std::size_t>(here);
  nodes.cpus_here = cpus;
  const std::size_t threads =
      rank == plan.root ? (plan.root_computes ? 2 : 1) : (works ? plan.worker_threads : 0);  // root: progress + compute
  pc.spin = detail::cpu_share::configure(nodes.node, threads, cpus);
}

// Collective: duplicates `comm` (returning errors, not aborting), runs the start-up handshake,
// learns the node's layout and assigns the ranks their roles (assign_ranks). Frees what it made
// before it rethrows.
pool_comm open_pool_comm(MPI_Comm comm, int rank, int size, const rank_plan& plan) {
  detail::heap_policy::apply_once();
  pool_comm pc;
  mpi::call("MPI_Comm_dup", MPI_Comm_dup, comm, &pc.dup);
  try {
    // A dup inherits the user's error handler (by default, errors abort the job): the pool's
    // own communicator returns errors instead, so they reach mpi_error and the futures.
    mpi::set_errors_return(pc.dup);
    detail::handshake(pc.dup, plan.root, size > 1);
    mpi::serialize_calls();  // before any thread of the pool starts
    if (size > 1) {
      pc.nodes = detail::node_layout::of(pc.dup, plan.root);
      assign_ranks(pc, rank, size, plan);
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
  const bool computes = detail::option_bool("RANKPOOL_ROOT_COMPUTES", o.root_computes).value_or(false);
  const auto usable = static_cast<std::size_t>(std::max(size - 1, 1));
  const rank_plan plan{.root = root,
                       .workers = std::max<std::size_t>(1, std::min(usable, max_workers.value_or(usable))),
                       .fit_cores = detail::fit_cores_of(o),
                       .worker_threads = wcfg.threads,
                       .root_computes = computes};
  pool_comm pc = open_pool_comm(comm, rank, size, plan);
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
  if (rank == root) {
    detail::scheduler_config cfg = detail::scheduler_config_of(o, wcfg, "comm_executor");
    cfg.comm = pc.dup;
    cfg.lead_ns = detail::cpu_share::lead_ns(pc.spin);
    cfg.nodes = std::move(*pc.nodes);  // set: the pool has more than one rank
    cfg.workers = std::move(pc.workers);
    cfg.idle_ranks = std::move(pc.idle);
    core_ = detail::make_scheduler(std::move(cfg));
    return;
  }
  // A worker rank: serve (or, when left out by max_workers or fit_cores, only wait for the shutdown).
  const bool works = std::find(pc.workers.begin(), pc.workers.end(), rank) != pc.workers.end();
  try {
    detail::serve(pc.dup, root, works ? o.initializer : std::function<void()>(), wcfg, std::move(*pc.nodes));
  } catch (...) {
    mpi::try_call("MPI_Comm_free", MPI_Comm_free, &pc.dup);
    throw;
  }
  mpi::call("MPI_Comm_free", MPI_Comm_free, &pc.dup);
}

comm_executor::~comm_executor() = default;

}  // namespace rankpool
