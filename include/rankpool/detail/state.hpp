#pragma once
// Shared state behind rankpool::future<T>: status, value or exception, done callbacks, and the
// waiters of wait()/as_completed(). Every transition takes the state's mutex, so any thread may
// wait on, cancel, complete or add callbacks to a state.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <rankpool/detail/clock.hpp>
#include <rankpool/detail/drive.hpp>
#include <rankpool/detail/spin.hpp>
#include <string>
#include <thread>
#include <vector>

namespace rankpool::detail {

enum class status : std::uint8_t { pending, running, finished, cancelled };

class state_base;

/// Where an executor hears of stop requests for its running tasks.
class stop_sink {
 public:
  virtual ~stop_sink() = default;
  /// Called under the task state's lock: must not block or call back into the state.
  virtual void request_stop(std::uint64_t task_id, int where) noexcept = 0;
  /// Asks that task `task_id`, sent to `where` but perhaps not started there, be withdrawn (a
  /// cancel()). Called under the task state's lock, like request_stop. The executor answers
  /// through state_base::withdrawn or refuse_withdraw. False when no answer can come while the
  /// caller waits (it is the thread that would deliver it): cancel() then fails at once.
  virtual bool request_withdraw(std::uint64_t /*task_id*/, int /*where*/) noexcept { return false; }
};

/// A party waiting on several states (wait(), as_completed()). States call `notify` under their
/// own lock when they finish; the waiter keeps the order of completion.
class multi_waiter {
 public:
  void notify(state_base* s, bool failed) {
    {
      std::lock_guard lk(m_);
      completed_.push_back(s);
      if (failed) ++failed_;
    }
    cv_.notify_all();
  }

  /// Runs this thread's pool's loop (drive.hpp) until `pred` holds, tested under m_, or until
  /// `deadline`; the caller then waits on cv_ as usual.
  template <class Pred>
  void drive_until(const Pred& pred, std::chrono::steady_clock::time_point deadline) noexcept {
    drive_until_call(
        [&] {
          std::lock_guard l(m_);
          return pred();
        },
        deadline);
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::vector<state_base*> completed_;  // in completion order
  std::size_t failed_ = 0;
};

/// Reports an exception thrown by a done callback (never swallowed silently). Defaults to a line
/// on stderr; replace it with rankpool::set_callback_error_handler.
void report_callback_error(std::exception_ptr e) noexcept;

/// A thread that runs tasks and can lend its place while the task it runs waits on futures
/// (rankpool::this_pool(): a task that waits on tasks it submitted must not hold a place the
/// pool needs for them, or recursion deeper than the workers would deadlock). The executor that
/// runs a task installs its hook on the task's thread; every blocking wait of a future lends.
class wait_hook {
 public:
  virtual ~wait_hook() = default;
  /// Called on the hook's thread before it sleeps on a future that is not done: true when its
  /// place went to another thread (the caller then calls reclaim() once the wait is over); false
  /// where it cannot be lent (not inside a task, the pool ending).
  virtual bool lend() = 0;
  /// The wait is over: blocks until the thread holds a place again.
  virtual void reclaim() = 0;
};

/// The hook of this thread, or null (a thread that runs no tasks of an executor).
wait_hook* current_wait_hook() noexcept;
/// Installs `h` for this thread (null: none); returns the previous one.
wait_hook* set_current_wait_hook(wait_hook* h) noexcept;

/// Lends this thread's place for as long as it lives, where the thread runs tasks (see
/// wait_hook); does nothing elsewhere.
class lend_guard {
 public:
  lend_guard() : hook_(current_wait_hook()) {
    if (hook_ && !hook_->lend()) hook_ = nullptr;
  }
  ~lend_guard() {
    if (hook_) hook_->reclaim();
  }
  lend_guard(const lend_guard&) = delete;
  lend_guard& operator=(const lend_guard&) = delete;

 private:
  wait_hook* hook_;
};

/// Where threads sleep while a future is not done. Condition variables are shared by all states
/// in buckets, so a state carries no condition variable of its own (a million pending futures
/// would otherwise hold a million of them); a wake-up in a shared bucket is rare and harmless,
/// since every sleeper rechecks its own state.
struct sleep_bucket {
  std::mutex m;
  std::condition_variable cv;
};
inline sleep_bucket& bucket_of(const void* state) noexcept {
  static sleep_bucket buckets[64];
  auto h = reinterpret_cast<std::uintptr_t>(state);
  return buckets[(h >> 6) % 64];
}

class state_base : public std::enable_shared_from_this<state_base> {
 public:
  state_base() = default;
  state_base(const state_base&) = delete;
  state_base& operator=(const state_base&) = delete;
  virtual ~state_base() = default;

  status get_status() const noexcept { return status_.load(std::memory_order_acquire); }
  bool done() const noexcept {
    auto s = get_status();
    return s == status::finished || s == status::cancelled;
  }

  /// pending -> cancelled; true when the future is (now or already) cancelled. A task sent
  /// ahead to a worker that may not have started it (set_running with `withdrawable`) is asked
  /// back: cancel() then waits for the worker's answer (a round trip, well under a millisecond
  /// unless the worker cannot read messages) and succeeds when the worker skipped the task.
  /// False when the task already started or finished.
  bool cancel() {
    std::unique_lock lk(m_);
    auto s = status_.load(std::memory_order_relaxed);
    if (s == status::cancelled) return true;
    if (s == status::running && withdrawable_.load(std::memory_order_relaxed) && sink_) {
      if (!withdraw_asked_) {
        if (!sink_->request_withdraw(stop_id_, stop_where_)) return false;
        withdraw_asked_ = true;
      }
      lk.unlock();
      // The answer comes through the pool's loop: this thread runs it when it can (drive.hpp),
      // as a waiting thread does, instead of sleeping until another thread has run it.
      drive_until({&withdraw_settled, this}, std::chrono::steady_clock::time_point::max());
      auto& b = bucket_of(this);
      std::unique_lock bl(b.m);
      sleepers_.fetch_add(1);
      b.cv.wait(bl, [&] { return withdraw_settled(this); });
      sleepers_.fetch_sub(1);
      return get_status() == status::cancelled;
    }
    if (s != status::pending) return false;
    status_.store(status::cancelled, std::memory_order_release);
    complete_locked(lk, false);
    return true;
  }

  /// For shutdown(cancel_futures): marks a task sent ahead and not known to have started as
  /// asked back, without waiting (the executor sends the request and applies the answer as for
  /// cancel()). True when the executor must send the request now.
  bool ask_withdraw() noexcept {
    std::lock_guard lk(m_);
    if (status_.load(std::memory_order_relaxed) != status::running || !withdrawable_.load(std::memory_order_relaxed) ||
        !sink_ || withdraw_asked_)
      return false;
    withdraw_asked_ = true;
    return true;
  }

  /// pending -> running, as concurrent.futures' set_running_or_notify_cancel: false when the
  /// future was cancelled, and the executor must then drop the task.
  /// `sink`, `id`, `where`: whom to tell of a later stop request (null: the flag is enough).
  /// `withdrawable`: the task only waits at `where` and cancel() may still ask it back there.
  bool set_running(stop_sink* sink = nullptr, std::uint64_t id = 0, int where = 0, bool withdrawable = false) {
    std::lock_guard lk(m_);
    auto s = status_.load(std::memory_order_relaxed);
    if (s == status::cancelled) return false;
    if (s == status::pending) status_.store(status::running, std::memory_order_release);
    sink_ = sink;
    stop_id_ = id;
    stop_where_ = where;
    withdraw_asked_ = false;
    withdrawable_.store(withdrawable && sink, std::memory_order_release);
    return true;
  }

  /// The executor got the task back unstarted. True when the executor must drop it: a cancel()
  /// asked for it (the future is now cancelled) or the future is already done (the pool broke
  /// meanwhile). Otherwise it is pending again, for the executor to send elsewhere (false).
  bool withdrawn() {
    std::unique_lock lk(m_);
    if (is_done_locked()) return true;
    if (withdraw_asked_) {
      status_.store(status::cancelled, std::memory_order_release);
      complete_locked(lk, false);
      return true;
    }
    status_.store(status::pending, std::memory_order_release);
    sink_ = nullptr;
    withdrawable_.store(false, std::memory_order_release);
    return false;
  }

  /// running -> pending, for a task that failed and runs again (executor_options::retries).
  /// False when the future is done (cancelled meanwhile) or a stop was requested: the failure is
  /// then final.
  bool again() {
    std::lock_guard lk(m_);
    if (status_.load(std::memory_order_relaxed) != status::running || stop_.load(std::memory_order_relaxed))
      return false;
    status_.store(status::pending, std::memory_order_release);
    sink_ = nullptr;
    withdraw_asked_ = false;
    withdrawable_.store(false, std::memory_order_release);
    return true;
  }
  /// The task has started where it was sent: a waiting cancel() returns false, later ones at once.
  void refuse_withdraw() {
    {
      std::lock_guard lk(m_);
      withdraw_asked_ = false;
      withdrawable_.store(false, std::memory_order_release);
    }
    wake_sleepers();
  }

  /// Asks the task to stop: a pending task is cancelled; a running one sees stop_requested()
  /// turn true (its executor is told through the stop hook). False when already done.
  bool request_stop() {
    {
      std::unique_lock lk(m_);
      auto s = status_.load(std::memory_order_relaxed);
      if (s == status::pending) {
        status_.store(status::cancelled, std::memory_order_release);
        complete_locked(lk, false);
        return true;
      }
      if (s != status::running) return false;
      stop_.store(true, std::memory_order_release);
      // Under the lock: the sink lives until every task it ran is done, and a done state has
      // dropped it, so it cannot vanish in between.
      if (sink_) sink_->request_stop(stop_id_, stop_where_);
    }
    return true;
  }

  /// The flag a local task reads through stop_requested().
  const std::atomic<bool>& stop_flag() const noexcept { return stop_; }

  /// Finishes with an exception. Ignored when already done (e.g. cancelled meanwhile).
  void set_exception(std::exception_ptr e) {
    std::unique_lock lk(m_);
    if (is_done_locked()) return;
    exception_ = std::move(e);
    status_.store(status::finished, std::memory_order_release);
    complete_locked(lk, true);
  }

  /// Blocks until done. Spins briefly first: a result that is microseconds away should not pay
  /// a sleep and a wake-up.
  void wait() {
    if (spin_briefly()) return;
    lend_guard lent;  // a task's thread lets another run tasks meanwhile
    if (drive_until({&done_test, this}, std::chrono::steady_clock::time_point::max())) return;
    if (spin_yielding()) return;
    auto& b = bucket_of(this);
    std::unique_lock lk(b.m);
    sleepers_.fetch_add(1);
    b.cv.wait(lk, [&] { return done(); });
    sleepers_.fetch_sub(1);
  }

  /// Blocks until done or the time runs out; true when done.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> d) {
    if (spin_briefly()) return true;
    const auto deadline = deadline_after(d);
    lend_guard lent;
    if (drive_until({&done_test, this}, deadline)) return true;
    if (spin_yielding()) return true;
    auto& b = bucket_of(this);
    std::unique_lock lk(b.m);
    sleepers_.fetch_add(1);
    bool ok = b.cv.wait_until(lk, deadline, [&] { return done(); });
    sleepers_.fetch_sub(1);
    return ok;
  }

  std::exception_ptr exception_unsafe() const noexcept { return exception_; }

  /// Keeps what the task wrote to stdout and stderr (executor_options::capture_output); set by
  /// the executor before the state completes, and again by a retried attempt.
  void set_output(std::string text) {
    std::lock_guard lk(m_);
    if (text.empty()) {
      output_.reset();
    } else {
      output_ = std::make_unique<std::string>(std::move(text));
    }
  }
  /// The captured output, empty when there is none (capture off, nothing written, a local task).
  std::string output() const {
    std::lock_guard lk(m_);
    return output_ ? *output_ : std::string();
  }

  /// Registers a waiter; returns true (and does not register) when already done.
  bool add_waiter(multi_waiter* w) {
    std::lock_guard lk(m_);
    if (is_done_locked()) return true;
    waiters_.push_back(w);
    return false;
  }
  void remove_waiter(multi_waiter* w) {
    std::lock_guard lk(m_);
    std::erase(waiters_, w);
  }
  bool failed() const noexcept { return get_status() == status::finished && exception_ != nullptr; }

 protected:
  bool is_done_locked() const noexcept {
    auto s = status_.load(std::memory_order_relaxed);
    return s == status::finished || s == status::cancelled;
  }

  /// Called with the lock held right after the state became done: wakes waiters, then runs the
  /// callbacks without the lock (a callback may inspect or wait on this very future).
  void complete_locked(std::unique_lock<std::mutex>& lk, bool failed) {
    sink_ = nullptr;  // nothing left to stop
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (auto* w : waiters) w->notify(this, failed);
    wake_sleepers();  // the status is stored
    lk.unlock();
    run_callbacks();
    callbacks_done_.store(true, std::memory_order_release);
  }

 public:
  /// True once the done callbacks registered before completion have returned (a callback may
  /// still be reading the value until then).
  bool callbacks_done() const noexcept { return callbacks_done_.load(std::memory_order_acquire); }

 protected:
  virtual void run_callbacks() = 0;

  // Wakes the threads asleep on this state. Whatever they wait for is stored before the call; a
  // sleeper counted after this fence sees it before it sleeps, and one counted before it is
  // woken here (under the bucket's lock, so the wake-up is not lost).
  void wake_sleepers() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleepers_.load() > 0) {
      auto& b = bucket_of(this);
      { std::lock_guard bl(b.m); }
      b.cv.notify_all();
    }
  }

  // A short busy phase: a result already on its way is picked up without more ado. Then the
  // waiter runs its pool's loop itself when it can (drive.hpp), and only then spins or sleeps.
  bool spin_briefly() const noexcept {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    return done();
  }
  static bool done_test(const void* self) noexcept { return static_cast<const state_base*>(self)->done(); }
  // A cancel() of a task sent ahead may return: the task is done (cancelled, or finished
  // meanwhile) or the worker said it started.
  static bool withdraw_settled(const void* self) noexcept {
    const auto* s = static_cast<const state_base*>(self);
    return s->done() || !s->withdrawable_.load(std::memory_order_acquire);
  }

  // With cores to spare, yielding for up to ~50 µs: a result that is microseconds away is picked
  // up without a sleep and a wake-up. On a machine with few cores the waiting thread would
  // compete with the threads that produce the result (the progress thread, the workers): there
  // it goes to sleep at once, measured 25% faster per round trip on 2 cores.
  bool spin_yielding() const noexcept {
    static const bool spare_cores = std::thread::hardware_concurrency() >= 4;
    if (!spare_cores || !spin_allowed()) return done();
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
    do {
      if (done()) return true;
      std::this_thread::yield();
    } while (std::chrono::steady_clock::now() < until);
    return done();
  }

  mutable std::mutex m_;
  std::atomic<status> status_{status::pending};
  std::atomic<std::uint16_t> sleepers_{0};
  std::atomic<bool> callbacks_done_{false};  // threads asleep in wait()/wait_for() on this state
  std::exception_ptr exception_;
  std::vector<multi_waiter*> waiters_;
  std::atomic<bool> stop_{false};
  stop_sink* sink_ = nullptr;
  std::uint64_t stop_id_ = 0;
  int stop_where_ = 0;
  std::atomic<bool> withdrawable_{false};  // sent ahead, maybe unstarted: cancel() may ask it back
  bool withdraw_asked_ = false;            // a cancel() asked for it and waits for the answer
  std::unique_ptr<std::string> output_;    // captured output: a pointer, so a state without any stays small
};

template <class T>
class shared_state;

}  // namespace rankpool::detail
