#pragma once
/// \file compose.hpp
/// Futures built from futures, without a waiting thread: future<T>::then (declared in
/// future.hpp), when_all, when_any, and `co_await f` in a C++20 coroutine. Each one is a done
/// callback on its inputs, so it runs on the thread that completes the last input it needs (an
/// MPI executor's progress thread, a thread_executor's worker, or the caller when the inputs
/// are done already). Such code must not wait on futures of the executor whose thread runs it.
///
///     auto both = rankpool::when_all(pool.submit(square, 4), pool.submit(half, 3));
///     auto [sq, h] = both.result();                      // std::tuple<int, double>
///     auto first = rankpool::when_any(fs).result();      // index of a done future in fs

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <optional>
#include <rankpool/detail/compose.hpp>
#include <rankpool/errors.hpp>
#include <rankpool/future.hpp>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

namespace rankpool {

/// A future of all the inputs' values, as a std::tuple in argument order (a future<void> input
/// gives std::monostate). It fails with the exception of the first input to fail, as soon as
/// that input fails, and is cancelled as soon as an input is cancelled; the other inputs run
/// on. With no inputs it is done at once with an empty tuple. Throws invalid_state_error when an
/// input is not valid.
///
///     future<std::tuple<int, double>> both = rankpool::when_all(pool.submit(square, 4), pool.submit(half, 3));
template <class... T>
future<std::tuple<detail::map_value_t<T>...>> when_all(const future<T>&... fs) {
  using result = std::tuple<detail::map_value_t<T>...>;
  using slots = std::tuple<std::optional<detail::map_value_t<T>>...>;
  if (!(fs.valid() && ... && true)) throw invalid_state_error("rankpool::when_all: invalid future");
  if constexpr (sizeof...(T) == 0) {
    return make_ready_future<result>();
  } else {
    auto j = std::make_shared<detail::join<result, slots>>(sizeof...(T), slots{});
    auto out = future<result>(j->out);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (detail::on_done(fs,
                       [j](const auto& in) {
                         j->arrive(in, [&](auto&& v) { std::get<I>(j->slots).emplace(std::forward<decltype(v)>(v)); });
                       }),
       ...);
    }
    (std::index_sequence_for<T...>{});
    return out;
  }
}

/// A future of the values of `fs`, in order (std::monostate for future<void>), with the
/// failures and cancellations of the variadic when_all. An empty `fs` gives an empty vector at
/// once. A future given twice is counted twice. Throws invalid_state_error when an input is not
/// valid.
template <class T>
future<std::vector<detail::map_value_t<T>>> when_all(const std::vector<future<T>>& fs) {
  using value = detail::map_value_t<T>;
  using slots = std::vector<std::optional<value>>;
  detail::check_inputs(fs, "when_all");
  if (fs.empty()) return make_ready_future<std::vector<value>>();
  auto j = std::make_shared<detail::join<std::vector<value>, slots>>(fs.size(), slots(fs.size()));
  auto out = future<std::vector<value>>(j->out);
  for (std::size_t i = 0; i < fs.size(); ++i)
    detail::on_done(
        fs[i], [j, i](const future<T>& in) { j->arrive(in, [&](value&& v) { j->slots[i].emplace(std::move(v)); }); });
  return out;
}

/// A future of the index of the first input of `fs` to be done, as wait(first_completed) sees
/// done: finished or cancelled (a cancelled input gives its index, it does not cancel the
/// result). When that first input failed, the result fails with its exception instead. Inputs
/// done already count in their order (the lowest such index). Throws std::invalid_argument for
/// an empty `fs` (it could never complete) and invalid_state_error when an input is not valid.
template <class T>
future<std::size_t> when_any(const std::vector<future<T>>& fs) {
  if (fs.empty()) throw std::invalid_argument("rankpool::when_any: no futures");
  detail::check_inputs(fs, "when_any");
  auto out = std::make_shared<detail::shared_state<std::size_t>>();
  for (std::size_t i = 0; i < fs.size() && !out->done(); ++i) {
    detail::on_done(fs[i], [out, i](const future<T>& in) {
      if (auto e = in.state()->exception_unsafe(); e && !in.cancelled()) {
        out->set_exception(std::move(e));
      } else {
        out->set_value(i);
      }
    });
  }
  return future<std::size_t>(std::move(out));
}

/// Resumes a coroutine on the thread that completed the awaited future (the default of `co_await f`).
struct resume_inline {
  /// Resumes `h` now, on this thread.
  void operator()(std::coroutine_handle<> h) const { h.resume(); }
};

/// What `co_await f` and `co_await rankpool::via(f, resumer)` wait with: the coroutine suspends
/// until `f` is done, without blocking a thread, and `resumer(handle)` resumes it on the thread
/// that completes `f`. A future done already does not suspend: the coroutine goes on at once on
/// its own thread. The co_await expression gives `f`'s value, or throws what result() throws.
template <class T, class Resumer = resume_inline>
class future_awaiter {
 public:
  /// Waits for `f`; `resumer` (copied) is called with the coroutine's handle.
  future_awaiter(future<T> f, Resumer resumer) : f_(std::move(f)), resumer_(std::move(resumer)) {}

  /// True when `f` is done (no suspension).
  bool await_ready() const { return f_.done(); }

  /// Suspends unless `f` completed while its callback was being registered. The callback and
  /// this function race for `claimed_`: the second to arrive resumes the coroutine (the callback
  /// through the resumer, or this function by returning false), so it is resumed exactly once
  /// and never before it is suspended.
  bool await_suspend(std::coroutine_handle<> h) {
    f_.add_done_callback([this, h, r = resumer_](const future<T>&) {
      if (claimed_.exchange(true)) r(h);  // nothing of *this is used after the resume
    });
    return !claimed_.exchange(true);
  }

  /// `f`'s value, or its exception (cancelled_error when it was cancelled).
  T await_resume() const { return f_.result(); }

 private:
  future<T> f_;
  Resumer resumer_;
  std::atomic<bool> claimed_{false};
};

/// `co_await f` in a C++20 coroutine: suspends until `f` is done and resumes on the thread that
/// completes it (see future_awaiter); gives the value or rethrows. Throws invalid_state_error on
/// an invalid future.
///
///     my_task fetch(rankpool::comm_executor& pool) { int v = co_await pool.submit(square, 3); ... }
template <class T>
future_awaiter<T> operator co_await(const future<T>& f) {
  if (!f.valid()) throw invalid_state_error("rankpool: co_await on an invalid future");
  return future_awaiter<T>(f, resume_inline{});
}

/// `co_await rankpool::via(f, resumer)`: as `co_await f`, but the completing thread calls
/// `resumer(std::coroutine_handle<>)` instead of resuming the coroutine itself, e.g. to post it to
/// an event loop so it goes on away from the executor's thread.
template <class T, class Resumer>
future_awaiter<T, std::decay_t<Resumer>> via(const future<T>& f, Resumer&& resumer) {
  if (!f.valid()) throw invalid_state_error("rankpool: co_await on an invalid future");
  return future_awaiter<T, std::decay_t<Resumer>>(f, std::forward<Resumer>(resumer));
}

}  // namespace rankpool
