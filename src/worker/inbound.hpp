#pragma once
// Internal: what the root sends a worker rank, filed where it belongs: tasks to the rank's queue
// (or its thread team), shared values to the share table, nested results to this_pool()'s
// client, the shutdown noted; and the cancel and take-back requests of the control tag answered.
// The serve loop and the watcher call it under the worker's comm lock.

#include <mpi.h>

#include <cstdint>
#include <utility>

#include "wire/transport.hpp"
#include "worker/task_queue.hpp"

namespace rankpool::detail {

class nested_client;
class share_table;
class stop_board;
class thread_team;

class inbound {
 public:
  /// Where messages go. `team`: the rank's thread team, which then takes the tasks instead of
  /// `queue` (null without one); `nested`: this_pool()'s client (null in an isolated rank);
  /// `isolated`: tasks run in a forked child, which a shared value's change makes stale.
  struct places {
    MPI_Comm comm;
    int root;
    int rank;
    stop_board& board;
    task_queue& queue;
    thread_team* team;
    share_table& shares;
    nested_client* nested;
    bool isolated;
  };
  explicit inbound(places p) : p_(p) {}

  /// Reads every message waiting from the root and files it, answering the control requests
  /// read meanwhile. True when anything came. `between_tasks`: tasks are queued here and the
  /// next call comes after the next of them, so a message that has only just come may wait for
  /// it (one probe where nothing waits, not two; see pump's body).
  bool pump(bool between_tasks = false);
  /// Answers the cancel and take-back requests read so far, in one message. Every request is
  /// answered, even with nothing, because the root must hear from each before it ends the pool:
  /// a message still on its way when the root frees the communicator would reach the next one.
  /// True when there were requests. `pull`: read the control messages waiting first; without
  /// it, answers only what was read already (stop_requested()'s polls read them too).
  bool answer_requests(bool pull = true);
  /// How many times requests have been answered so far (a caller compares before and after).
  std::uint64_t answers() const noexcept { return answers_; }

  /// The root said shut down.
  bool stopping() const noexcept { return stopping_; }
  /// The shutdown asked for a bye (the root drains after a failure).
  bool acknowledge() const noexcept { return acknowledge_; }
  /// Whether a shared value came or went since the last call while tasks run in an isolated
  /// child: that child would not see it, and a fresh one must be forked before the next task.
  bool take_refork() noexcept { return std::exchange(refork_, false); }

 private:
  void handle(transport::incoming& msg);
  void enqueue(task_queue::item it);

  places p_;
  bool stopping_ = false;
  bool acknowledge_ = false;
  bool refork_ = false;
  std::uint64_t answers_ = 0;
};

}  // namespace rankpool::detail
