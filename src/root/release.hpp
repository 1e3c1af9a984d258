#pragma once
// Internal: how the root lets its worker ranks go. After a normal end, a shutdown message each;
// after a failure, a shutdown that asks for an answer while the root drops whatever the workers
// still send, so that no rank is left waiting (docs/architecture.md, "When MPI fails").

#include <mpi.h>

#include <initializer_list>
#include <vector>

namespace rankpool::detail {

/// Ranks of `comm` (or of its remote group), in one or more lists.
using rank_lists = std::initializer_list<const std::vector<int>*>;

/// Sends each rank a shutdown: it leaves its serve loop. Throws mpi_error when a send fails.
void stop_ranks(MPI_Comm comm, rank_lists ranks);

/// After a failure: sends each rank a shutdown that asks for a bye, and receives and drops every
/// message until each has answered. A rank that cannot be told, or does not answer within 30 s,
/// would serve forever: the job is then aborted with a message naming it.
void release_ranks(MPI_Comm comm, rank_lists ranks) noexcept;

}  // namespace rankpool::detail
