#pragma once
// Internal: the root's control messages to its workers (tag_control): stop requests, cancels of
// tasks sent ahead, and requests for unstarted tasks back; and the count of those a worker has
// not answered yet. The pool must not end while any is unanswered: MPI reuses a freed
// communicator's context id, so an answer still on its way would reach the next pool.

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "root/dispatch_policy.hpp"
#include "root/stop_queue.hpp"
#include "root/task_sender.hpp"
#include "wire/framing.hpp"

namespace rankpool::detail {

class control_channel {
 public:
  /// Sends on `comm` to the worker ranks `workers` (slot i is rank workers[i]) what user threads
  /// queued in `stops`.
  control_channel(MPI_Comm comm, const std::vector<int>& workers, stop_queue& stops)
      : comm_(comm), workers_(workers), stops_(stops), unanswered_(workers.size(), 0) {}

  /// Forwards the queued stop requests, and the cancels of tasks still in `running` (a task
  /// that finished meanwhile has answered its waiting cancel() by finishing).
  void forward(const in_flight_map& running);
  /// Asks the workers back for every task of `running` sent ahead and not known to have
  /// started (shutdown with cancel_futures): each is cancelled when its worker skips it.
  void withdraw_all(const in_flight_map& running);
  /// When `policy` says a slot should hand unstarted tasks back, asks it.
  void ask_back(dispatch_policy& policy);
  /// Worker slot `slot` answered `n` cancel and take-back requests.
  void answered(std::size_t slot, std::size_t n) { unanswered_[slot] -= std::min(n, unanswered_[slot]); }
  /// Worker slot `slot` was lost: nothing more will come from it.
  void forget(std::size_t slot) { unanswered_[slot] = 0; }
  /// From now on a stop request also carries `signal` for an isolated task's process
  /// (terminate_workers / kill_workers); 0: a plain stop (stop_requested() turns true).
  void set_stop_signal(int signal) noexcept { stop_signal_ = signal; }
  /// Whether every cancel and take-back has its answer.
  bool all_answered() const;
  /// Rings a worker's doorbell after each request to it (an idle worker reads a cancel or a
  /// take-back at once); null: none.
  void ring_with(std::shared_ptr<node_bells> bells) { bells_ = std::move(bells); }

 private:
  void send(wire::kind k, std::uint64_t id, int rank);

  MPI_Comm comm_;
  const std::vector<int>& workers_;
  stop_queue& stops_;
  std::vector<std::size_t> unanswered_;  // per worker slot
  int stop_signal_ = 0;                  // carried by stop requests in the header's body_bytes
  std::shared_ptr<node_bells> bells_;    // the workers' doorbells (or null)
};

}  // namespace rankpool::detail
