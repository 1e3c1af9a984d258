#pragma once
// Internal: which ranks of a pool share memory (a node), and who fills each node's window of a
// shared value: the root on its own node, the lowest pool rank on every other.

#include <mpi.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "common/doorbell.hpp"

namespace rankpool::detail {

struct node_layout {
  MPI_Comm node = MPI_COMM_NULL;    // this rank's node: the pool's ranks that share memory with it (owned)
  bool leader = false;              // this rank fills its node's windows (rank 0 of `node`)
  bool root_here = false;           // the root is on this node (and is its leader)
  std::vector<int> remote_leaders;  // on the root: the pool ranks that fill the other nodes' windows
  std::size_t workers_here = 0;     // worker ranks of this node that run tasks (0: not known, every rank but the root)
  std::size_t cpus_here = 0;        // CPUs this node's ranks may run on, all masks together (0: not known)
  std::shared_ptr<node_bells> bells;  // the node's doorbells (null: none could be had)

  /// Collective over the intra-communicator `pool` (every rank, before the pool starts).
  static node_layout of(MPI_Comm pool, int root);
  /// The same for a spawned pool, collective over the intercommunicator `inter` between the
  /// parent (the root, `parent` true) and its children: the two groups merged for the layout
  /// only. remote_leaders are ranks of the children's group, as the root addresses them.
  static node_layout of_spawned(MPI_Comm inter, bool parent);
  /// Frees `node`; never throws.
  void release() noexcept;
};

struct window_header;

/// One shared value's window on a node: rank 0 of the node holds its `bytes` (after a 64-byte
/// header); every rank of the node maps them.
struct node_window {
  MPI_Win win = MPI_WIN_NULL;
  window_header* header = nullptr;  // rank 0's memory, as this rank maps it

  /// Collective over `node`: rank 0 gives `bytes` (plus the header), the others none. Waits
  /// for every rank of the node with wait_for_node first.
  static node_window open(MPI_Comm node, std::size_t bytes);
  /// Collective over `node`: frees the window (after wait_for_node). Never throws; a failure is
  /// logged.
  void close(MPI_Comm node) noexcept;
};

/// Returns once every rank of `node` has called it, sleeping rather than spinning meanwhile: a
/// worker reaches a shared value's collective while others of its node may still be computing.
void wait_for_node(MPI_Comm node);

}  // namespace rankpool::detail
