#pragma once
// Internal: a worker's results on their way to the root. Results are written straight into one
// result_batch message; it leaves when the serve loop flushes it (after each message from the
// root, or sooner when a result has waited too long), so many small results share a message.

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <rankpool/detail/codec.hpp>

namespace rankpool::detail {

class result_sender {
 public:
  using clock = std::chrono::steady_clock;

  result_sender(MPI_Comm comm, int root) : comm_(comm), root_(root) { start(); }

  /// Where the body of the open record is written.
  writer& out() { return out_; }

  /// Opens the record of task `id`; its result body is written to out() next.
  void begin(std::uint64_t id);
  /// Closes the open record: the task ran `exec_ns` from `started` on team thread `lane`.
  void end(std::uint64_t exec_ns, clock::time_point started, std::uint32_t lane = 0);
  /// Whether the batch should leave now rather than wait for more results: a result has waited
  /// past the hold time, or the last task was long enough that holding would delay its answer.
  bool overdue(std::uint64_t last_exec_ns) const;
  /// Sends the batch, if it holds any result (blocking until the buffer may be reused).
  void flush();

 private:
  void start();
  MPI_Comm comm_;
  int root_;
  writer out_;
  std::uint64_t count_ = 0;
  std::size_t record_at_ = 0;
  clock::time_point first_;
};

}  // namespace rankpool::detail
