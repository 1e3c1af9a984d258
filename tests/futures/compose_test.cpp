// Futures built from futures (compose.hpp): then, when_all, when_any, starmap and co_await,
// first on a thread_executor (deterministic with gates), then on a comm_executor, where the
// continuations run on the root's progress thread. Both parts run under mpirun (compose_test),
// and so once per rank count; one compiled file rather than two builds of it.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <rankpool/comm_executor.hpp>
#include <rankpool/compose.hpp>
#include <rankpool/errors.hpp>
#include <rankpool/future.hpp>
#include <rankpool/thread_executor.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "support/gate.hpp"
#include "support/world.hpp"

namespace {

using namespace std::chrono_literals;
using rankpool_test::gate;
using rankpool_test::open_at_exit;

constexpr auto kPatience = 20s;  // bound on every wait for something that must happen

/// A pending state and a future on it, completed by hand.
template <class T>
struct pending {
  std::shared_ptr<rankpool::detail::shared_state<T>> state = std::make_shared<rankpool::detail::shared_state<T>>();
  rankpool::future<T> fut{state};
};

/// Waits (bounded) until `done()` holds; false when the time ran out.
template <class Pred>
bool eventually(Pred done) {
  const auto end = std::chrono::steady_clock::now() + kPatience;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// ---- a tiny coroutine type: runs eagerly, keeps its value or exception ----------------------

struct coro {
  struct state {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    std::optional<int> value;
    std::exception_ptr error;
    std::thread::id finished_on;
  };
  struct promise_type {
    std::shared_ptr<state> s = std::make_shared<state>();
    coro get_return_object() { return coro{s}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void finish(std::optional<int> v, std::exception_ptr e) {
      {
        std::lock_guard lk(s->m);
        s->value = v;
        s->error = std::move(e);
        s->finished_on = std::this_thread::get_id();
        s->done = true;
      }
      s->cv.notify_all();
    }
    void return_value(int v) { finish(v, nullptr); }
    void unhandled_exception() { finish(std::nullopt, std::current_exception()); }
  };

  /// Waits (bounded) for the coroutine's end; its value, or rethrows; throws timeout_error.
  int get() const {
    std::unique_lock lk(s->m);
    if (!s->cv.wait_for(lk, kPatience, [&] { return s->done; })) throw rankpool::timeout_error("coroutine hung");
    if (s->error) std::rethrow_exception(s->error);
    return *s->value;
  }
  bool done() const {
    std::lock_guard lk(s->m);
    return s->done;
  }

  std::shared_ptr<state> s;
};

coro add_both(rankpool::future<int> a, rankpool::future<int> b) {
  int x = co_await a;
  int y = co_await b;
  co_return x + y;
}

coro after_void(rankpool::future<void> v, rankpool::future<int> a) {
  co_await v;
  co_return co_await a;
}

/// A resumer that hands the coroutine to a queue the test thread runs (an event loop's post).
struct loop {
  std::mutex m;
  std::deque<std::coroutine_handle<>> q;
  void post(std::coroutine_handle<> h) {
    std::lock_guard lk(m);
    q.push_back(h);
  }
  /// Resumes what was posted until `c` is done; false when that took too long.
  bool run_until(const coro& c) {
    return eventually([&] {
      std::coroutine_handle<> h;
      {
        std::lock_guard lk(m);
        if (!q.empty()) {
          h = q.front();
          q.pop_front();
        }
      }
      if (h) h.resume();
      return c.done();
    });
  }
};

coro via_loop(rankpool::future<int> a, loop* l) {
  int x = co_await rankpool::via(a, [l](std::coroutine_handle<> h) { l->post(h); });
  co_return x * 10;
}

// ---- then -------------------------------------------------------------------------------------

TEST(then, chains_values_and_void_both_ways) {
  rankpool::thread_executor pool(2);
  rankpool::future<int> sq = pool.submit([](int x) { return x * x; }, 3);
  rankpool::future<std::string> s = sq.then([](int v) { return std::to_string(v + 1); });
  rankpool::future<void> v = s.then([](const std::string& str) { EXPECT_EQ(str, "10"); });
  rankpool::future<int> five = v.then([] { return 5; });
  rankpool::future<void> vv = five.then([](int) {}).then([] {});
  EXPECT_EQ(s.result(kPatience), "10");
  EXPECT_EQ(five.result(kPatience), 5);
  vv.result(kPatience);
  EXPECT_TRUE(vv.done());
}

TEST(then, runs_on_the_completing_thread_and_no_thread_waits) {
  rankpool::thread_executor pool(1);
  gate g;
  open_at_exit guard(g);
  std::thread::id task_thread, then_thread;
  auto f = pool.submit([&] {
    g.wait();
    task_thread = std::this_thread::get_id();
    return 1;
  });
  auto t = f.then([&](int v) {
    then_thread = std::this_thread::get_id();
    return v + 1;
  });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(t.done()) << "the continuation ran before its input finished";
  g.open();
  EXPECT_EQ(t.result(kPatience), 2);
  EXPECT_EQ(then_thread, task_thread);
  // A future done already: g runs at once, on this thread.
  std::thread::id here;
  auto r = rankpool::make_ready_future<int>(7).then([&](int v) {
    here = std::this_thread::get_id();
    return v;
  });
  EXPECT_TRUE(r.done());
  EXPECT_EQ(here, std::this_thread::get_id());
}

TEST(then, a_failure_passes_on_without_calling_g) {
  rankpool::thread_executor pool(1);
  auto f = pool.submit([]() -> int { throw std::invalid_argument("bad input"); });
  std::atomic<int> calls{0};
  auto t = f.then([&](int v) { return ++calls + v; }).then([&](int v) {
    ++calls;
    return std::to_string(v);
  });
  EXPECT_THROW(t.result(kPatience), std::invalid_argument);
  EXPECT_EQ(t.exception(kPatience), f.exception(kPatience)) << "the same exception_ptr, not a copy";
  EXPECT_EQ(calls.load(), 0);
}

TEST(then, a_cancellation_cancels_the_result_without_calling_g) {
  rankpool::thread_executor pool(1);
  gate g;
  open_at_exit guard(g);
  auto blocker = pool.submit([&] { g.wait(); });
  auto queued = pool.submit([] { return 1; });
  std::atomic<int> calls{0};
  auto t = queued.then([&](int v) { return ++calls + v; }).then([&](int) { ++calls; });
  ASSERT_TRUE(queued.cancel());
  EXPECT_TRUE(t.cancelled());
  EXPECT_THROW(t.result(kPatience), rankpool::cancelled_error);
  g.open();
  blocker.result(kPatience);
  EXPECT_EQ(calls.load(), 0);
}

TEST(then, an_exception_from_g_fails_the_result) {
  rankpool::thread_executor pool(1);
  auto t = pool.submit([] { return 2; }).then([](int v) -> int {
    if (v == 2) throw std::out_of_range("two is out");
    return v;
  });
  try {
    t.result(kPatience);
    FAIL() << "no exception";
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "two is out");
  }
  // The exception of a void continuation too, and what follows it fails alike.
  auto v = t.then([](int) {});
  EXPECT_THROW(v.result(kPatience), std::out_of_range);
}

TEST(then, cancelling_the_result_skips_g_and_leaves_the_input) {
  pending<int> in;
  std::atomic<int> calls{0};
  auto t = in.fut.then([&](int v) { return ++calls + v; });
  EXPECT_TRUE(t.cancel());
  in.state->set_value(1);
  EXPECT_EQ(in.fut.result(), 1);
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(calls.load(), 0);
}

TEST(then, a_chain_of_a_hundred_thousand_links_completes_without_deep_recursion) {
  // Built before its input completes: completing it runs every link from one callback, which
  // would overflow the stack if each link nested in the previous one.
  constexpr int links = 100000;
  pending<int> in;
  rankpool::future<int> f = in.fut;
  for (int i = 0; i < links; ++i) f = f.then([](int v) { return v + 1; });
  pending<void> vin;
  rankpool::future<void> vf = vin.fut;
  for (int i = 0; i < links; ++i) vf = vf.then([] {});
  std::thread completer([&] {
    in.state->set_value(0);
    vin.state->set_value();
  });
  completer.join();
  EXPECT_EQ(f.result(kPatience), links);
  vf.result(kPatience);
}

TEST(then, a_move_only_g_and_an_invalid_future) {
  auto owned = std::make_unique<int>(41);
  auto t = rankpool::make_ready_future<int>(1).then([p = std::move(owned)](int v) { return *p + v; });
  EXPECT_EQ(t.result(kPatience), 42);
  EXPECT_THROW(rankpool::future<int>().then([](int v) { return v; }), rankpool::invalid_state_error);
}

// ---- when_all / when_any ------------------------------------------------------------------------

TEST(when_all, a_tuple_of_mixed_types_with_void_as_monostate) {
  rankpool::thread_executor pool(2);
  auto both = rankpool::when_all(pool.submit([] { return 4; }), pool.submit([] {}),
                                 pool.submit([] { return std::string("x"); }));
  static_assert(std::is_same_v<decltype(both), rankpool::future<std::tuple<int, std::monostate, std::string>>>);
  auto [i, m, s] = both.result(kPatience);
  EXPECT_EQ(i, 4);
  EXPECT_EQ(s, "x");
  (void)m;
  EXPECT_TRUE(rankpool::when_all().done());
}

TEST(when_all, fails_as_soon_as_one_input_fails) {
  rankpool::thread_executor pool(2);
  gate g;
  open_at_exit guard(g);
  auto slow = pool.submit([&] {
    g.wait();
    return 1;
  });
  auto bad = pool.submit([]() -> double { throw std::runtime_error("nope"); });
  auto all = rankpool::when_all(slow, bad);
  EXPECT_THROW(all.result(kPatience), std::runtime_error);  // while `slow` still waits
  EXPECT_FALSE(slow.done());
  EXPECT_EQ(all.exception(kPatience), bad.exception(kPatience));
  g.open();
  EXPECT_EQ(slow.result(kPatience), 1);
}

TEST(when_all, a_vector_in_input_order_and_its_failures) {
  rankpool::thread_executor pool(3);
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(pool.submit([](int x) { return x * 2; }, i));
  auto all = rankpool::when_all(fs).result(kPatience);
  ASSERT_EQ(all.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(all[static_cast<std::size_t>(i)], 2 * i);

  fs.push_back(pool.submit([]() -> int { throw std::length_error("too long"); }));
  EXPECT_THROW(rankpool::when_all(fs).result(kPatience), std::length_error);
  EXPECT_TRUE(rankpool::when_all(std::vector<rankpool::future<int>>{}).result(kPatience).empty());
  std::vector<rankpool::future<void>> vs{pool.submit([] {}), pool.submit([] {})};
  EXPECT_EQ(rankpool::when_all(vs).result(kPatience).size(), 2u);
  EXPECT_THROW(rankpool::when_all(std::vector<rankpool::future<int>>{rankpool::future<int>()}),
               rankpool::invalid_state_error);
}

TEST(when_all, a_cancelled_input_cancels_the_result) {
  pending<int> a, b;
  auto all = rankpool::when_all(std::vector{a.fut, b.fut});
  auto tup = rankpool::when_all(a.fut, b.fut);
  ASSERT_TRUE(b.fut.cancel());
  EXPECT_TRUE(all.cancelled());
  EXPECT_TRUE(tup.cancelled());
  a.state->set_value(1);
  EXPECT_THROW(all.result(kPatience), rankpool::cancelled_error);
}

TEST(when_all, completes_only_when_every_input_has_a_value) {
  pending<int> a, b;
  auto all = rankpool::when_all(a.fut, b.fut);
  b.state->set_value(2);
  EXPECT_FALSE(all.done());
  std::thread([&] { a.state->set_value(1); }).join();
  EXPECT_EQ(all.result(kPatience), std::make_tuple(1, 2));
}

TEST(when_any, the_index_of_the_first_done_input) {
  rankpool::thread_executor pool(2);
  gate g;
  open_at_exit guard(g);
  std::vector<rankpool::future<int>> fs{pool.submit([&] {
                                          g.wait();
                                          return 0;
                                        }),
                                        pool.submit([] { return 1; })};
  auto any = rankpool::when_any(fs);
  EXPECT_EQ(any.result(kPatience), 1u);
  EXPECT_FALSE(fs[0].done());
  g.open();
  EXPECT_EQ(fs[0].result(kPatience), 0);
  // Inputs done already: the lowest index.
  EXPECT_EQ(rankpool::when_any(fs).result(kPatience), 0u);
  EXPECT_THROW(rankpool::when_any(std::vector<rankpool::future<int>>{}), std::invalid_argument);
}

TEST(when_any, a_failed_first_input_fails_it_and_a_cancelled_one_counts_as_done) {
  pending<int> a, b, c;
  auto failing = rankpool::when_any(std::vector{a.fut, b.fut});
  auto cancelled = rankpool::when_any(std::vector{a.fut, c.fut});
  b.state->set_exception(std::make_exception_ptr(std::domain_error("b failed")));
  EXPECT_THROW(failing.result(kPatience), std::domain_error);
  EXPECT_FALSE(cancelled.done());
  ASSERT_TRUE(c.fut.cancel());
  EXPECT_EQ(cancelled.result(kPatience), 1u);
  a.state->set_value(1);  // later completions change nothing
  EXPECT_EQ(cancelled.result(kPatience), 1u);
}

// ---- starmap --------------------------------------------------------------------------------

TEST(starmap, ordered_results_in_chunks_and_an_exception_at_its_position) {
  rankpool::thread_executor pool(3);
  std::vector<std::tuple<int, int>> pairs;
  for (int i = 0; i < 40; ++i) pairs.emplace_back(i, 100 * i);
  std::vector<int> got = pool.starmap([](int a, int b) { return a + b; }, pairs, {.chunksize = 3}).to_vector();
  ASSERT_EQ(got.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], 101 * i);

  auto r = pool.starmap(
      [](int a, const std::string& s) {
        if (a == 2) throw std::invalid_argument("element 2");
        return s + std::to_string(a);
      },
      std::vector<std::pair<int, std::string>>{{0, "a"}, {1, "b"}, {2, "c"}, {3, "d"}}, {.chunksize = 2});
  std::vector<std::string> seen;
  try {
    for (const auto& s : r) seen.push_back(s);
    FAIL() << "the failing element did not throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "element 2");
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a0", "b1"}));
}

// ---- co_await -------------------------------------------------------------------------------

TEST(co_await, drives_three_coroutines_to_completion_on_the_completing_threads) {
  rankpool::thread_executor pool(2);
  gate g;
  open_at_exit guard(g);
  std::vector<coro> cs;
  for (int i = 0; i < 3; ++i) {
    auto a = pool.submit(
        [&g](int x) {
          g.wait();
          return x;
        },
        i);
    cs.push_back(add_both(a, pool.submit([](int x) { return 10 * x; }, i)));
  }
  for (const auto& c : cs) EXPECT_FALSE(c.done()) << "a coroutine went on before its future was done";
  g.open();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(cs[static_cast<std::size_t>(i)].get(), 11 * i);
  for (const auto& c : cs) EXPECT_NE(c.s->finished_on, std::this_thread::get_id());
}

TEST(co_await, rethrows_cancels_and_takes_ready_and_void_futures) {
  rankpool::thread_executor pool(1);
  auto failed = add_both(pool.submit([]() -> int { throw std::invalid_argument("inside"); }),
                         rankpool::make_ready_future<int>(1));
  EXPECT_THROW(failed.get(), std::invalid_argument);
  // Done already: no suspension, the value at once on this thread.
  auto ready = add_both(rankpool::make_ready_future<int>(1), rankpool::make_ready_future<int>(2));
  EXPECT_TRUE(ready.done());
  EXPECT_EQ(ready.get(), 3);
  EXPECT_EQ(ready.s->finished_on, std::this_thread::get_id());
  pending<int> p;
  auto cancelled = add_both(p.fut, rankpool::make_ready_future<int>(2));
  ASSERT_TRUE(p.fut.cancel());
  EXPECT_THROW(cancelled.get(), rankpool::cancelled_error);
  EXPECT_EQ(after_void(pool.submit([] {}), pool.submit([] { return 9; })).get(), 9);
}

TEST(co_await, via_hands_the_coroutine_to_the_resumer) {
  rankpool::thread_executor pool(1);
  loop l;
  auto c = via_loop(pool.submit([] { return 4; }), &l);
  ASSERT_TRUE(l.run_until(c));
  EXPECT_EQ(c.get(), 40);
  EXPECT_EQ(c.s->finished_on, std::this_thread::get_id()) << "the loop's thread resumes it, not the worker";
}

// ---- on MPI: the continuations run on the root's progress thread ---------------------------

int square(int x) {
  return x * x;
}
double half(int x) {
  return x / 2.0;
}
int add(int a, int b) {
  return a + b;
}
int nap(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
void nothing() {}
int refuse(int x) {
  if (x == 7) throw std::invalid_argument("seven refused");
  return x;
}
int checked_add(int a, int b) {
  if (a == 5) throw std::out_of_range("a is five");
  return a + b;
}

TEST(mpi_compose, then_runs_g_once_f_completes_and_passes_failures) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  // g runs where f completes: the progress thread, or the thread that waits on the result and
  // runs the pool's loop meanwhile (detail/drive.hpp); never inside then() while f is pending.
  std::atomic<bool> chained{false}, early{false};
  auto f = pool.submit(nap, 300);
  auto t = f.then([&](int v) {
              early = !chained.load();
              return v + 1;
            }).then([](int v) { return std::to_string(v); });
  chained = true;
  EXPECT_FALSE(t.done());
  EXPECT_EQ(t.result(kPatience), "301");
  EXPECT_FALSE(early.load()) << "g ran inside then(), before f completed";
  EXPECT_EQ(pool.submit(nothing).then([] { return 5; }).then([](int) {}).then([] { return 6; }).result(kPatience), 6);

  std::atomic<int> calls{0};
  auto failed = pool.submit(refuse, 7).then([&](int v) { return ++calls + v; });
  EXPECT_THROW(failed.result(kPatience), std::invalid_argument);
  EXPECT_EQ(calls.load(), 0);
  auto thrown = pool.submit(square, 3).then([](int v) -> int { throw std::runtime_error(std::to_string(v)); });
  EXPECT_THROW(thrown.result(kPatience), std::runtime_error);
}

TEST(mpi_compose, when_all_and_when_any) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  auto both = rankpool::when_all(pool.submit(square, 4), pool.submit(half, 3), pool.submit(nothing));
  auto [sq, h, m] = both.result(kPatience);
  EXPECT_EQ(sq, 16);
  EXPECT_DOUBLE_EQ(h, 1.5);
  (void)m;

  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 30; ++i) fs.push_back(pool.submit(square, i));
  auto all = rankpool::when_all(fs).result(kPatience);
  ASSERT_EQ(all.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(all[static_cast<std::size_t>(i)], i * i);
  fs.push_back(pool.submit(refuse, 7));
  EXPECT_THROW(rankpool::when_all(fs).result(kPatience), std::invalid_argument);

  pending<int> never;  // completed by hand at the end: only the remote task can be first
  auto any = rankpool::when_any(std::vector{never.fut, pool.submit(square, 5)});
  EXPECT_EQ(any.result(kPatience), 1u);
  never.state->set_value(0);
}

TEST(mpi_compose, starmap_in_order_with_a_failing_element) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  std::vector<std::tuple<int, int>> pairs;
  for (int i = 0; i < 50; ++i) pairs.emplace_back(i, 1000);
  std::vector<int> got = pool.starmap(add, pairs, {.chunksize = 7}).to_vector();
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], i + 1000);
  auto lambda =
      pool.starmap([](int a, double b) { return a * b; }, std::vector<std::pair<int, double>>{{2, 0.5}, {3, 2.0}});
  EXPECT_EQ(lambda.to_vector(), (std::vector<double>{1.0, 6.0}));

  std::vector<int> seen;
  try {
    for (int v :
         pool.starmap(checked_add, std::vector<std::tuple<int, int>>{{1, 1}, {4, 1}, {5, 1}, {6, 1}}, {.chunksize = 3}))
      seen.push_back(v);
    FAIL() << "the failing element did not throw";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("a is five"), std::string::npos) << e.what();
  }
  EXPECT_EQ(seen, (std::vector<int>{2, 5}));
}

TEST(mpi_compose, co_await_drives_three_coroutines) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  std::vector<coro> cs;
  for (int i = 1; i <= 3; ++i) cs.push_back(add_both(pool.submit(nap, 100 * i), pool.submit(square, i)));
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(cs[static_cast<std::size_t>(i - 1)].get(), 100 * i + i * i);
  auto failed = add_both(pool.submit(refuse, 7), pool.submit(square, 1));
  EXPECT_THROW(failed.get(), std::invalid_argument);
}

}  // namespace
