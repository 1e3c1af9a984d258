#pragma once
// Internal: the tasks that tasks submit (rankpool::this_pool() on a worker rank). The worker
// sends such a task's body to the root, which queues it as a task of its own (a relay_task, the
// body as it came) and, when it is done, sends its outcome back to that worker, which completes
// the future there. Runs on the progress thread, except the replies, which any thread that
// completes a relay's state may queue.

#include <mpi.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <rankpool/detail/task.hpp>
#include <utility>
#include <vector>

#include "root/stop_queue.hpp"
#include "root/task_sender.hpp"
#include "wire/transport.hpp"

namespace rankpool::detail {

/// What relay tasks queue as they end, for the progress thread to send; shared with their
/// states' callbacks, which may run after the relays object is gone (a pool breaking as it ends).
struct relay_outbox {
  /// A reply to a worker: a nested_result message.
  struct reply {
    std::vector<char> bytes;
    transport::outgoing send;
    int rank;
  };
  std::mutex m;
  std::deque<reply> ready;
  std::map<std::pair<int, std::uint64_t>, std::weak_ptr<state_base>> live;  // unfinished relays
  /// Queues a nested_result of task `number` to worker rank `rank`: `flags` and, without them,
  /// the result body `body`.
  void queue(int rank, std::uint64_t number, std::uint8_t flags, const std::vector<char>& body);
};

class relays {
 public:
  /// Replies go out on `comm`.
  explicit relays(MPI_Comm comm);

  /// Worker rank `rank` submitted its task `number`, whose message body (nested_record, then the
  /// task body) is `body`: the task to queue, or null when the body is too short to be one (the
  /// worker's future then fails with decode_error).
  task_ptr take(int rank, std::uint64_t number, const char* body, std::size_t n);
  /// Worker rank `rank` cancels its task `number`: a task still on the root is cancelled at once;
  /// one sent ahead to a worker is asked back through `stops` (the answer decides); for one that
  /// started the worker hears at once that it runs on.
  /// `workers`: the ranks of the worker slots.
  void cancel(int rank, std::uint64_t number, const in_flight_map& running, const std::vector<int>& workers,
              stop_queue& stops);
  /// Starts sending the replies that are ready, and tests those under way; true while any is
  /// under way (a large reply moves only while the progress thread calls into MPI).
  bool send_ready();

 private:
  MPI_Comm comm_;
  std::shared_ptr<relay_outbox> out_ = std::make_shared<relay_outbox>();
  std::deque<relay_outbox::reply> sending_;
};

}  // namespace rankpool::detail
