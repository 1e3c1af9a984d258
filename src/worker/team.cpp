// A team task's communicator on a worker (rankpool/detail/team.hpp) and team_wait (rankpool/team.hpp).

#include <chrono>
#include <rankpool/detail/team.hpp>
#include <rankpool/errors.hpp>
#include <rankpool/team.hpp>
#include <rankpool/this_task.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/worker_identity.hpp"
#include "wire/mpi_call.hpp"
#include "wire/transport.hpp"
#include "worker/team_base.hpp"

namespace rankpool::detail {

MPI_Comm open_team(reader& in) {
  const auto rec = in.raw().get_value<team_record>();
  if (rec.size == 0 || rec.member >= rec.size || rec.tag < 0)
    throw decode_error("rankpool: a malformed team record (" + std::to_string(rec.size) + " ranks, member " +
                       std::to_string(rec.member) + ")");
  if (in.raw().remaining() < rec.size * sizeof(std::int32_t)) throw decode_error("rankpool: team record truncated");
  std::vector<int> ranks(rec.size);
  for (auto& r : ranks) r = in.raw().get_value<std::int32_t>();
  if (this_worker().forked_child)
    throw invalid_state_error(
        "rankpool: a team task (submit_parallel) cannot run in an isolated worker's child process: MPI cannot be used "
        "after fork. Run team tasks on a pool without executor_options::isolate");
  const MPI_Comm base = team_base();
  if (base == MPI_COMM_NULL) throw invalid_state_error("rankpool: a team task outside a worker's serve loop");
  int size = 0, me = -1;
  mpi::call("MPI_Comm_size", MPI_Comm_size, base, &size);
  mpi::call("MPI_Comm_rank", MPI_Comm_rank, base, &me);
  for (int r : ranks)
    if (r < 0 || r >= size) throw decode_error("rankpool: a team record names rank " + std::to_string(r));
  if (ranks[rec.member] != me)
    throw decode_error("rankpool: a team record for rank " + std::to_string(ranks[rec.member]) + " reached rank " +
                       std::to_string(me));
  const std::uint32_t keep_as = rec.cache & ~team_fresh;
  if (keep_as != 0 && (rec.cache & team_fresh) == 0) {
    const MPI_Comm kept = kept_team(keep_as);
    // The root names only what every member kept: a miss is a broken promise, not a cold cache
    // (building one now would leave the members that have it waiting in vain).
    if (kept == MPI_COMM_NULL)
      throw invalid_state_error("rankpool: team communicator " + std::to_string(keep_as) + " is not kept on rank " +
                                std::to_string(me));
    return kept;
  }
  MPI_Group all = MPI_GROUP_NULL, members = MPI_GROUP_NULL;
  MPI_Comm team = MPI_COMM_NULL;
  mpi::call("MPI_Comm_group", MPI_Comm_group, base, &all);
  try {
    mpi::call("MPI_Group_incl", MPI_Group_incl, all, static_cast<int>(ranks.size()), ranks.data(), &members);
    // Only the team's ranks take part: the other workers go on with their own tasks.
    mpi::call("MPI_Comm_create_group", MPI_Comm_create_group, base, members, rec.tag, &team);
  } catch (...) {
    if (members != MPI_GROUP_NULL) mpi::try_call("MPI_Group_free", MPI_Group_free, &members);
    mpi::try_call("MPI_Group_free", MPI_Group_free, &all);
    throw;
  }
  mpi::try_call("MPI_Group_free", MPI_Group_free, &members);
  mpi::try_call("MPI_Group_free", MPI_Group_free, &all);
  if (keep_as != 0) keep_team(keep_as, team);
  return team;
}

void close_team(MPI_Comm& team, bool cleanly) noexcept {
  if (team == MPI_COMM_NULL) return;
  if (!release_kept_team(team, cleanly) && cleanly) mpi::try_call("MPI_Comm_free", MPI_Comm_free, &team);
  team = MPI_COMM_NULL;
}

}  // namespace rankpool::detail

namespace rankpool {

bool team_wait(MPI_Request& request) {
  // Spins briefly (a partner is usually there already), then sleeps in growing pauses: the
  // team's other ranks may need this core.
  detail::transport::backoff pace(std::chrono::microseconds(50), std::chrono::microseconds(1000));
  while (true) {
    int done = 0;
    detail::mpi::call("MPI_Test", MPI_Test, &request, &done, MPI_STATUS_IGNORE);
    if (done) return true;
    if (stop_requested()) return false;
    const auto pause = pace.next();
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
}

}  // namespace rankpool
