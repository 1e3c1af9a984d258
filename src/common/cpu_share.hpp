#pragma once
// Does this rank have a core of its own? When the ranks of a node (with the task threads they
// run) outnumber its CPUs, a rank that spins while it waits takes the core from a rank that has
// work: measured at -n 3 on 2 cores, 200 µs tasks ran at 47% efficiency where a bare MPI farm
// reached 97%. The answer sets the process-wide switch of rankpool/detail/spin.hpp.

#include <mpi.h>
#include <sched.h>

#include <cstddef>
#include <optional>
#include <vector>

namespace rankpool::detail::cpu_share {

/// What the decision rests on, gathered by configure() (or made up by a test).
struct facts {
  std::size_t demand = 1;          ///< threads on this node that want a core: every pool rank's busy threads
  std::size_t cpus = 1;            ///< CPUs those ranks may run on (the union of their affinity masks)
  std::optional<bool> spin_env;    ///< RANKPOOL_SPIN, when it holds a boolean
  std::optional<bool> mpi_yields;  ///< Open MPI's mpi_yield_when_idle, when it was set or is on
};

/// True when waiting threads may spin: RANKPOOL_SPIN decides when set; otherwise not when Open
/// MPI yields when idle (it does so by itself on an oversubscribed node); otherwise exactly when
/// every thread that wants a core has one (demand <= cpus).
bool may_spin(const facts& f) noexcept;

/// The work (ns) the root keeps in flight at each worker thread: 100 µs when ranks spin, so a
/// worker never waits a round trip; 2 ms when they sleep while idle, since a sleeping root
/// answers late (measured at -n 3 on 2 cores, 200 µs tasks: 2 in flight per worker gave 60%
/// efficiency, 8 gave 92%, 16 gave 97%).
double lead_ns(bool spin) noexcept;

/// A boolean setting's text: 1/true/yes/on and 0/false/no/off (any case); nullopt otherwise.
std::optional<bool> parse_bool(const char* text) noexcept;

/// CPUs in the union of `masks`.
std::size_t union_count(const std::vector<cpu_set_t>& masks) noexcept;

/// This process's affinity mask (every CPU when the call fails).
cpu_set_t own_mask() noexcept;

/// Open MPI's mpi_yield_when_idle: the environment's OMPI_MCA_mpi_yield_when_idle when set,
/// else true when the library reports it on (through MPI_T), else nullopt.
std::optional<bool> mpi_yield_setting();

/// CPUs the ranks of `node` (the pool's ranks that share this node, as MPI_Comm_split_type
/// gives them) may run on: the union of their affinity masks. Collective over `node`.
std::size_t node_cpus(MPI_Comm node);

/// Worker ranks of a node that fit its `cpus` (executor_options::fit_cores): one per
/// `threads_per_worker` CPUs, after `root_threads` CPUs for the root's compute slot where the root
/// shares the node and computes (its progress thread sleeps while it waits and takes none); at
/// least one.
std::size_t fitting_workers(std::size_t cpus, std::size_t threads_per_worker, std::size_t root_threads) noexcept;

/// Decides over `node` (collective), whose ranks may run on `cpus` CPUs (node_cpus), each of
/// them running its `threads` busy threads (0 for a rank that only waits), and sets the
/// process-wide switch. Returns the decision.
bool configure(MPI_Comm node, std::size_t threads, std::size_t cpus);

/// As configure, for a process that cannot meet its node's ranks in a collective (a spawn
/// executor and its children): OMPI_COMM_WORLD_LOCAL_SIZE (Open MPI) or MPI_LOCALNRANKS (MPICH) ranks of this world
/// with `own_threads` busy threads each, plus `other_threads` of the other world on this node, against this process's
/// own affinity mask.
bool configure_alone(std::size_t own_threads, std::size_t other_threads);

}  // namespace rankpool::detail::cpu_share
