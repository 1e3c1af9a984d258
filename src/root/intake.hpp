#pragma once
// Internal: what the root does with each message from a worker. Results complete their futures,
// answers to cancel and take-back requests return unstarted tasks to the queue (or cancel them),
// and failures break the pool through the scheduler's callbacks. Runs on the progress thread.

#include <deque>
#include <exception>
#include <functional>
#include <rankpool/detail/task.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "observe/observer.hpp"
#include "root/control.hpp"
#include "root/dispatch_policy.hpp"
#include "root/relay.hpp"
#include "root/root_queue.hpp"
#include "root/stop_queue.hpp"
#include "root/task_sender.hpp"
#include "wire/transport.hpp"

namespace rankpool::detail {

class intake {
 public:
  /// The scheduler's bookkeeping that messages change.
  struct books {
    in_flight_map& running;    // tasks at the workers, by id
    root_queue& queue;         // tasks waiting on the root
    dispatch_policy& policy;   // slot loads
    control_channel& control;  // unanswered requests
    task_sender& sender;       // keeps sends alive
    const hooks& watch;        // observers
    relays& nested;            // tasks the workers' tasks submitted
    stop_queue& stops;         // where a nested cancel asks a task back
  };
  /// What breaks the pool.
  struct failures {
    std::function<void(const std::string& why, const std::exception_ptr& cause)> broken;  // every future fails
    std::function<void(std::size_t slot, int rank, const std::string& why)> lost;         // a worker is gone
    std::function<std::exception_ptr()> broken_error;  // what the pool broke with, or null
  };

  /// Messages come from the worker ranks `workers` (slot i is rank workers[i]).
  intake(const std::vector<int>& workers, books b, failures f);

  /// Acts on one message; a malformed one is logged and dropped.
  void handle(transport::incoming& msg);

 private:
  void complete(const wire::result_record& rec, const char* data, std::size_t worker, int rank, std::int64_t received);
  void take_answer(std::size_t w, int rank, const wire::header& h, in_buffer& body);
  void take_nested(std::size_t w, int rank, const wire::header& h, in_buffer& body);
  static std::exception_ptr whole_failure(const char* data, std::size_t n) noexcept;
  static std::string output_suffix(const std::string& output);

  books b_;
  failures fail_;
  std::unordered_map<int, std::size_t> index_of_rank_;
  std::vector<int> workers_;  // the rank of each slot
};

}  // namespace rankpool::detail
