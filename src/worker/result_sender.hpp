#pragma once
// Internal: a worker's results on their way to the root. Results are gathered into one
// result_batch message, so many small results share a message; the serve loop decides when it
// leaves (when as many results wait as tasks are queued, when a result has waited past the hold
// time, and, during a long task, from the watcher). A batch leaves with MPI_Isend and is not
// waited for: Open MPI's shared-memory transport completes a send of more than 256 bytes only
// once the receiver has read it, so a blocking send waited for the root. With the root asleep
// on a shared core (-n 3 on 2 cores) the workers spent 0.9 of 1.5 s in MPI_Send, 0.5 to 2 ms
// each, and ran 10 us tasks 20% of the time. A result is written into a scratch buffer that
// already has the room of a one-result batch: when nothing else is held, it becomes the batch
// without a copy.

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <rankpool/detail/codec.hpp>
#include <vector>

#include "wire/transport.hpp"

namespace rankpool::detail {

class result_sender {
 public:
  using clock = std::chrono::steady_clock;

  result_sender(MPI_Comm comm, int root);

  /// Starts the result of the next task: its body is written to the returned writer, which
  /// stays valid until finish() (nothing else may touch the sender in between, but the batch
  /// it holds may be flushed meanwhile).
  writer& start();
  /// Adds the result started last, of task `id`, which ran `exec_ns` from `started` on team
  /// thread `lane`, to the batch. The writer's last `output_bytes` are the task's captured output.
  void finish(std::uint64_t id, std::uint64_t exec_ns, clock::time_point started, std::uint32_t lane = 0,
              std::uint32_t output_bytes = 0);
  /// Adds a result body computed elsewhere (a thread of a team) to the batch.
  void add(std::uint64_t id, const char* body, std::size_t n, std::uint64_t exec_ns, clock::time_point started,
           std::uint32_t lane, std::uint32_t output_bytes = 0);
  /// Whether the batch should leave now rather than wait for more results: a result has waited
  /// past the hold time, or the last task was long enough that holding would delay its answer.
  bool overdue(std::uint64_t last_exec_ns) const;
  /// Whether the batch holds a result.
  bool held() const noexcept { return count_ > 0; }
  /// How many results the batch holds.
  std::uint64_t count() const noexcept { return count_; }
  /// Starts sending the batch, if it holds any result, without waiting for it to arrive.
  void flush();
  /// Waits until every batch sent has gone (at the worker's end).
  void drain();

 private:
  // A batch on its way: MPI_Isend from its own bytes, which come back for reuse once it went.
  struct sending {
    std::vector<char> bytes;
    transport::outgoing send;
  };

  writer& batch() noexcept { return bufs_[which_]; }
  writer& scratch() noexcept { return bufs_[1 - which_]; }
  void reset(writer& w);
  // Takes back the buffers of the batches that have gone, oldest first.
  void reap();

  MPI_Comm comm_;
  int root_;
  writer bufs_[2];  // the batch and the scratch result; they trade places
  int which_ = 0;   // which of bufs_ is the batch
  std::uint64_t count_ = 0;
  clock::time_point first_;
  std::deque<sending> sending_;           // batches not yet gone, in the order sent
  std::vector<std::vector<char>> spare_;  // buffers of batches that went, for the next ones
};

}  // namespace rankpool::detail
