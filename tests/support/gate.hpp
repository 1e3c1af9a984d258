#pragma once
// A gate tasks block on until the test opens it, which makes scheduling deterministic in tests
// of local executors and futures, and a guard that opens it however the test ends.

#include <condition_variable>
#include <mutex>

namespace rankpool_test {

/// Tasks block in wait() until the test calls open(); stays open afterwards.
class gate {
 public:
  /// Opens the gate and wakes every waiter.
  void open() {
    {
      std::lock_guard lk(m_);
      open_ = true;
    }
    cv_.notify_all();
  }
  /// Blocks until the gate is open.
  void wait() {
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return open_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false;
};

/// Opens a gate when the scope ends, so that a failed assertion never leaves workers blocked
/// (declare it after the executor: it is destroyed, and opens the gate, before the executor joins).
class open_at_exit {
 public:
  explicit open_at_exit(gate& g) : g_(g) {}
  ~open_at_exit() { g_.open(); }
  open_at_exit(const open_at_exit&) = delete;
  open_at_exit& operator=(const open_at_exit&) = delete;

 private:
  gate& g_;
};

}  // namespace rankpool_test
