#pragma once
// Futures as task arguments: `pool.submit(g, f1, f2, 3)` runs g(f1's value, f2's value, 3)
// once f1 and f2 are done. The waiting task is a done callback on each input (detail/compose.hpp's
// machinery), so no thread waits; the last input to finish hands the task, with the values, to
// the executor from the thread that completed it (the root's progress thread, a thread
// executor's worker, or the caller when every input was done already). Until then the task
// holds its callable and arguments and nothing else, so the root's memory grows with the tasks
// waiting, not with the graph ever submitted. The executor keeps a dependency_board of them,
// for shutdown: wait for them, or cancel them.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <rankpool/detail/compose.hpp>
#include <rankpool/detail/state.hpp>
#include <rankpool/detail/task.hpp>
#include <rankpool/errors.hpp>
#include <rankpool/future.hpp>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rankpool::detail {

/// The argument a task receives for an argument `A` given to submit: a future's value type for
/// a future (a dependency), else the decayed type itself.
template <class A>
struct arg_of {
  using type = A;
  static constexpr bool dependency = false;
};
template <class T>
struct arg_of<future<T>> {
  static_assert(!std::is_void_v<T>,
                "rankpool: a future<void> has no value to pass as an argument; order tasks on it with "
                "f.then(...) or when_all instead");
  using type = T;
  static constexpr bool dependency = true;
};
/// What the task receives for the submit argument `A`.
template <class A>
using arg_t = typename arg_of<std::decay_t<A>>::type;
/// True when some argument is a future, so the task waits for it.
template <class... A>
inline constexpr bool any_dependency = (arg_of<std::decay_t<A>>::dependency || ...);

/// The value a waiting task passes on for argument `a`: a copy of a future's value (other
/// callbacks may read it too), else `a` itself, moved.
template <class A>
decltype(auto) take_arg(A& a) {
  if constexpr (arg_of<A>::dependency) {
    return *a.state()->value_unsafe();
  } else {
    return std::move(a);
  }
}

/// The tasks of one executor that wait for their input futures, for shutdown: shutdown(wait)
/// lets them start first (their inputs are the pool's own tasks, as a rule), and
/// shutdown(cancel_futures) cancels them. A task being handed to the executor counts until the
/// hand-over is over, so the executor is never destroyed under it. Thread-safe.
class dependency_board {
 public:
  /// Registers the result state of a waiting task; returns its ticket.
  std::uint64_t add(std::weak_ptr<state_base> s) {
    std::lock_guard lk(m_);
    const auto id = next_++;
    waiting_.emplace(id, std::move(s));
    return id;
  }
  /// The task with `ticket` has its inputs: true when it may be handed over now (then call
  /// end_launch() after), false when shutdown cancelled it meanwhile.
  bool begin_launch(std::uint64_t ticket) {
    std::lock_guard lk(m_);
    if (waiting_.erase(ticket) == 0) return false;
    ++launching_;
    return true;
  }
  /// The hand-over begun by begin_launch() is over.
  void end_launch() {
    {
      std::lock_guard lk(m_);
      --launching_;
    }
    cv_.notify_all();
  }
  /// The task with `ticket` failed or was cancelled before its hand-over: it waits no more.
  void drop(std::uint64_t ticket) {
    {
      std::lock_guard lk(m_);
      if (waiting_.erase(ticket) == 0) return;
    }
    cv_.notify_all();
  }
  /// Blocks until no task waits or is being handed over (each starts, fails or is cancelled as
  /// its inputs finish).
  void wait_empty() {
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return waiting_.empty() && launching_ == 0; });
  }
  /// Cancels every waiting task (shutdown with cancel_futures) and waits for the hand-overs in
  /// progress. The cancelled tasks' input callbacks later find them off the board.
  void cancel_all() {
    std::vector<std::shared_ptr<state_base>> states;
    {
      std::lock_guard lk(m_);
      for (auto& [id, w] : waiting_)
        if (auto s = w.lock()) states.push_back(std::move(s));
      waiting_.clear();
    }
    for (auto& s : states) s->cancel();  // outside the lock: cancel runs the futures' callbacks
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return launching_ == 0; });
  }
  /// The executor was shut down: it takes no new waiting tasks.
  void close() noexcept { closed_.store(true, std::memory_order_release); }
  /// True after close().
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::unordered_map<std::uint64_t, std::weak_ptr<state_base>> waiting_;
  std::size_t launching_ = 0;
  std::uint64_t next_ = 0;
  std::atomic<bool> closed_{false};
};

/// One task waiting for the futures among its arguments. `Args` are the decayed submit
/// arguments, futures included; `launch(state, fn, values...)` hands the task to the executor
/// once every future has a value. An input that failed fails the task with its exception, a
/// cancelled one cancels it, and a task cancelled by its user while it waits never starts.
template <class R, class Fn, class Launch, class... Args>
class waiting_call : public std::enable_shared_from_this<waiting_call<R, Fn, Launch, Args...>> {
 public:
  waiting_call(std::shared_ptr<shared_state<R>> out, Fn fn, std::tuple<Args...> args, Launch launch,
               std::shared_ptr<dependency_board> board)
      : out_(std::move(out)),
        fn_(std::move(fn)),
        args_(std::move(args)),
        launch_(std::move(launch)),
        board_(std::move(board)),
        left_((arg_of<Args>::dependency + ...)) {
    ticket_ = board_->add(out_);
  }

  /// Registers a done callback on every input future. Call once, right after construction.
  void watch() {
    auto self = this->shared_from_this();
    std::apply(
        [&](auto&... a) {
          (
              [&](auto& one) {
                if constexpr (arg_of<std::decay_t<decltype(one)>>::dependency)
                  on_done(one, [self](const auto& in) { self->arrive(in); });
              }(a),
              ...);
        },
        args_);
  }

 private:
  template <class T>
  void arrive(const future<T>& in) noexcept {
    if (pass_failure(in, *out_)) {
      board_->drop(ticket_);
      return;
    }
    // acq_rel: the last arrival sees every other input's value stored.
    if (left_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (!board_->begin_launch(ticket_)) return;  // cancelled by shutdown
    try {
      if (!out_->done()) std::apply([&](auto&... a) { launch_(out_, std::move(fn_), take_arg(a)...); }, args_);
    } catch (...) {
      out_->set_exception(std::current_exception());  // e.g. the executor was shut down meanwhile
    }
    board_->end_launch();
  }

  std::shared_ptr<shared_state<R>> out_;
  Fn fn_;
  std::tuple<Args...> args_;
  Launch launch_;
  std::shared_ptr<dependency_board> board_;
  std::atomic<std::size_t> left_;
  std::uint64_t ticket_ = 0;
};

/// One chunk of a map whose elements are futures. Once every element is done, the chunk runs
/// over the elements' values through `launch(state, values)`. An element that failed (or was
/// cancelled) keeps its exception (cancelled_error) at its own position, as an element whose call
/// threw would, and the chunk runs over the others.
template <class R, class U, class Launch>
class waiting_chunk : public std::enable_shared_from_this<waiting_chunk<R, U, Launch>> {
 public:
  using chunk_t = std::vector<outcome<R>>;

  waiting_chunk(std::shared_ptr<shared_state<chunk_t>> out, std::vector<future<U>> inputs, Launch launch,
                std::shared_ptr<dependency_board> board)
      : out_(std::move(out)),
        inputs_(std::move(inputs)),
        launch_(std::move(launch)),
        board_(std::move(board)),
        left_(inputs_.size()) {
    ticket_ = board_->add(out_);
  }

  /// Registers a done callback on every element. Call once, right after construction.
  void watch() {
    auto self = this->shared_from_this();
    for (const auto& in : inputs_) on_done(in, [self](const future<U>&) { self->arrive(); });
  }

 private:
  void arrive() noexcept {
    if (left_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (!board_->begin_launch(ticket_)) return;  // cancelled by shutdown
    try {
      if (!out_->done()) start();
    } catch (...) {
      out_->set_exception(std::current_exception());
    }
    inputs_.clear();  // the values went into the task
    board_->end_launch();
  }

  void start() {
    std::vector<U> values;
    std::vector<std::exception_ptr> errors(inputs_.size());
    values.reserve(inputs_.size());
    bool failed = false;
    for (std::size_t i = 0; i < inputs_.size(); ++i) {
      const auto& st = *inputs_[i].state();
      if (inputs_[i].cancelled()) {
        errors[i] = std::make_exception_ptr(cancelled_error("rankpool: an input future of map was cancelled"));
      } else if (auto e = st.exception_unsafe()) {
        errors[i] = std::move(e);
      } else {
        values.push_back(*st.value_unsafe());
        continue;
      }
      failed = true;
    }
    if (!failed) return launch_(out_, std::move(values));
    if (values.empty()) return out_->set_value(merge(errors, nullptr));
    // Some elements failed: run the others as a chunk of their own, then put the failures back
    // in their places.
    auto inner = std::make_shared<shared_state<chunk_t>>();
    inner->add_callback([out = out_, errors = std::move(errors)](const future<chunk_t>& ran) {
      if (pass_failure(ran, *out)) return;
      out->set_value(merge(errors, &*ran.state()->value_unsafe()));
    });
    launch_(inner, std::move(values));
  }

  // The chunk's outcomes: each failed element's exception, the others from `ran` in order.
  static chunk_t merge(const std::vector<std::exception_ptr>& errors, const chunk_t* ran) {
    chunk_t c(errors.size());
    std::size_t j = 0;
    for (std::size_t i = 0; i < errors.size(); ++i) {
      if (errors[i])
        c[i].error = errors[i];
      else
        c[i] = (*ran)[j++];
    }
    return c;
  }

  std::shared_ptr<shared_state<chunk_t>> out_;
  std::vector<future<U>> inputs_;
  Launch launch_;
  std::shared_ptr<dependency_board> board_;
  std::atomic<std::size_t> left_;
  std::uint64_t ticket_ = 0;
};

}  // namespace rankpool::detail
