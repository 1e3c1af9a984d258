#pragma once
// Internal: stop requests on a worker rank. The root forwards request_stop() as a control
// message; the thread that owns MPI reads them into a board, and the thread running the task
// sees them through stop_requested(). The other control messages (cancel, take back) are kept
// for the serve loop, which owns the queue they are about.

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "wire/framing.hpp"

namespace rankpool::detail {

/// How often a running task's stop_requested() may look for stop messages.
inline constexpr auto stop_poll_interval = std::chrono::microseconds(200);

/// Ids of this rank's tasks that were asked to stop.
class stop_board {
 public:
  stop_board(MPI_Comm comm, int root) : comm_(comm), root_(root) {}

  /// Reads pending control messages (only the thread that owns MPI calls this).
  void pull();
  /// Reads and discards every control message waiting, and what take_requests() would return
  /// (the MPI owner, at the shutdown, when they are moot); how many there were.
  std::size_t drop_pending();
  /// The control messages other than stops read since the last call (the MPI owner).
  std::vector<wire::header> take_requests() { return std::exchange(requests_, {}); }
  /// Whether task `id` was asked to stop.
  bool asked(std::uint64_t id);
  /// The signal the stop request of task `id` carries for its isolated process
  /// (terminate_workers / kill_workers), or 0 (none, or a plain stop).
  int signal_for(std::uint64_t id);
  /// Task `id` ended: its stop request, if any, is spent.
  void forget(std::uint64_t id);

 private:
  MPI_Comm comm_;
  int root_;
  std::mutex m_;
  std::map<std::uint64_t, int> ids_;    // task -> signal its stop carries (0: none)
  std::atomic<bool> flag_{false};       // ids_ is not empty: lets asked() skip the lock
  std::vector<wire::header> requests_;  // cancel and take-back requests, for the serve loop
};

/// What stop_requested() polls while a task runs (task_context::poll_arg).
struct running_task {
  stop_board* board;
  std::uint64_t id;
  bool may_pull;  // this thread owns MPI and may read control messages
  std::chrono::steady_clock::time_point next_pull;
};

/// task_context::poll for a running_task: reads control messages at most every
/// stop_poll_interval (when allowed to), then answers whether the task was asked to stop.
bool poll_stop(void* running) noexcept;

}  // namespace rankpool::detail
