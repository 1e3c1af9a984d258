#pragma once
// The machinery of future<T>::then, when_all and when_any: each is a done callback on its
// inputs that completes a fresh shared state, so no thread waits and no one polls. A callback
// that completes a state runs that state's callbacks in turn; continuation_runner keeps a long
// chain of them from nesting one stack frame per link.

#include <atomic>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <rankpool/detail/state.hpp>
#include <rankpool/errors.hpp>
#include <rankpool/future.hpp>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace rankpool::detail {

/// Runs the continuations (then's `g`, a join's step) that complete composed futures. Completing
/// one runs its own callbacks on the same stack, so a chain of a million then() would recurse a
/// million deep; past `max_depth` nested continuations on one thread, the next ones are queued
/// and the outermost runs them once it is back, still on the completing thread. (So a `g` that
/// blocks on a composed future it just made itself may wait for a queued continuation: another
/// reason, besides the executor's thread, why continuations must not block.)
class continuation_runner {
 public:
  static constexpr int max_depth = 32;

  /// Runs `fn` now, or queued on this thread's outermost continuation when nested too deep.
  /// `fn` must not throw.
  template <class Fn>
  static void run(Fn&& fn) {
    auto& self = local();
    if (self.depth_ >= max_depth) {
      self.queued_.emplace_back(std::forward<Fn>(fn));
      return;
    }
    ++self.depth_;
    fn();
    if (self.depth_ == 1) self.drain();
    --self.depth_;
  }

 private:
  static continuation_runner& local() noexcept {
    static thread_local continuation_runner runner;
    return runner;
  }
  // At depth 1: each queued continuation may nest up to max_depth again, then queue more.
  void drain() {
    while (!queued_.empty()) {
      auto fn = std::move(queued_.front());
      queued_.pop_front();
      fn();
    }
  }

  int depth_ = 0;
  std::deque<std::function<void()>> queued_;
};

/// True when `out` needs no value from `in`: `in` failed (`out` fails with the same exception),
/// was cancelled (`out` is cancelled), or `out` is already done (cancelled by its user).
template <class T>
bool pass_failure(const future<T>& in, state_base& out) {
  if (out.done()) return true;
  if (in.cancelled()) {
    out.cancel();
    return true;
  }
  if (auto e = in.state()->exception_unsafe()) {
    out.set_exception(std::move(e));
    return true;
  }
  return false;
}

/// The value of a future that finished with one: a copy (other callbacks may read it too), or
/// std::monostate for future<void>.
template <class T>
map_value_t<T> value_of(const future<T>& in) {
  if constexpr (std::is_void_v<T>) {
    return {};
  } else {
    return *in.state()->value_unsafe();
  }
}

/// then's continuation: `out` gets `g(value)` (`g()`), or what pass_failure gives it.
template <class T, class U, class G>
void continue_with(const future<T>& in, shared_state<U>& out, G& g) noexcept {
  if (pass_failure(in, out)) return;
  try {
    if constexpr (std::is_void_v<T> && std::is_void_v<U>) {
      std::invoke(g);
      out.set_value();
    } else if constexpr (std::is_void_v<T>) {
      out.set_value(std::invoke(g));
    } else if constexpr (std::is_void_v<U>) {
      std::invoke(g, *in.state()->value_unsafe());
      out.set_value();
    } else {
      out.set_value(std::invoke(g, *in.state()->value_unsafe()));
    }
  } catch (...) {
    out.set_exception(std::current_exception());
  }
}

/// when_all's shared part: one slot per input, filled as inputs finish; the last one to arrive
/// completes `out`. `Slots` is a std::tuple of optionals (variadic when_all) or a std::vector of
/// them.
template <class Result, class Slots>
struct join {
  join(std::size_t n, Slots s) : slots(std::move(s)), left(n), out(std::make_shared<shared_state<Result>>()) {}

  /// Input `i` is done: a failure or a cancellation completes `out` at once; a value goes to its
  /// slot by `store`, and the last value completes `out`.
  template <class T, class Store>
  void arrive(const future<T>& in, Store&& store) noexcept {
    if (pass_failure(in, *out)) return;
    try {
      store(value_of(in));
      // acq_rel: the last arrival sees every other input's slot filled.
      if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) out->set_value(collect());
    } catch (...) {
      out->set_exception(std::current_exception());
    }
  }

  Result collect() {
    if constexpr (requires { slots.size(); }) {
      Result r;
      r.reserve(slots.size());
      for (auto& s : slots) r.push_back(std::move(*s));
      return r;
    } else {
      return std::apply([](auto&... s) { return Result(std::move(*s)...); }, slots);
    }
  }

  Slots slots;
  std::atomic<std::size_t> left;
  std::shared_ptr<shared_state<Result>> out;
};

/// Registers `step(in)` as `in`'s done callback, run through continuation_runner.
template <class T, class Step>
void on_done(const future<T>& in, Step step) {
  in.add_done_callback(
      [step = std::move(step)](const future<T>& done) { continuation_runner::run([step, done] { step(done); }); });
}

/// Throws invalid_state_error when some input is not valid, before any callback is registered
/// (a half-registered join would complete late or never).
template <class T>
void check_inputs(const std::vector<future<T>>& fs, const char* who) {
  for (const auto& f : fs)
    if (!f.valid()) throw invalid_state_error(std::string("rankpool::") + who + ": invalid future");
}

}  // namespace rankpool::detail

namespace rankpool {

template <class T>
template <class G>
future<detail::then_result_t<T, G>> future<T>::then(G&& g) const {
  using U = detail::then_result_t<T, G>;
  check();
  auto out = std::make_shared<detail::shared_state<U>>();
  // Shared, so a move-only `g` still fits the copyable std::function of a done callback.
  auto fn = std::make_shared<std::decay_t<G>>(std::forward<G>(g));
  detail::on_done(*this, [out, fn](const future<T>& in) { detail::continue_with(in, *out, *fn); });
  return future<U>(std::move(out));
}

}  // namespace rankpool
