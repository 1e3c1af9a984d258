// A worker's message work during long tasks (see watcher.hpp).

#include "worker/watcher.hpp"

namespace rankpool::detail {
namespace {
using clock = std::chrono::steady_clock;
std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count();
}
}  // namespace

watcher::watcher(std::mutex& comm, std::function<void()> service, std::chrono::microseconds every)
    : comm_(comm), service_(std::move(service)), every_(every) {
  thread_ = std::thread([this] { loop(); });
}

watcher::~watcher() {
  {
    std::lock_guard lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void watcher::task_started() noexcept {
  started_ns_.store(now_ns(), std::memory_order_relaxed);
  // Sequentially consistent, with parked_: either the watcher sees the task when it parks, or
  // this thread sees it parked.
  running_.store(++seq_);
  // Only a parked watcher needs a wake-up; one that is waiting for a deadline looks by itself,
  // which keeps a stream of short tasks from paying a wake-up each.
  if (parked_.load()) {
    { std::lock_guard lk(m_); }
    cv_.notify_one();
  }
}

void watcher::loop() {
  std::unique_lock lk(m_);
  std::uint64_t watched = 0;
  clock::time_point due;
  while (!stop_ && !error_) {
    const std::uint64_t seq = running_.load(std::memory_order_acquire);
    if (seq == 0) {
      parked_.store(true);
      cv_.wait(lk, [&] { return stop_ || running_.load() != 0; });
      parked_.store(false, std::memory_order_release);
      continue;
    }
    if (seq != watched) {
      watched = seq;
      due = clock::time_point(std::chrono::nanoseconds(started_ns_.load(std::memory_order_relaxed))) + every_;
    }
    if (clock::now() < due) {
      cv_.wait_until(lk, due, [&] { return stop_; });
      continue;
    }
    lk.unlock();
    serve_once(seq);
    lk.lock();
    due = clock::now() + every_;
  }
}

void watcher::serve_once(std::uint64_t seq) {
  std::lock_guard cl(comm_);
  // The task may have ended while this thread waited for the lock: the main thread does the
  // work itself then.
  if (running_.load(std::memory_order_acquire) != seq) return;
  try {
    service_();
  } catch (...) {
    std::lock_guard lk(m_);
    error_ = std::current_exception();
    failed_.store(true, std::memory_order_release);
  }
}

}  // namespace rankpool::detail
