// Does this rank have a core of its own (see cpu_share.hpp): the facts of a node, gathered with
// one collective over its ranks, and the decision that sets the process-wide spin switch.

#include "common/cpu_share.hpp"

#include <strings.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <rankpool/detail/log.hpp>
#include <rankpool/detail/spin.hpp>

#include "wire/mpi_call.hpp"

namespace rankpool::detail::cpu_share {

bool may_spin(const facts& f) noexcept {
  if (f.spin_env) return *f.spin_env;
  if (f.mpi_yields.value_or(false)) return false;
  return f.demand <= f.cpus;
}

double lead_ns(bool spin) noexcept {
  return spin ? 100'000 : 4'000'000;
}

std::optional<bool> parse_bool(const char* text) noexcept {
  if (text == nullptr) return std::nullopt;
  for (const char* yes : {"1", "true", "yes", "on"})
    if (strcasecmp(text, yes) == 0) return true;
  for (const char* no : {"0", "false", "no", "off"})
    if (strcasecmp(text, no) == 0) return false;
  return std::nullopt;
}

std::size_t union_count(const std::vector<cpu_set_t>& masks) noexcept {
  cpu_set_t all;
  CPU_ZERO(&all);
  for (const cpu_set_t& m : masks) CPU_OR(&all, &all, &m);
  return static_cast<std::size_t>(CPU_COUNT(&all));
}

cpu_set_t own_mask() noexcept {
  cpu_set_t m;
  CPU_ZERO(&m);
  if (sched_getaffinity(0, sizeof m, &m) != 0) {
    CPU_ZERO(&m);
    for (int i = 0; i < CPU_SETSIZE; ++i) CPU_SET(i, &m);  // unknown: assume no limit
  }
  return m;
}

namespace {

// The value Open MPI runs with, which also covers its own oversubscription default (it turns
// yielding on when mpirun placed more ranks than slots) and its parameter files. MPI_T may be
// missing or refuse; then nothing is known.
// MPI_T_init_thread is asked for the level MPI runs at: Open MPI 4.1 lets the tools interface's
// level overwrite what MPI_Query_thread reports, and a later pool's check then saw
// MPI_THREAD_SINGLE.
std::optional<bool> mpi_t_yield() {
  int initialized = 0, level = MPI_THREAD_SINGLE, provided = 0;
  if (MPI_Initialized(&initialized) != MPI_SUCCESS || !initialized) return std::nullopt;
  if (MPI_Query_thread(&level) != MPI_SUCCESS) return std::nullopt;
  if (MPI_T_init_thread(level, &provided) != MPI_SUCCESS) return std::nullopt;
  std::optional<bool> out;
  int index = 0;
  if (MPI_T_cvar_get_index("mpi_yield_when_idle", &index) == MPI_SUCCESS) {
    MPI_T_cvar_handle handle;
    int count = 0;
    if (MPI_T_cvar_handle_alloc(index, nullptr, &handle, &count) == MPI_SUCCESS) {
      std::int64_t value = 0;  // wide enough for any integer type the variable may have
      if (count == 1 && MPI_T_cvar_read(handle, &value) == MPI_SUCCESS && value != 0) out = true;
      MPI_T_cvar_handle_free(&handle);
    }
  }
  MPI_T_finalize();
  return out;
}

// Decides, sets the switch and says why in the log (info: a healthy run prints nothing).
bool settle(const facts& f) {
  const bool spin = may_spin(f);
  set_spin_allowed(spin);
  RANKPOOL_LOG(info, "%s: %zu busy threads on this node, %zu CPUs%s%s",
               spin ? "spinning while idle" : "yielding while idle", f.demand, f.cpus,
               f.spin_env ? ", RANKPOOL_SPIN set" : "",
               f.mpi_yields.value_or(false) ? ", Open MPI yields when idle" : "");
  return spin;
}

facts from_environment() {
  facts f;
  f.spin_env = parse_bool(std::getenv("RANKPOOL_SPIN"));
  f.mpi_yields = mpi_yield_setting();
  return f;
}

}  // namespace

std::optional<bool> mpi_yield_setting() {
  if (auto env = parse_bool(std::getenv("OMPI_MCA_mpi_yield_when_idle"))) return env;
  static const std::optional<bool> once = mpi_t_yield();  // fixed at MPI_Init: ask once
  return once;
}

std::size_t node_cpus(MPI_Comm node) {
  const cpu_set_t mine = own_mask();
  int n = 0;
  mpi::call("MPI_Comm_size", MPI_Comm_size, node, &n);
  std::vector<cpu_set_t> masks(static_cast<std::size_t>(n));
  mpi::call("MPI_Allgather", MPI_Allgather, &mine, static_cast<int>(sizeof mine), MPI_BYTE, masks.data(),
            static_cast<int>(sizeof mine), MPI_BYTE, node);
  return union_count(masks);
}

std::size_t fitting_workers(std::size_t cpus, std::size_t threads_per_worker, std::size_t root_threads) noexcept {
  const std::size_t free = cpus > root_threads ? cpus - root_threads : 0;
  return std::max<std::size_t>(1, free / std::max<std::size_t>(1, threads_per_worker));
}

bool configure(MPI_Comm node, std::size_t threads, std::size_t cpus) {
  facts f = from_environment();
  const auto mine = static_cast<std::uint64_t>(threads);
  std::uint64_t demand = 0;
  mpi::call("MPI_Allreduce", MPI_Allreduce, &mine, &demand, 1, MPI_UINT64_T, MPI_SUM, node);
  f.demand = static_cast<std::size_t>(demand);
  f.cpus = cpus;
  return settle(f);
}

bool configure_alone(std::size_t own_threads, std::size_t other_threads) {
  facts f = from_environment();
  std::size_t here = 1;
  // The launcher's count of this world's ranks on this node: Open MPI's, or MPICH Hydra's.
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"}) {
    if (const char* s = std::getenv(name)) {
      here = std::max<std::size_t>(1, std::strtoull(s, nullptr, 10));
      break;
    }
  }
  f.demand = here * own_threads + other_threads;
  f.cpus = union_count({own_mask()});
  return settle(f);
}

}  // namespace rankpool::detail::cpu_share
