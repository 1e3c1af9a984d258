#pragma once
// Internal: a worker's results on their way to the root. Results are gathered into one
// result_batch message, so many small results share a message; the serve loop decides when it
// leaves (when the worker has nothing else queued, when a result has waited past the hold time,
// and, during a long task, from the watcher). A result is written into a scratch buffer that
// already has the room of a one-result batch: when nothing else is held, it becomes the batch
// without a copy.

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <rankpool/detail/codec.hpp>

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
  /// Sends the batch, if it holds any result (blocking until the buffer may be reused).
  void flush();

 private:
  writer& batch() noexcept { return bufs_[which_]; }
  writer& scratch() noexcept { return bufs_[1 - which_]; }
  void reset(writer& w);

  MPI_Comm comm_;
  int root_;
  writer bufs_[2];  // the batch and the scratch result; they trade places
  int which_ = 0;   // which of bufs_ is the batch
  std::uint64_t count_ = 0;
  clock::time_point first_;
};

}  // namespace rankpool::detail
