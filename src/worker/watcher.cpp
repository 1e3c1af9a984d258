// A worker's message work during long tasks (see watcher.hpp).

#include "worker/watcher.hpp"

#include <algorithm>
#include <utility>

#include "common/timer_slack.hpp"

namespace rankpool::detail {
namespace {
using clock = std::chrono::steady_clock;
std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count();
}
clock::time_point at(std::int64_t ns) {
  return clock::time_point(std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(ns)));
}
}  // namespace

watcher::watcher(std::mutex& comm, std::function<bool()> service, std::chrono::microseconds every,
                 std::chrono::microseconds most)
    : comm_(comm), service_(std::move(service)), every_(every), most_(std::max(most, every)) {
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

void watcher::hurry() noexcept {
  const std::int64_t by = now_ns() + every_.count();
  // Under the lock, always: the watcher may be between reading the task and setting its next
  // look, where a look wanted now would otherwise be missed for a whole gap.
  bool wake = false;
  {
    std::lock_guard lk(m_);
    wanted_ns_ = std::min(wanted_ns_, by);
    wake = due_ns_ > by;
  }
  if (wake) cv_.notify_one();
}

void watcher::loop() {
  std::unique_lock lk(m_);
  std::uint64_t watched = 0;  // the task the next look is for
  auto gap = every_;          // between looks, now
  std::int64_t due = 0;
  while (!stop_ && !error_) {
    const std::uint64_t seq = running_.load(std::memory_order_acquire);
    if (seq == 0) {
      // Idle: the next task starts afresh, its first look `every` in.
      due_ns_ = INT64_MAX;
      parked_.store(true);
      cv_.wait(lk, [&] { return stop_ || running_.load() != 0; });
      parked_.store(false, std::memory_order_release);
      watched = 0;
      gap = every_;
      continue;
    }
    if (seq != watched) {
      // The task before ended ahead of its look: the main thread did the work between tasks.
      if (watched != 0) gap = grown(gap);
      watched = seq;
      due = started_ns_.load(std::memory_order_relaxed) + gap.count();
    }
    due = std::min(due, std::exchange(wanted_ns_, INT64_MAX));
    if (now_ns() < due) {
      due_ns_ = due;
      slack_for(std::chrono::duration_cast<std::chrono::microseconds>(gap));
      cv_.wait_until(lk, at(due), [&] { return stop_ || wanted_ns_ < due; });
      continue;
    }
    due_ns_ = INT64_MAX;  // looking now: a look wanted meanwhile counts after this one
    lk.unlock();
    const bool found = serve_once(seq);
    lk.lock();
    gap = found ? every_ : grown(gap);
    due = now_ns() + gap.count();
  }
}

bool watcher::serve_once(std::uint64_t seq) {
  std::lock_guard cl(comm_);
  // The task may have ended while this thread waited for the lock: the main thread does the
  // work itself then.
  if (running_.load(std::memory_order_acquire) != seq) return false;
  try {
    return service_();
  } catch (...) {
    std::lock_guard lk(m_);
    error_ = std::current_exception();
    failed_.store(true, std::memory_order_release);
    return false;
  }
}

}  // namespace rankpool::detail
