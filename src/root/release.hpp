#pragma once
// Internal: how the root lets its worker ranks go: a shutdown that asks for an answer while the
// root drops whatever the workers still send, so that no rank is left waiting and no message is
// left on the communicator for the next pool (docs/architecture.md, "When MPI fails").

#include <mpi.h>

#include <initializer_list>
#include <vector>

namespace rankpool::detail {

class node_bells;

/// Ranks of `comm` (or of its remote group), in one or more lists.
using rank_lists = std::initializer_list<const std::vector<int>*>;

/// At a pool's end, normal or failed: sends each rank a shutdown that asks for a bye, and receives
/// and drops every message until each has answered. A rank that cannot be told, or does not
/// answer within 30 s, would serve forever: the job is then aborted with a message naming it.
/// `bells`, when given, wakes those of the root's node that sleep.
void release_ranks(MPI_Comm comm, rank_lists ranks, node_bells* bells = nullptr) noexcept;

}  // namespace rankpool::detail
