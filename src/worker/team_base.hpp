#pragma once
// Internal: the communicator a worker builds its team tasks' communicators from
// (rankpool/detail/team.hpp), set while the worker serves.

#include <mpi.h>

#include <cstdint>

namespace rankpool::detail {

/// The worker serves on `serving`: its team tasks' ranks are ranks of that communicator, or of
/// the spawned workers' MPI_COMM_WORLD when `serving` is the intercommunicator to a parent.
void set_team_base(MPI_Comm serving);
/// The worker stopped serving: the kept team communicators go too (freed, those whose last task
/// ended cleanly).
void clear_team_base() noexcept;
/// The communicator set_team_base chose, or MPI_COMM_NULL outside a serve loop.
MPI_Comm team_base() noexcept;

/// The team communicator kept under `id` (team_record::cache), or MPI_COMM_NULL.
MPI_Comm kept_team(std::uint32_t id);
/// Keeps `team` under `id` for later teams on the same ranks. The one kept there before is
/// retired: freed when its last task ended cleanly, else left allocated (see close_team).
void keep_team(std::uint32_t id, MPI_Comm team);
/// When `team` is a kept communicator: notes whether its task ended `cleanly` and returns true
/// (it stays kept); false for any other communicator.
bool release_kept_team(MPI_Comm team, bool cleanly) noexcept;

}  // namespace rankpool::detail
