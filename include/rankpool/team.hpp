#pragma once
/// \file team.hpp
/// What a team task (executor.submit_parallel, map_parallel) can use on its team communicator.

#include <mpi.h>

namespace rankpool {

/// Waits for `request`, an operation on a team task's communicator (MPI_Irecv, MPI_Iallreduce,
/// ...), without holding the core while it waits, and returns true once it has completed.
/// Returns false as soon as the task is asked to stop (stop_requested()): another member of its
/// team failed, the future's request_stop() was called or its deadline passed. The request then
/// stays pending (no MPI can cancel a collective): return from the task; the pool frees the team
/// after it. Throws mpi_error when MPI_Test fails.
///
///     MPI_Request r;
///     MPI_Iallreduce(MPI_IN_PLACE, &sum, 1, MPI_DOUBLE, MPI_SUM, team, &r);
///     if (!rankpool::team_wait(r)) return 0.0;  // a teammate failed: the future has its error
bool team_wait(MPI_Request& request);

}  // namespace rankpool
