#pragma once
// Internal: the communicator a worker builds its team tasks' communicators from
// (rankpool/detail/team.hpp), set while the worker serves.

#include <mpi.h>

namespace rankpool::detail {

/// The worker serves on `serving`: its team tasks' ranks are ranks of that communicator, or of
/// the spawned workers' MPI_COMM_WORLD when `serving` is the intercommunicator to a parent.
void set_team_base(MPI_Comm serving);
/// The worker stopped serving.
void clear_team_base() noexcept;
/// The communicator set_team_base chose, or MPI_COMM_NULL outside a serve loop.
MPI_Comm team_base() noexcept;

}  // namespace rankpool::detail
