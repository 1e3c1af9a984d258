#pragma once
// Internal: several threads running the tasks of one worker rank (threads_per_worker > 1). The
// rank's main thread keeps every MPI call: it hands task bodies to the team and collects their
// finished results into the result batch.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/slot_keeper.hpp"
#include "worker/nested_client.hpp"
#include "worker/result_sender.hpp"
#include "worker/task_queue.hpp"

namespace rankpool {
class task_pool;
}

namespace rankpool::detail {

class stop_board;

class thread_team {
 public:
  /// Starts `n` threads; each runs `initializer` first (a failure is kept for init_error()).
  thread_team(std::size_t n, const std::function<void()>& initializer, stop_board& board, std::uint64_t deadline_ns);
  ~thread_team();
  thread_team(const thread_team&) = delete;
  thread_team& operator=(const thread_team&) = delete;

  /// Queues a task (false: it was cancelled before it arrived, and is dropped).
  bool push(task_queue::item it);
  /// The root cancels task `id`: true when it will not run (see task_queue::cancel).
  bool cancel(std::uint64_t id);
  /// The root takes back up to `n` unstarted tasks: their ids.
  std::vector<std::uint64_t> take_back(std::size_t n);
  /// Moves finished results into `results`; true if there were any.
  bool drain(result_sender& results);
  /// Sleeps up to `d`, waking early when a result is ready.
  void wait_for_results(std::chrono::microseconds d);
  /// this_pool() for the team's tasks: `pool`, whose core is `client`. A thread whose task waits
  /// on futures lends its slot to another thread of the team (started when none is spare), and
  /// the root hears of it through `client`. Set before the first task arrives.
  void lend_with(task_pool* pool, nested_client* client);
  /// Wakes the serve loop asleep in wait_for_results: a task queued a message for the root.
  void wake();
  /// The first initializer failure of any thread, or null.
  std::exception_ptr init_error();
  /// Whether the serve loop has told the root about init_error().
  bool init_reported = false;

 private:
  struct finished {
    std::uint64_t id;
    std::uint64_t exec_ns;
    std::vector<char> body;
    std::chrono::steady_clock::time_point started;
    std::uint32_t lane;
  };

  class lender;
  // A thread of the team (`spare`: started while a task waits, it takes a slot first).
  void run(std::size_t lane, bool spare);
  // Runs job `j` on thread `lane` and queues its result (`failed`: the thread's initializer threw).
  void run_job(const task_queue::item& j, std::size_t lane, const std::exception_ptr& failed);
  void start_spare();

  stop_board& board_;
  std::uint64_t deadline_ns_;
  std::mutex m_;
  std::condition_variable jobs_cv_, done_cv_;
  task_queue jobs_;
  std::deque<finished> done_;
  std::exception_ptr init_error_;
  bool stop_ = false;
  bool woken_ = false;  // wake() since the serve loop last looked
  task_pool* pool_ = nullptr;
  nested_client* client_ = nullptr;
  const std::function<void()>& initializer_;
  std::size_t lanes_;
  slot_keeper keeper_;  // the team's slots, lent by threads whose task waits (this_pool())
  std::mutex threads_m_;
  std::vector<std::thread> threads_;
};

}  // namespace rankpool::detail
