#pragma once
// Internal: the threads that take over a worker's serve loop while a task run inline waits on
// futures and lends its slot (slot_keeper). Started on demand, joined when the loop ends; the
// first error one of them threw is kept for the serve loop to rethrow.

#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rankpool::detail {

class spare_threads {
 public:
  spare_threads() = default;
  spare_threads(const spare_threads&) = delete;
  spare_threads& operator=(const spare_threads&) = delete;
  /// Joins the threads still there (the loop failed before join() ran).
  ~spare_threads();

  /// Starts a thread running `body`.
  void start(std::function<void()> body);
  /// A spare's loop threw `e`: kept unless an earlier error was.
  void failed(std::exception_ptr e);
  /// Joins every thread started so far, then rethrows the first error one of them had.
  void join();

 private:
  std::mutex m_;
  std::vector<std::thread> threads_;
  std::exception_ptr error_;
};

}  // namespace rankpool::detail
