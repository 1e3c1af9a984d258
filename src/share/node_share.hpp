#pragma once
// Internal: the root's side of shared values (executor.share). It places a contiguous value once
// per node, in an MPI-3 shared-memory window that the root fills on its own node and one rank
// fills on every other node from a single copy the root sends it; other values go once to every
// worker rank. A value leaves when its last handle on the root is gone: a thread of this class
// then tells the workers and frees the root's node window, so no user thread and never the
// progress thread waits for that collective.

#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <rankpool/detail/shared_block.hpp>
#include <thread>
#include <vector>

#include "common/loop_token.hpp"
#include "share/node_layout.hpp"
#include "wire/framing.hpp"

namespace rankpool::detail {

class node_share final : public share_service, public std::enable_shared_from_this<node_share> {
 public:
  /// `pool`: the pool's communicator; `layout`: its nodes (owned); `ranks`: every rank that serves
  /// the pool, workers and idle ranks alike, for they all take part in their node's windows; the
  /// first `workers` of them are the worker slots, in order.
  node_share(MPI_Comm pool, node_layout layout, std::vector<int> ranks, std::size_t workers);
  ~node_share() override;
  node_share(const node_share&) = delete;
  node_share& operator=(const node_share&) = delete;

  std::shared_ptr<shared_block> place(std::size_t bytes, std::uint64_t d0, std::uint64_t d1,
                                      const std::function<void(char*)>& fill) override;
  std::shared_ptr<shared_block> send(std::vector<char> encoded) override;

  /// At the pool's end, with every task done (the progress thread, before the workers' shutdown):
  /// closes every value still placed, marks the handles still held as closed, and places
  /// nothing more.
  void close_all() noexcept;
  /// The pool's loop token: a value cannot be placed from the thread running the loop (a done
  /// callback), for placing waits on workers that may wait on the loop.
  void set_loop_token(const loop_token* loop) noexcept { loop_ = loop; }
  /// The pool broke: nothing more is placed, and nothing is freed collectively (a worker may
  /// never answer); handles still held read as closed.
  void abandon() noexcept;

 private:
  struct open_value {
    node_window window;  // the root's node window (contiguous values on a pool with nodes)
    std::weak_ptr<shared_block> block;
  };

  // Throws invalid_state_error when nothing may be placed now. Holds lock_.
  void check_open_for_values() const;
  // Sends every serving rank the share_open of value `id`, `rec` with the rank's stripe. Holds
  // lock_.
  void announce(std::uint64_t id, wire::share_record rec);
  // A new block for value `id` whose last reference queues its close.
  std::shared_ptr<shared_block> make_block(std::uint64_t id, shared_block::where w);
  // Queues the close of value `id` for the closer thread (any thread, never blocks long).
  void release(std::uint64_t id);
  void closer_loop();
  // Tells the workers value `id` is gone and frees the root's node window. Holds lock_.
  void close_one(std::uint64_t id) noexcept;

  MPI_Comm pool_;
  node_layout layout_;
  std::vector<int> ranks_;
  std::size_t workers_ = 0;  // the first ranks_ that run tasks

  std::mutex lock_;  // one value's messages and collectives at a time, in the order the workers see them
  std::map<std::uint64_t, open_value> open_;
  std::uint64_t next_id_ = 0;
  bool ended_ = false;
  const loop_token* loop_ = nullptr;  // set before the pool takes tasks

  std::mutex queue_lock_;
  std::condition_variable queue_cv_;
  std::vector<std::uint64_t> to_close_;
  bool stop_closer_ = false;
  std::thread closer_;  // started with the first value
};

}  // namespace rankpool::detail
