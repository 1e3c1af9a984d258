#pragma once
// Internal: the right to run a pool's progress loop. The root's loop state and its MPI calls
// belong to whichever thread holds the token: the progress thread, or a user thread that waits
// on a result and runs the loop itself meanwhile (docs/architecture.md, "Who runs the loop").
// Code that must not wait for the loop from inside it (a done callback's cancel() or share())
// asks held_here() instead of comparing thread ids with the progress thread's.

#include <atomic>
#include <thread>

namespace rankpool::detail {

/// A non-recursive, non-blocking lock that knows its holder.
class loop_token {
 public:
  /// Takes the token when it is free; false when another thread (or this one) holds it.
  bool try_acquire() noexcept {
    std::thread::id none{};
    return holder_.compare_exchange_strong(none, std::this_thread::get_id(), std::memory_order_acquire,
                                           std::memory_order_relaxed);
  }
  /// Gives the token back (its holder only).
  void release() noexcept { holder_.store(std::thread::id{}, std::memory_order_release); }
  /// True on the thread that holds the token now.
  bool held_here() const noexcept { return holder_.load(std::memory_order_acquire) == std::this_thread::get_id(); }

 private:
  std::atomic<std::thread::id> holder_{};
};

}  // namespace rankpool::detail
