#pragma once
/// \file future.hpp
/// rankpool::future<T>: a copyable handle to the outcome of a task, as Python's
/// concurrent.futures.Future. Thread-safe: any thread may wait on, cancel, or add callbacks to it.

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <rankpool/detail/state.hpp>
#include <rankpool/errors.hpp>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace rankpool {

template <class T>
class future;

namespace detail {
/// The element type of map's results and of when_all's: R, or std::monostate when R is void.
template <class R>
using map_value_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

/// What future<T>::then(g) holds: the decayed result of `g(const T&)`, or of `g()` when T is void.
template <class T, class G, bool = std::is_void_v<T>>
struct then_result {
  using type = std::remove_cvref_t<std::invoke_result_t<G&, const T&>>;
};
template <class T, class G>
struct then_result<T, G, true> {
  using type = std::remove_cvref_t<std::invoke_result_t<G&>>;
};
template <class T, class G>
using then_result_t = typename then_result<T, std::decay_t<G>>::type;
}  // namespace detail

/// Replaces the handler of exceptions thrown by done callbacks (default: a line on stderr).
/// Passing an empty function restores the default. The handler must not throw.
void set_callback_error_handler(std::function<void(std::exception_ptr)> handler);

namespace detail {

template <class T>
class shared_state final : public state_base {
 public:
  using callback = std::function<void(const future<T>&)>;

  /// Finishes with a value. Ignored when already done.
  template <class... U>
  void set_value(U&&... v) {
    std::unique_lock lk(m_);
    if (is_done_locked()) return;
    if constexpr (!std::is_void_v<T>) value_.emplace(std::forward<U>(v)...);
    status_.store(status::finished, std::memory_order_release);
    complete_locked(lk, false);
  }

  void add_callback(callback fn) {
    {
      std::lock_guard lk(m_);
      if (!is_done_locked()) {
        callbacks_.push_back(std::move(fn));
        return;
      }
    }
    invoke_one(fn);
  }

  const auto& value_unsafe() const noexcept { return value_; }
  /// Moves the value out of a finished state whose only reader is the caller (map's chunks).
  auto& value_for_sole_reader() noexcept { return value_; }

 private:
  void run_callbacks() override {
    std::vector<callback> cbs;
    {
      std::lock_guard lk(m_);
      cbs.swap(callbacks_);
    }
    for (auto& fn : cbs) invoke_one(fn);
  }

  void invoke_one(const callback& fn) noexcept;

  struct empty {};
  std::conditional_t<std::is_void_v<T>, empty, std::optional<T>> value_;
  std::vector<callback> callbacks_;
};

}  // namespace detail

/// The outcome of a task: a value of type T, an exception, or cancellation.
/// Copies share one state, as Python future objects do.
template <class T>
class future {
 public:
  /// The type `result()` returns.
  using value_type = T;

  /// An invalid future (no state); `valid()` is false and every other call throws invalid_state_error.
  future() = default;
  /// Wraps a shared state (used by executors).
  explicit future(std::shared_ptr<detail::shared_state<T>> s) : state_(std::move(s)) {}

  /// Waits, then returns the value or rethrows the task's exception; throws cancelled_error if
  /// the task was cancelled. May be called repeatedly (each call returns a copy).
  T result() const {
    check();
    state_->wait();
    return get();
  }

  /// As result(), but throws timeout_error when `timeout` runs out first.
  template <class Rep, class Period>
  T result(std::chrono::duration<Rep, Period> timeout) const {
    check();
    if (!state_->wait_for(timeout)) throw timeout_error("rankpool: future::result timed out");
    return get();
  }

  /// Waits, then returns the task's exception, or nullptr when it succeeded; throws
  /// cancelled_error if it was cancelled.
  std::exception_ptr exception() const {
    check();
    state_->wait();
    return get_exception();
  }

  /// As exception(), but throws timeout_error when `timeout` runs out first.
  template <class Rep, class Period>
  std::exception_ptr exception(std::chrono::duration<Rep, Period> timeout) const {
    check();
    if (!state_->wait_for(timeout)) throw timeout_error("rankpool: future::exception timed out");
    return get_exception();
  }

  /// Waits, then returns what the task wrote to stdout and stderr when the executor captures
  /// output (executor_options::capture_output); otherwise, and for a cancelled task, an empty
  /// string. Both streams go to one place in the order they reach their file descriptors (C
  /// stdio holds stdout back until it flushes, at the latest when the task ends); printf,
  /// std::cout and child processes count. A failed task's exception message ends with it too.
  std::string output() const {
    check();
    state_->wait();
    return state_->output();
  }

  /// Blocks until the future is done (finished or cancelled), without throwing its exception.
  void wait() const {
    check();
    state_->wait();
  }

  /// True when the task finished (with a value or an exception) or was cancelled.
  bool done() const { return check(), state_->done(); }
  /// True while the task runs (it was handed to a worker and has not finished).
  bool running() const { return check(), state_->get_status() == detail::status::running; }
  /// True when the task was cancelled.
  bool cancelled() const { return check(), state_->get_status() == detail::status::cancelled; }
  /// Cancels the task if it has not started; true when it is (now or already) cancelled.
  bool cancel() const { return check(), state_->cancel(); }

  /// Asks the task to stop: cancels it if it has not started, otherwise the running task sees
  /// rankpool::stop_requested() turn true and may return early (cooperative: a task that never
  /// asks runs to its end). True when the request reached a pending or running task.
  bool request_stop() const { return check(), state_->request_stop(); }

  /// Calls `fn(*this)` once when the future is done, on the thread that completes it (at once,
  /// on this thread, when already done). An exception from `fn` goes to the callback error
  /// handler (see set_callback_error_handler); it never breaks the executor.
  void add_done_callback(std::function<void(const future<T>&)> fn) const {
    check();
    state_->add_callback(std::move(fn));
  }

  /// Returns the future of `g(value)` (`g()` for future<void>; a `g` returning void gives a
  /// future<void>), called once this future is done, on the thread that completes it: an MPI
  /// executor's progress thread, a thread_executor's worker, or this thread at once when it is
  /// done already. No thread waits for it. A failure passes to the result (the same exception)
  /// and a cancellation cancels it, without calling `g`; an exception from `g` fails the result.
  /// Cancelling the result does not cancel this future, only the call of `g`. `g` must not wait
  /// on futures of the executor whose thread runs it (that thread completes them). Throws
  /// invalid_state_error on an invalid future.
  ///
  ///     future<std::string> s = pool.submit(square, 3).then([](int v) { return std::to_string(v); });
  template <class G>
  future<detail::then_result_t<T, G>> then(G&& g) const;

  /// True when this future refers to a task.
  bool valid() const noexcept { return state_ != nullptr; }

  /// The shared state (for executors and wait functions).
  const std::shared_ptr<detail::shared_state<T>>& state() const noexcept { return state_; }

  /// Futures are equal when they share one state.
  friend bool operator==(const future& a, const future& b) noexcept { return a.state_ == b.state_; }

 private:
  void check() const {
    if (!state_) throw invalid_state_error("rankpool: operation on an invalid (default-constructed) future");
  }
  T get() const {
    if (state_->get_status() == detail::status::cancelled) throw cancelled_error("rankpool: the task was cancelled");
    if (auto e = state_->exception_unsafe()) std::rethrow_exception(e);
    if constexpr (!std::is_void_v<T>) return *state_->value_unsafe();
  }
  std::exception_ptr get_exception() const {
    if (state_->get_status() == detail::status::cancelled) throw cancelled_error("rankpool: the task was cancelled");
    return state_->exception_unsafe();
  }

  std::shared_ptr<detail::shared_state<T>> state_;
};

namespace detail {
template <class T>
void shared_state<T>::invoke_one(const callback& fn) noexcept {
  try {
    fn(future<T>(std::static_pointer_cast<shared_state<T>>(shared_from_this())));
  } catch (...) {
    report_callback_error(std::current_exception());
  }
}
}  // namespace detail

/// A future that is already done with `value` (handy in tests and adapters).
template <class T, class... U>
future<T> make_ready_future(U&&... value) {
  auto s = std::make_shared<detail::shared_state<T>>();
  s->set_value(std::forward<U>(value)...);
  return future<T>(std::move(s));
}

/// A future that is already done with exception `e`.
template <class T>
future<T> make_exceptional_future(std::exception_ptr e) {
  auto s = std::make_shared<detail::shared_state<T>>();
  s->set_exception(std::move(e));
  return future<T>(std::move(s));
}

}  // namespace rankpool

// then(), when_all, when_any, co_await: they need the complete future<T>.
#include <rankpool/compose.hpp>
