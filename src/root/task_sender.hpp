#pragma once
// Internal: how the root's tasks leave for the workers. A large task goes alone, straight from
// its own buffer (no copy); small ones are copied into one batch message. Each send is kept until
// MPI is done with its buffer; the scheduler decides what goes where (dispatch), this only moves it.

#include <mpi.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <rankpool/detail/task.hpp>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/doorbell.hpp"
#include "observe/observer.hpp"
#include "wire/transport.hpp"

namespace rankpool::detail {

/// A task sent to a worker whose result has not come back.
struct in_flight_task {
  task_ptr t;
  std::size_t worker;           // the worker's slot
  transport::outgoing send;     // a task sent alone, from its own buffer
  std::int64_t dispatched = 0;  // for observers only (0 when none listens)
  std::uint64_t bytes_in = 0;
};

/// Tasks in flight by task id.
using in_flight_map = std::unordered_map<std::uint64_t, in_flight_task>;

/// Larger tasks travel alone, zero-copy.
inline constexpr std::size_t batch_task_limit = 64 * 1024;
/// A batch grows to about this many bytes at most.
inline constexpr std::size_t batch_byte_limit = 1 << 20;

class task_sender {
 public:
  /// Sends on `comm`, recording each task sent in `running`; `watch` is told of every send.
  task_sender(MPI_Comm comm, in_flight_map& running, const hooks& watch)
      : comm_(comm), running_(running), hooks_(watch) {}

  /// Sends (task id, task) pairs, already marked running, to worker slot `w` at rank `dest`: a
  /// single task alone, several in one batch. `answer_each`: the worker answers each task of the
  /// batch as soon as it is done.
  void send(std::vector<std::pair<std::uint64_t, task_ptr>>& tasks, std::size_t w, int dest, bool answer_each);

  /// Tests the sends still under way; true while any is. A large message moves only while its
  /// sender keeps calling into MPI, so the progress loop must not sleep then.
  bool under_way();

  /// Keeps a task that left the books (cancelled before its worker received it) until its send
  /// is over: the task's bytes are the send's buffer.
  void retire(in_flight_task&& gone);

  /// Rings a worker's doorbell after each send to it (workers of the root's node that sleep
  /// while idle wake at once); null: none.
  void ring_with(std::shared_ptr<node_bells> bells) { bells_ = std::move(bells); }

 private:
  struct batch_send {
    std::vector<char> bytes;
    transport::outgoing send;
  };
  void send_alone(std::uint64_t id, task_ptr t, std::size_t w, int dest);
  void send_batch(std::vector<std::pair<std::uint64_t, task_ptr>>& tasks, std::size_t w, int dest, bool answer_each);

  MPI_Comm comm_;
  in_flight_map& running_;
  const hooks& hooks_;
  std::deque<batch_send> batches_;
  std::vector<std::uint64_t> sending_;   // tasks sent alone whose send has not completed yet
  std::vector<in_flight_task> retired_;  // off the books, their sends not over
  std::shared_ptr<node_bells> bells_;    // the workers' doorbells (or null)
};

}  // namespace rankpool::detail
