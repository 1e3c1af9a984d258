// A worker's message work during long tasks (see watcher.hpp).

#include "worker/watcher.hpp"

#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace rankpool::detail {
namespace {
constexpr std::int64_t never = INT64_MAX;
constexpr std::int64_t ns_per_s = 1'000'000'000;

// The timer's clock, read directly rather than trusting steady_clock to be the same one.
std::int64_t now_ns() noexcept {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return std::int64_t(t.tv_sec) * ns_per_s + t.tv_nsec;
}
}  // namespace

watcher::watcher(std::mutex& comm, std::function<bool()> service, std::chrono::microseconds every,
                 std::chrono::microseconds most)
    : comm_(comm), service_(std::move(service)), every_(every), most_(std::max(most, every)), gap_(every_) {
  timer_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (timer_ < 0) throw std::system_error(errno, std::generic_category(), "rankpool: the worker's watcher timer");
  thread_ = std::thread([this] { loop(); });
}

watcher::~watcher() {
  {
    std::lock_guard lk(m_);
    stop_ = true;
    arm(1);  // long past: it fires at once
  }
  thread_.join();
  ::close(timer_);
}

void watcher::arm(std::int64_t ns) noexcept {
  if (ns == due_ns_) return;
  due_ns_ = ns;
  itimerspec spec{};  // all zero: disarmed
  if (ns != never) {
    spec.it_value.tv_sec = static_cast<time_t>(ns / ns_per_s);
    spec.it_value.tv_nsec = static_cast<long>(ns % ns_per_s);
  }
  // Fails only for a bad descriptor or value, neither possible here.
  ::timerfd_settime(timer_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void watcher::task_started() noexcept {
  const std::int64_t now = now_ns();
  std::lock_guard lk(m_);
  running_.store(++seq_, std::memory_order_release);
  if (due_ns_ == never) {
    // After an idle spell: the stream starts afresh, its first look `every` in.
    gap_ = every_;
    arm(std::min(now + gap_.count(), wanted_ns_));
  } else if (due_ns_ - now < gap_.count() / 2) {
    // The look set for an earlier task would come too soon into this one: that task ended first,
    // and the main thread did its work between tasks. Moved without waking the watcher.
    gap_ = grown(gap_);
    arm(std::min(now + gap_.count(), wanted_ns_));
  }
}

void watcher::hurry() noexcept {
  const std::int64_t by = now_ns() + every_.count();
  // Under the lock, always: the watcher may be between a look and setting the next, where a
  // look wanted now would otherwise be missed for a whole gap.
  std::lock_guard lk(m_);
  wanted_ns_ = std::min(wanted_ns_, by);
  if (due_ns_ > by) arm(by);
}

void watcher::loop() {
  std::unique_lock lk(m_);
  while (!stop_ && !error_) {
    lk.unlock();
    std::uint64_t fired = 0;
    const bool woke = ::read(timer_, &fired, sizeof fired) == static_cast<ssize_t>(sizeof fired);
    lk.lock();
    if (!woke) continue;  // a signal (EINTR): sleep on
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    const std::int64_t now = now_ns();
    if (stop_ || now < due_ns_) continue;  // moved on after it fired
    const std::uint64_t seq = running_.load(std::memory_order_acquire);
    if (seq == 0) {
      // Idle: the next task sets the timer; what was wanted the main thread did between tasks.
      // (It has fired and was not set again since: no call needed to disarm it.)
      wanted_ns_ = never;
      due_ns_ = never;
      continue;
    }
    wanted_ns_ = never;  // this look serves it; one wanted during the look counts after it
    lk.unlock();
    const bool found = serve_once(seq);
    lk.lock();
    gap_ = found ? every_ : grown(gap_);
    arm(std::min(now_ns() + gap_.count(), wanted_ns_));
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
