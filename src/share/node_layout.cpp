// The node layout of a pool (node_layout.hpp): MPI_Comm_split_type with the root ordered first
// on its node, so that rank 0 of every node comm is the rank that fills that node's windows.

#include "share/node_layout.hpp"

#include <rankpool/detail/log.hpp>
#include <rankpool/detail/shared_block.hpp>

#include "wire/mpi_call.hpp"
#include "wire/transport.hpp"

namespace rankpool::detail {

node_layout node_layout::of(MPI_Comm pool, int root) {
  node_layout l;
  int rank = 0, size = 0;
  mpi::call("MPI_Comm_rank", MPI_Comm_rank, pool, &rank);
  mpi::call("MPI_Comm_size", MPI_Comm_size, pool, &size);
  // Key 0 for the root: it is rank 0 of its node, and so that node's leader.
  mpi::call("MPI_Comm_split_type", MPI_Comm_split_type, pool, MPI_COMM_TYPE_SHARED, rank == root ? 0 : rank + 1,
            MPI_INFO_NULL, &l.node);
  try {
    mpi::set_errors_return(l.node);
    int node_rank = 0;
    mpi::call("MPI_Comm_rank", MPI_Comm_rank, l.node, &node_rank);
    l.leader = node_rank == 0;
    int root_mine = rank == root ? 1 : 0, root_here = 0;
    mpi::call("MPI_Allreduce", MPI_Allreduce, &root_mine, &root_here, 1, MPI_INT, MPI_MAX, l.node);
    l.root_here = root_here != 0;
    // The root learns which ranks lead the other nodes.
    int leads_other = l.leader && !l.root_here ? 1 : 0;
    std::vector<int> flags(rank == root ? static_cast<std::size_t>(size) : 0);
    mpi::call("MPI_Gather", MPI_Gather, &leads_other, 1, MPI_INT, flags.data(), 1, MPI_INT, root, pool);
    for (int r = 0; r < static_cast<int>(flags.size()); ++r)
      if (flags[static_cast<std::size_t>(r)]) l.remote_leaders.push_back(r);
    l.bells = node_bells::open(l.node, pool);
  } catch (...) {
    l.release();
    throw;
  }
  return l;
}

node_layout node_layout::of_spawned(MPI_Comm inter, bool parent) {
  MPI_Comm merged = MPI_COMM_NULL;
  // The parent's group first: it is rank 0 of the merged communicator, the children 1..n.
  mpi::call("MPI_Intercomm_merge", MPI_Intercomm_merge, inter, parent ? 0 : 1, &merged);
  node_layout l;
  try {
    mpi::set_errors_return(merged);
    l = of(merged, 0);
  } catch (...) {
    mpi::try_call("MPI_Comm_free", MPI_Comm_free, &merged);
    throw;
  }
  mpi::try_call("MPI_Comm_free", MPI_Comm_free, &merged);
  for (int& r : l.remote_leaders) --r;             // child k is rank k + 1 of the merged communicator
  if (l.bells && parent) l.bells->shift_ranks(1);  // a child addresses the parent as rank 0, as merged
  return l;
}

void node_layout::release() noexcept {
  if (node != MPI_COMM_NULL) mpi::try_call("MPI_Comm_free", MPI_Comm_free, &node);
  node = MPI_COMM_NULL;
}

node_window node_window::open(MPI_Comm node, std::size_t bytes) {
  int node_rank = 0;
  mpi::call("MPI_Comm_rank", MPI_Comm_rank, node, &node_rank);
  wait_for_node(node);
  node_window w;
  void* mine = nullptr;
  const MPI_Aint own = node_rank == 0 ? static_cast<MPI_Aint>(sizeof(window_header) + bytes) : 0;
  mpi::call("MPI_Win_allocate_shared", MPI_Win_allocate_shared, own, 1, MPI_INFO_NULL, node, &mine, &w.win);
  try {
    MPI_Aint size = 0;
    int unit = 0;
    void* base = nullptr;
    mpi::call("MPI_Win_shared_query", MPI_Win_shared_query, w.win, 0, &size, &unit, &base);
    if (static_cast<std::size_t>(size) < sizeof(window_header) + bytes)
      throw error("rankpool: a node's shared window is smaller than asked");
    w.header = static_cast<window_header*>(base);
  } catch (...) {
    mpi::try_call("MPI_Win_free", MPI_Win_free, &w.win);
    throw;
  }
  return w;
}

void node_window::close(MPI_Comm node) noexcept {
  if (win == MPI_WIN_NULL) return;
  try {
    wait_for_node(node);
  } catch (const std::exception& e) {
    RANKPOOL_LOG(warn, "a node's shared window is freed without waiting for the node: %s", e.what());
  }
  mpi::try_call("MPI_Win_free", MPI_Win_free, &win);
  win = MPI_WIN_NULL;
  header = nullptr;
}

void wait_for_node(MPI_Comm node) {
  std::vector<MPI_Request> r(1, MPI_REQUEST_NULL);
  mpi::call("MPI_Ibarrier", MPI_Ibarrier, node, r.data());
  transport::wait_sleeping(r);
}

}  // namespace rankpool::detail
