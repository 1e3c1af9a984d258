// Which communicator team tasks are built from (see team_base.hpp).

#include "worker/team_base.hpp"

#include <atomic>
#include <map>
#include <mutex>

#include "wire/mpi_call.hpp"

namespace rankpool::detail {
namespace {

std::atomic<MPI_Comm> base_comm{MPI_COMM_NULL};

// The kept team communicators by id. Team tasks of one rank never overlap (the root starts a
// team only on idle workers), but a thread team's other threads run tasks beside them.
struct kept {
  MPI_Comm comm;
  bool clean;  // its last task ended cleanly (or it has not run one)
};
std::mutex kept_lock;
std::map<std::uint32_t, kept> kept_teams;

void retire(kept& k) noexcept {
  if (k.clean) mpi::try_call("MPI_Comm_free", MPI_Comm_free, &k.comm);
}

}  // namespace

void set_team_base(MPI_Comm serving) {
  int inter = 0;
  mpi::call("MPI_Comm_test_inter", MPI_Comm_test_inter, serving, &inter);
  // A spawned worker serves its parent over an intercommunicator; the team's ranks are ranks of
  // its remote group there, which are the spawned workers' own MPI_COMM_WORLD.
  base_comm.store(inter ? MPI_COMM_WORLD : serving, std::memory_order_release);
}

void clear_team_base() noexcept {
  base_comm.store(MPI_COMM_NULL, std::memory_order_release);
  std::lock_guard lk(kept_lock);
  for (auto& [id, k] : kept_teams) retire(k);
  kept_teams.clear();
}

MPI_Comm team_base() noexcept {
  return base_comm.load(std::memory_order_acquire);
}

MPI_Comm kept_team(std::uint32_t id) {
  std::lock_guard lk(kept_lock);
  const auto it = kept_teams.find(id);
  return it == kept_teams.end() ? MPI_COMM_NULL : it->second.comm;
}

void keep_team(std::uint32_t id, MPI_Comm team) {
  std::lock_guard lk(kept_lock);
  auto [it, added] = kept_teams.try_emplace(id, kept{team, true});
  if (added) return;
  retire(it->second);
  it->second = kept{team, true};
}

bool release_kept_team(MPI_Comm team, bool cleanly) noexcept {
  std::lock_guard lk(kept_lock);
  for (auto& [id, k] : kept_teams) {
    if (k.comm != team) continue;
    k.clean = cleanly;
    return true;
  }
  return false;
}

}  // namespace rankpool::detail
