#pragma once
// A typed GoogleTest suite that every rankpool executor must pass: what users of Python's
// concurrent.futures expect from submit, map, shutdown, cancel, callbacks, wait and as_completed.
//
// Instantiate it with a harness type H:
//
//   struct my_harness {
//     using executor_type = rankpool::thread_executor;   // or rankpool::comm_executor, ...
//
//     // Called exactly once at the start of every test, on every process that runs the suite
//     // (for an MPI executor: collectively, on every rank). Returns the executor where tests
//     // run, and nullptr where it is not usable (the non-root ranks of a comm_executor, whose
//     // constructor served the root's tasks until the root shut it down); the test then
//     // returns at once.
//     static std::unique_ptr<executor_type> make(std::size_t workers);
//
//     // num_workers() of an executor made by make(requested).
//     static std::size_t expected_workers(std::size_t requested);
//
//     // How many tasks the pool may take off its queue at once (marked running when taken):
//     // num_workers() for local threads, num_workers() * in_flight for an MPI pool. Tasks
//     // submitted beyond that, while the first ones sleep, are queued and can be cancelled.
//     static std::size_t saturation(const executor_type& ex);
//
//     // Whether task exceptions cross a process boundary (then standard types arrive rebuilt
//     // with a remote_context, and other types as rankpool::remote_error). Either a constant
//     // or a function of the executor (a one-rank comm_executor runs tasks locally):
//     static constexpr bool remote = false;  // or: static bool remote(const executor_type&);
//   };
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(threads, executor_suite, ::testing::Types<my_harness>);
//
// Every task submitted here is a free function, a capture-less lambda or a default-constructible
// function object, and every argument and result is a plain sendable value: the same suite runs
// tasks in other MPI processes. Nothing is shared between a test and its tasks; long-running
// tasks sleep for a number of milliseconds passed as an argument. Callbacks run on the
// submitting process and may capture freely.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <ranges>
#include <rankpool/errors.hpp>
#include <rankpool/executor.hpp>
#include <rankpool/future.hpp>
#include <rankpool/wait.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

// ---- tasks (identical in every process of the executable) ------------------------------------

namespace executor_suite_tasks {

inline int square(int x) {
  return x * x;
}
inline int add(int a, int b) {
  return a + b;
}
inline double sum_of(std::vector<double> v) {
  return std::accumulate(v.begin(), v.end(), 0.0);
}
inline std::vector<double> scaled(std::vector<double> v, double k) {
  for (auto& x : v) x *= k;
  return v;
}
inline std::string repeat(std::string s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}
inline std::size_t length_of(std::string s) {
  return s.size();
}
inline void do_nothing(int) {}
inline void fail_void(int code) {
  throw std::runtime_error("void task failed with " + std::to_string(code));
}
inline void sleep_for_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}
/// Sleeps `ms` milliseconds, then returns `value`.
inline int sleep_then(int ms, int value) {
  sleep_for_ms(ms);
  return value;
}
/// Sleeps `ms` milliseconds, then returns `ms`.
inline int sleep_echo(int ms) {
  sleep_for_ms(ms);
  return ms;
}
/// Sleeps `ms` milliseconds, then throws std::runtime_error.
inline int sleep_then_fail(int ms) {
  sleep_for_ms(ms);
  throw std::runtime_error("failed after " + std::to_string(ms) + " ms");
}
/// 10 * x, or std::invalid_argument("negative input x") when x < 0.
inline int tenfold_or_throw(int x) {
  if (x < 0) throw std::invalid_argument("negative input " + std::to_string(x));
  return 10 * x;
}

/// A user exception type that is not one of the standard ones.
struct custom_failure : std::exception {
  const char* what() const noexcept override { return "custom failure"; }
};

inline constexpr int throws_invalid_argument = 0;
inline constexpr int throws_out_of_range = 1;
inline constexpr int throws_runtime_error = 2;
inline constexpr int throws_custom_failure = 3;
inline constexpr int throws_int = 4;

/// Throws the exception selected by `kind` (see the constants above).
inline int fail_with(int kind) {
  switch (kind) {
    case throws_invalid_argument:
      throw std::invalid_argument("bad argument");
    case throws_out_of_range:
      throw std::out_of_range("index out of range");
    case throws_runtime_error:
      throw std::runtime_error("runtime failure");
    case throws_custom_failure:
      throw custom_failure();
    default:
      throw 42;
  }
}

/// A function object without state: identified by its type.
struct triple {
  int operator()(int x) const { return 3 * x; }
};

/// A default-constructible function object with trivially copyable state.
struct affine {
  int a = 1;
  int b = 0;
  int operator()(int x) const { return a * x + b; }
};

/// A function object with state sent through its serialize member.
struct labeler {
  std::string prefix;
  int scale = 1;
  template <class Archive>
  void serialize(Archive& ar, const unsigned int) {
    ar& prefix& scale;
  }
  std::string operator()(int x) const { return prefix + std::to_string(scale * x); }
};

}  // namespace executor_suite_tasks

// ---- helpers on the submitting side ----------------------------------------------------------

namespace executor_suite_support {

/// A task that surely still runs when a kShortTimeout wait has run out.
inline constexpr int kLongMs = 500;
/// A timeout expected to run out.
inline constexpr std::chrono::milliseconds kShortTimeout{50};
/// The longest anything that must happen may take (only reached when a test fails).
inline constexpr std::chrono::seconds kPatience{20};

/// Whether the harness says task exceptions cross a process boundary (see the file comment).
template <class H, class E>
bool tasks_run_remotely(const E& ex) {
  if constexpr (requires {
                  { H::remote(ex) } -> std::convertible_to<bool>;
                }) {
    return H::remote(ex);
  } else {
    return H::remote;
  }
}

/// Polls until `f` was taken by a worker (running or already done); false after `limit`.
template <class T>
testing::AssertionResult becomes_running(const rankpool::future<T>& f, std::chrono::seconds limit = kPatience) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!f.running() && !f.done()) {
    if (std::chrono::steady_clock::now() > deadline)
      return testing::AssertionFailure() << "the task did not start within " << limit.count() << " s";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return testing::AssertionSuccess();
}

/// As becomes_running, and then long enough for the task to have begun where it runs. On an MPI
/// executor running() turns true once a task is sent ahead to its worker, where cancel() and
/// shutdown(cancel_futures) may still take it back until it starts; a task sent to an idle
/// worker starts within microseconds, so 100 ms (a fifth of kLongMs) settles it.
template <class T>
testing::AssertionResult has_started(const rankpool::future<T>& f, std::chrono::seconds limit = kPatience) {
  auto r = becomes_running(f, limit);
  if (r) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return r;
}

/// A thread-safe event counter that can be waited on.
class counter {
 public:
  void hit() {
    {
      std::lock_guard lk(m_);
      ++n_;
    }
    cv_.notify_all();
  }
  int value() const {
    std::lock_guard lk(m_);
    return n_;
  }
  /// True once the count reached `at_least`; false when `limit` runs out first.
  bool wait_for(int at_least, std::chrono::seconds limit = kPatience) const {
    std::unique_lock lk(m_);
    return cv_.wait_for(lk, limit, [&] { return n_ >= at_least; });
  }

 private:
  mutable std::mutex m_;
  mutable std::condition_variable cv_;
  int n_ = 0;
};

/// Installs a callback error handler that records what it is given; restores the default on
/// destruction. Declare it before the executor, so that it outlives every callback.
class callback_error_capture {
 public:
  callback_error_capture() {
    rankpool::set_callback_error_handler([this](std::exception_ptr e) {
      std::string what;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        what = ex.what();
      } catch (...) {
        what = "<non-std exception>";
      }
      {
        std::lock_guard lk(m_);
        messages_.push_back(std::move(what));
      }
      cv_.notify_all();
    });
  }
  ~callback_error_capture() { rankpool::set_callback_error_handler({}); }
  callback_error_capture(const callback_error_capture&) = delete;
  callback_error_capture& operator=(const callback_error_capture&) = delete;

  std::size_t count() const {
    std::lock_guard lk(m_);
    return messages_.size();
  }
  std::vector<std::string> messages() const {
    std::lock_guard lk(m_);
    return messages_;
  }
  bool wait_for(std::size_t at_least, std::chrono::seconds limit = kPatience) const {
    std::unique_lock lk(m_);
    return cv_.wait_for(lk, limit, [&] { return messages_.size() >= at_least; });
  }

 private:
  mutable std::mutex m_;
  mutable std::condition_variable cv_;
  std::vector<std::string> messages_;
};

/// Iterates a map range to its end; returns how many elements it yielded.
template <class Range>
std::size_t drain(Range& range) {
  std::size_t n = 0;
  for (auto&& v : range) {
    (void)v;
    ++n;
  }
  return n;
}

template <class T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

template <class T>
std::size_t occurrences(const std::vector<rankpool::future<T>>& fs, const rankpool::future<T>& f) {
  return static_cast<std::size_t>(std::count(fs.begin(), fs.end(), f));
}

/// Checks where a standard exception came from: rebuilt with a remote context, or local.
inline void expect_origin(const std::exception& e, bool remote, const std::string& type_name) {
  const rankpool::remote_context* ctx = rankpool::remote_context_of(e);
  if (remote) {
    ASSERT_NE(ctx, nullptr) << "an exception from another process must carry its remote context";
    EXPECT_EQ(ctx->type_name(), type_name);
    EXPECT_EQ(ctx->message(), e.what());
  } else {
    EXPECT_EQ(ctx, nullptr) << "a local exception must arrive as the original object";
  }
}

}  // namespace executor_suite_support

// ---- the suite ---------------------------------------------------------------------------------

template <class H>
class executor_suite : public ::testing::Test {};

TYPED_TEST_SUITE_P(executor_suite);

TYPED_TEST_P(executor_suite, NumWorkersMatchesTheRequest) {
  auto ex = TypeParam::make(2);
  if (!ex) return;
  EXPECT_GE(ex->num_workers(), 1u);
  EXPECT_EQ(ex->num_workers(), TypeParam::expected_workers(2));
}

TYPED_TEST_P(executor_suite, NumWorkersIsZeroAfterShutdown) {
  auto ex = TypeParam::make(2);
  if (!ex) return;
  EXPECT_EQ(ex->submit(executor_suite_tasks::square, 3).result(), 9);
  ex->shutdown(/*wait=*/false);
  EXPECT_EQ(ex->num_workers(), 0u) << "as concurrent.futures: no workers once shut down";
  ex->shutdown();
  EXPECT_EQ(ex->num_workers(), 0u);
}

TYPED_TEST_P(executor_suite, NumWorkersWithThreeRequested) {
  auto ex = TypeParam::make(3);
  if (!ex) return;
  EXPECT_EQ(ex->num_workers(), TypeParam::expected_workers(3));
}

TYPED_TEST_P(executor_suite, SubmitReturnsValuesOfEveryCallableKind) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto by_name = ex->submit(t::square, 7);
  auto by_pointer = ex->submit(&t::add, 2, 3);
  auto lambda = ex->submit([](int x, int y) { return x * y; }, 6, 7);
  auto lambda_double = ex->submit([](double x) { return x / 4; }, 1.0);
  auto stateless = ex->submit(t::triple{}, 5);
  auto with_bytes = ex->submit(t::affine{2, 1}, 5);
  auto with_serialize = ex->submit(t::labeler{"x=", 3}, 4);
  auto strings = ex->submit(t::repeat, std::string("ab"), 3);
  auto vector_in = ex->submit(t::sum_of, std::vector<double>{0.5, 1.5, 2.0});
  auto vector_out = ex->submit(t::scaled, std::vector<double>{1.0, 2.0, 3.0}, 0.5);
  static_assert(std::is_same_v<decltype(by_name), rankpool::future<int>>);
  static_assert(std::is_same_v<decltype(with_serialize), rankpool::future<std::string>>);
  static_assert(std::is_same_v<decltype(vector_out), rankpool::future<std::vector<double>>>);
  EXPECT_EQ(by_name.result(), 49);
  EXPECT_EQ(by_pointer.result(), 5);
  EXPECT_EQ(lambda.result(), 42);
  EXPECT_DOUBLE_EQ(lambda_double.result(), 0.25);
  EXPECT_EQ(stateless.result(), 15);
  EXPECT_EQ(with_bytes.result(), 11);
  EXPECT_EQ(with_serialize.result(), "x=12");
  EXPECT_EQ(strings.result(), "ababab");
  EXPECT_DOUBLE_EQ(vector_in.result(), 4.0);
  EXPECT_EQ(vector_out.result(), (std::vector<double>{0.5, 1.0, 1.5}));
  for (auto* f : {&by_name, &by_pointer, &lambda, &stateless}) {
    EXPECT_TRUE(f->done());
    EXPECT_FALSE(f->running());
    EXPECT_FALSE(f->cancelled());
    EXPECT_EQ(f->exception(), nullptr);
  }
}

TYPED_TEST_P(executor_suite, SubmitVoidTasks) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto f = ex->submit(t::do_nothing, 1);
  auto g = ex->submit([] {});
  auto bad = ex->submit(t::fail_void, 7);
  static_assert(std::is_same_v<decltype(f), rankpool::future<void>>);
  static_assert(std::is_same_v<decltype(g), rankpool::future<void>>);
  EXPECT_NO_THROW(f.result());
  EXPECT_NO_THROW(g.result());
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.exception(), nullptr);
  try {
    bad.result();
    ADD_FAILURE() << "a failing void task must rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "void task failed with 7");
  }
  EXPECT_NE(bad.exception(), nullptr);
  EXPECT_TRUE(bad.done());
}

TYPED_TEST_P(executor_suite, ResultIsRepeatableAndSharedByCopies) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto f = ex->submit(t::repeat, std::string("xy"), 2);
  EXPECT_EQ(f.result(), "xyxy");
  std::string first = f.result();
  first += "changed";
  EXPECT_EQ(f.result(), "xyxy");  // each call returns its own copy
  auto copy = f;
  EXPECT_TRUE(copy == f);
  EXPECT_EQ(copy.result(), "xyxy");
  auto other = ex->submit(t::repeat, std::string("xy"), 2);
  EXPECT_FALSE(other == f);

  auto bad = ex->submit(t::tenfold_or_throw, -1);
  EXPECT_THROW(bad.result(), std::invalid_argument);
  EXPECT_THROW(bad.result(), std::invalid_argument);
  EXPECT_THROW(std::rethrow_exception(bad.exception()), std::invalid_argument);
}

TYPED_TEST_P(executor_suite, MapYieldsResultsInInputOrder) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  // Earlier elements sleep longer, so they tend to finish last.
  const std::vector<int> sleeps{160, 140, 120, 100, 80, 60, 40, 20, 0};
  EXPECT_EQ(ex->map(t::sleep_echo, sleeps).to_vector(), sleeps);

  std::vector<int> input(50);
  std::iota(input.begin(), input.end(), -10);
  std::vector<int> expected;
  for (int x : input) expected.push_back(x * x);
  std::vector<int> got;
  for (int v : ex->map(t::square, input)) got.push_back(v);
  EXPECT_EQ(got, expected);
}

TYPED_TEST_P(executor_suite, MapWithChunksizes) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  for (int n : {1, 9, 10, 12}) {
    std::vector<int> input(static_cast<std::size_t>(n));
    std::iota(input.begin(), input.end(), 1);
    std::vector<int> expected;
    for (int x : input) expected.push_back(x * x);
    // 1, 3 (10 is no multiple of 3, 9 and 12 are), exactly the input size, larger than the input.
    for (std::size_t chunksize : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{4},
                                  static_cast<std::size_t>(n), std::size_t{11}, std::size_t{1000}}) {
      SCOPED_TRACE("input size " + std::to_string(n) + ", chunksize " + std::to_string(chunksize));
      EXPECT_EQ(ex->map(t::square, input, {.chunksize = chunksize}).to_vector(), expected);
    }
  }
}

TYPED_TEST_P(executor_suite, MapOfAnEmptyRangeYieldsNothing) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  EXPECT_TRUE(ex->map(t::square, std::vector<int>{}).to_vector().empty());
  EXPECT_TRUE(ex->map(t::square, std::vector<int>{}, {.chunksize = 5, .unordered = true}).to_vector().empty());
}

TYPED_TEST_P(executor_suite, MapAcceptsAnyInputRangeAndCallable) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  EXPECT_EQ(ex->map(t::square, std::views::iota(0, 6)).to_vector(), (std::vector<int>{0, 1, 4, 9, 16, 25}));
  const std::list<std::string> words{"a", "bb", "", "dddd"};
  EXPECT_EQ(ex->map(t::length_of, words, {.chunksize = 3}).to_vector(), (std::vector<std::size_t>{1, 2, 0, 4}));
  const std::vector<std::vector<double>> vectors{{1.0, 2.0}, {}, {0.25, 0.25, 0.5}};
  EXPECT_EQ(ex->map(t::sum_of, vectors).to_vector(), (std::vector<double>{3.0, 0.0, 1.0}));
  EXPECT_EQ(ex->map([](double x) { return 2 * x; }, std::vector<double>{0.5, 1.5}).to_vector(),
            (std::vector<double>{1.0, 3.0}));
  EXPECT_EQ(ex->map(t::triple{}, std::vector<int>{1, 2, 3}, {.chunksize = 2}).to_vector(), (std::vector<int>{3, 6, 9}));
  EXPECT_EQ(ex->map(t::affine{10, 1}, std::vector<int>{1, 2, 3}).to_vector(), (std::vector<int>{11, 21, 31}));
  EXPECT_EQ(ex->map(t::labeler{"#", 2}, std::vector<int>{1, 2}, {.chunksize = 2}).to_vector(),
            (std::vector<std::string>{"#2", "#4"}));
}

TYPED_TEST_P(executor_suite, MapOfAVoidFunction) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto r = ex->map(t::do_nothing, std::vector<int>{1, 2, 3, 4, 5}, {.chunksize = 2});
  static_assert(std::is_same_v<typename decltype(r)::value_type, std::monostate>);
  EXPECT_EQ(executor_suite_support::drain(r), 5u);
  auto failing = ex->map(t::fail_void, std::vector<int>{3});
  EXPECT_THROW(executor_suite_support::drain(failing), std::runtime_error);
}

TYPED_TEST_P(executor_suite, MapUnorderedYieldsTheSameMultiset) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::sorted;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  const std::vector<int> sleeps{150, 0, 100, 0, 50, 0, 25, 0, 75};
  for (std::size_t chunksize : {std::size_t{1}, std::size_t{3}}) {
    SCOPED_TRACE("chunksize " + std::to_string(chunksize));
    auto got = ex->map(t::sleep_echo, sleeps, {.chunksize = chunksize, .unordered = true}).to_vector();
    EXPECT_EQ(sorted(got), sorted(sleeps));
  }
  std::vector<int> input(40);
  std::iota(input.begin(), input.end(), 0);
  std::vector<int> expected;
  for (int x : input) expected.push_back(x * x);
  for (std::size_t chunksize : {std::size_t{1}, std::size_t{3}, std::size_t{100}}) {
    SCOPED_TRACE("chunksize " + std::to_string(chunksize));
    auto got = ex->map(t::square, input, {.chunksize = chunksize, .unordered = true}).to_vector();
    EXPECT_EQ(sorted(got), expected);
  }
}

TYPED_TEST_P(executor_suite, MapRethrowsAtTheFailingPosition) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  const std::vector<int> input{1, 2, 3, -4, 5, -6, 7};
  for (std::size_t chunksize :
       {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{4}, std::size_t{7}, std::size_t{100}}) {
    SCOPED_TRACE("chunksize " + std::to_string(chunksize));
    std::vector<int> got;
    std::optional<std::string> what;
    auto r = ex->map(t::tenfold_or_throw, input, {.chunksize = chunksize});
    try {
      for (int v : r) got.push_back(v);
    } catch (const std::invalid_argument& e) {
      what = e.what();
    }
    EXPECT_EQ(got, (std::vector<int>{10, 20, 30}));  // everything before the failure arrives
    ASSERT_TRUE(what.has_value()) << "iterating past the failing element must throw";
    EXPECT_EQ(*what, "negative input -4");  // the first failure in input order, not a later one
  }
  std::vector<int> got;
  auto first_fails = ex->map(t::tenfold_or_throw, std::vector<int>{-1, 2}, {.chunksize = 2});
  EXPECT_THROW(
      {
        for (int v : first_fails) got.push_back(v);
      },
      std::invalid_argument);
  EXPECT_TRUE(got.empty());
}

TYPED_TEST_P(executor_suite, MapUnorderedRethrowsTaskExceptions) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  for (std::size_t chunksize : {std::size_t{1}, std::size_t{2}}) {
    SCOPED_TRACE("chunksize " + std::to_string(chunksize));
    std::vector<int> got;
    bool thrown = false;
    auto r = ex->map(t::tenfold_or_throw, std::vector<int>{1, 2, -3, 4}, {.chunksize = chunksize, .unordered = true});
    try {
      for (int v : r) got.push_back(v);
    } catch (const std::invalid_argument& e) {
      thrown = true;
      EXPECT_STREQ(e.what(), "negative input -3");
    }
    EXPECT_TRUE(thrown);
    EXPECT_LE(got.size(), 3u);
    for (int v : got) EXPECT_TRUE(v == 10 || v == 20 || v == 40) << v;
  }
}

TYPED_TEST_P(executor_suite, StandardExceptionsArriveAsTheirOwnType) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::expect_origin;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  const bool remote = executor_suite_support::tasks_run_remotely<TypeParam>(*ex);
  auto f_invalid = ex->submit(t::fail_with, t::throws_invalid_argument);
  auto f_range = ex->submit(t::fail_with, t::throws_out_of_range);
  auto f_runtime = ex->submit(t::fail_with, t::throws_runtime_error);
  try {
    f_invalid.result();
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "bad argument");
    expect_origin(e, remote, "std::invalid_argument");
  }
  try {
    f_range.result();
    ADD_FAILURE() << "no exception";
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "index out of range");
    expect_origin(e, remote, "std::out_of_range");
  }
  try {
    f_runtime.result();
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "runtime failure");
    // Not wrapped into one of the library's own errors (which are runtime_errors too).
    EXPECT_EQ(dynamic_cast<const rankpool::error*>(&e), nullptr);
    expect_origin(e, remote, "std::runtime_error");
  }
  // exception() hands out the same kind of object.
  auto e = f_range.exception();
  ASSERT_NE(e, nullptr);
  EXPECT_THROW(std::rethrow_exception(e), std::out_of_range);
  // And through map.
  auto r = ex->map(t::fail_with, std::vector<int>{t::throws_out_of_range});
  EXPECT_THROW(executor_suite_support::drain(r), std::out_of_range);
}

TYPED_TEST_P(executor_suite, NonStandardExceptionsArriveCatchable) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  const bool remote = executor_suite_support::tasks_run_remotely<TypeParam>(*ex);
  auto custom = ex->submit(t::fail_with, t::throws_custom_failure);
  bool caught = false;
  try {
    custom.result();
  } catch (const std::exception& e) {
    caught = true;
    EXPECT_STREQ(e.what(), "custom failure");
    if (remote) {
      const auto* re = dynamic_cast<const rankpool::remote_error*>(&e);
      ASSERT_NE(re, nullptr) << "a user exception type from another process arrives as remote_error";
      EXPECT_NE(re->type_name().find("custom_failure"), std::string::npos) << re->type_name();
    } else {
      EXPECT_NE(dynamic_cast<const t::custom_failure*>(&e), nullptr) << "a local exception keeps its type";
    }
  }
  EXPECT_TRUE(caught);

  auto thrown_int = ex->submit(t::fail_with, t::throws_int);
  if (remote) {
    try {
      thrown_int.result();
      ADD_FAILURE() << "no exception";
    } catch (const rankpool::remote_error& e) {
      EXPECT_EQ(e.type_name(), "int");
    }
  } else {
    try {
      thrown_int.result();
      ADD_FAILURE() << "no exception";
    } catch (int v) {
      EXPECT_EQ(v, 42);
    }
  }
  EXPECT_NE(thrown_int.exception(), nullptr);
}

TYPED_TEST_P(executor_suite, SubmitAfterShutdownThrows) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto before = ex->submit(t::square, 3);
  ex->shutdown();
  EXPECT_EQ(before.result(), 9);
  EXPECT_THROW(ex->submit(t::square, 1), rankpool::invalid_state_error);
  EXPECT_THROW(ex->submit([] {}), rankpool::invalid_state_error);
  EXPECT_THROW(ex->map(t::square, std::vector<int>{1, 2}), rankpool::invalid_state_error);
}

TYPED_TEST_P(executor_suite, ShutdownIsIdempotent) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto f = ex->submit(t::sleep_then, 100, 5);
  EXPECT_NO_THROW(ex->shutdown());
  EXPECT_NO_THROW(ex->shutdown());
  EXPECT_NO_THROW(ex->shutdown(false));
  EXPECT_NO_THROW(ex->shutdown(true, true));
  EXPECT_EQ(f.result(), 5);
  EXPECT_THROW(ex->submit(t::square, 1), rankpool::invalid_state_error);
  EXPECT_NO_THROW(ex.reset());  // the destructor shuts down once more
}

TYPED_TEST_P(executor_suite, ShutdownWaitsForSubmittedTasks) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  std::vector<rankpool::future<int>> fs;
  const int n = static_cast<int>(ex->num_workers()) + 2;
  for (int i = 0; i < n; ++i) fs.push_back(ex->submit(t::sleep_then, 200, i));
  ex->shutdown(true);
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(fs[static_cast<std::size_t>(i)].done()) << "shutdown(wait = true) returned before task " << i;
    EXPECT_FALSE(fs[static_cast<std::size_t>(i)].cancelled());
    EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(), i);
  }
}

TYPED_TEST_P(executor_suite, ShutdownWithoutWaitStillCompletesTasks) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 3; ++i) fs.push_back(ex->submit(t::sleep_then, 200, i));
  ex->shutdown(false);
  EXPECT_THROW(ex->submit(t::square, 1), rankpool::invalid_state_error);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(), i);
}

TYPED_TEST_P(executor_suite, ShutdownWithCancelFuturesCancelsQueuedTasks) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::kLongMs;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  const std::size_t busy = TypeParam::saturation(*ex);
  const std::size_t queued = 3;
  std::vector<rankpool::future<int>> fs;
  for (std::size_t i = 0; i < busy + queued; ++i) fs.push_back(ex->submit(t::sleep_then, kLongMs, static_cast<int>(i)));
  ASSERT_TRUE(executor_suite_support::has_started(fs.front()));
  ex->shutdown(/*wait=*/true, /*cancel_futures=*/true);
  std::size_t cancelled = 0;
  for (std::size_t i = 0; i < fs.size(); ++i) {
    SCOPED_TRACE("task " + std::to_string(i));
    ASSERT_TRUE(fs[i].done()) << "shutdown(wait = true) returned with a task unfinished";
    if (fs[i].cancelled()) {
      ++cancelled;
      EXPECT_FALSE(fs[i].running());
      EXPECT_THROW(fs[i].result(), rankpool::cancelled_error);
      EXPECT_THROW(fs[i].exception(), rankpool::cancelled_error);
    } else {
      EXPECT_EQ(fs[i].result(), static_cast<int>(i));
    }
  }
  EXPECT_FALSE(fs.front().cancelled()) << "a running task must finish";
  EXPECT_TRUE(fs.back().cancelled()) << "a task queued behind busy workers must be cancelled";
  EXPECT_GE(cancelled, 1u);
  EXPECT_THROW(ex->submit(t::square, 1), rankpool::invalid_state_error);
}

TYPED_TEST_P(executor_suite, CancelAQueuedTask) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::kLongMs;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  const std::size_t busy = TypeParam::saturation(*ex);
  std::vector<rankpool::future<int>> fs;
  for (std::size_t i = 0; i < busy; ++i) fs.push_back(ex->submit(t::sleep_then, kLongMs, static_cast<int>(i)));
  auto queued = ex->submit(t::square, 9);
  ASSERT_TRUE(executor_suite_support::becomes_running(fs.front()));
  EXPECT_TRUE(queued.cancel());
  EXPECT_TRUE(queued.cancelled());
  EXPECT_TRUE(queued.done());
  EXPECT_FALSE(queued.running());
  EXPECT_TRUE(queued.cancel()) << "cancel() of a cancelled future stays true";
  EXPECT_THROW(queued.result(), rankpool::cancelled_error);
  EXPECT_THROW(queued.result(executor_suite_support::kShortTimeout), rankpool::cancelled_error);
  EXPECT_THROW(queued.exception(), rankpool::cancelled_error);
  // The executor skips the cancelled task and goes on with the others.
  auto after = ex->submit(t::square, 6);
  EXPECT_EQ(after.result(), 36);
  for (std::size_t i = 0; i < busy; ++i) EXPECT_EQ(fs[i].result(), static_cast<int>(i));
  EXPECT_TRUE(queued.cancelled());
}

TYPED_TEST_P(executor_suite, CancelARunningOrFinishedTaskFails) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::kLongMs;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto running = ex->submit(t::sleep_then, kLongMs, 1);
  ASSERT_TRUE(executor_suite_support::has_started(running));
  EXPECT_FALSE(running.cancel());
  EXPECT_FALSE(running.cancelled());
  EXPECT_EQ(running.result(), 1);
  EXPECT_FALSE(running.running());
  EXPECT_FALSE(running.cancel()) << "a finished task cannot be cancelled";
  EXPECT_FALSE(running.cancelled());

  auto failed = ex->submit(t::fail_with, t::throws_runtime_error);
  failed.wait();
  EXPECT_FALSE(failed.cancel());
  EXPECT_FALSE(failed.cancelled());
  EXPECT_THROW(failed.result(), std::runtime_error);
}

TYPED_TEST_P(executor_suite, DoneCallbacksRunExactlyOnce) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::counter;
  counter before, second, after, on_failure, on_void;  // declared first: they outlive the executor
  std::mutex m;
  std::optional<int> seen_value;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto f = ex->submit(t::sleep_then, 200, 5);
  f.add_done_callback([&](const rankpool::future<int>& g) {
    EXPECT_TRUE(g.done());
    std::lock_guard lk(m);
    seen_value = g.result();  // a callback may read its future
    before.hit();
  });
  f.add_done_callback([&](const rankpool::future<int>&) { second.hit(); });
  EXPECT_EQ(f.result(), 5);
  ASSERT_TRUE(before.wait_for(1));
  ASSERT_TRUE(second.wait_for(1));

  // Added after completion: runs at once, on this thread.
  const auto this_thread = std::this_thread::get_id();
  f.add_done_callback([&](const rankpool::future<int>& g) {
    EXPECT_EQ(std::this_thread::get_id(), this_thread);
    EXPECT_TRUE(g == f);
    after.hit();
  });
  EXPECT_EQ(after.value(), 1);

  auto bad = ex->submit(t::sleep_then_fail, 50);
  bad.add_done_callback([&](const rankpool::future<int>& g) {
    EXPECT_NE(g.exception(), nullptr);
    on_failure.hit();
  });
  auto v = ex->submit(t::sleep_for_ms, 50);
  v.add_done_callback([&](const rankpool::future<void>& g) {
    EXPECT_TRUE(g.done());
    on_void.hit();
  });
  ASSERT_TRUE(on_failure.wait_for(1));
  ASSERT_TRUE(on_void.wait_for(1));

  ex->shutdown(true);
  EXPECT_EQ(before.value(), 1);
  EXPECT_EQ(second.value(), 1);
  EXPECT_EQ(after.value(), 1);
  EXPECT_EQ(on_failure.value(), 1);
  EXPECT_EQ(on_void.value(), 1);
  std::lock_guard lk(m);
  ASSERT_TRUE(seen_value.has_value());
  EXPECT_EQ(*seen_value, 5);
}

TYPED_TEST_P(executor_suite, DoneCallbackRunsForACancelledTask) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::kLongMs;
  executor_suite_support::counter calls;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  const std::size_t busy = TypeParam::saturation(*ex);
  std::vector<rankpool::future<int>> fs;
  for (std::size_t i = 0; i < busy; ++i) fs.push_back(ex->submit(t::sleep_then, kLongMs, static_cast<int>(i)));
  auto queued = ex->submit(t::square, 2);
  queued.add_done_callback([&](const rankpool::future<int>& g) {
    EXPECT_TRUE(g.cancelled());
    calls.hit();
  });
  ASSERT_TRUE(executor_suite_support::becomes_running(fs.front()));
  ASSERT_TRUE(queued.cancel());
  EXPECT_EQ(calls.value(), 1) << "cancel() runs the callbacks before it returns";
  ex->shutdown(true);
  EXPECT_EQ(calls.value(), 1);
}

TYPED_TEST_P(executor_suite, ThrowingCallbackIsReportedAndHarmless) {
  namespace t = executor_suite_tasks;
  executor_suite_support::callback_error_capture errors;  // outlives the executor
  executor_suite_support::counter next_callback;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto f = ex->submit(t::sleep_then, 100, 1);
  f.add_done_callback([](const rankpool::future<int>&) { throw std::runtime_error("callback failed"); });
  f.add_done_callback([&](const rankpool::future<int>&) { next_callback.hit(); });
  EXPECT_EQ(f.result(), 1);
  ASSERT_TRUE(errors.wait_for(1)) << "the callback's exception was not reported";
  ASSERT_TRUE(next_callback.wait_for(1)) << "callbacks after a throwing one must still run";
  EXPECT_EQ(errors.messages().front(), "callback failed");

  // The executor still runs tasks.
  auto g = ex->submit(t::square, 12);
  EXPECT_EQ(g.result(), 144);
  EXPECT_EQ(ex->map(t::square, std::vector<int>{1, 2, 3}).to_vector(), (std::vector<int>{1, 4, 9}));

  // A throwing callback added after completion is reported at once.
  g.add_done_callback([](const rankpool::future<int>&) { throw std::logic_error("late callback failed"); });
  EXPECT_EQ(errors.count(), 2u);
  ex->shutdown(true);
  ASSERT_EQ(errors.count(), 2u);
  EXPECT_EQ(errors.messages()[1], "late callback failed");
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.result(), 1);
}

TYPED_TEST_P(executor_suite, WaitFirstCompleted) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::kLongMs;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto fast = ex->submit(t::sleep_then, 0, 1);
  auto slow = ex->submit(t::sleep_then, kLongMs, 2);
  auto r = rankpool::wait(std::vector{fast, slow}, std::nullopt, rankpool::return_when::first_completed);
  ASSERT_FALSE(r.done.empty());
  EXPECT_TRUE(r.done.front() == fast);
  for (const auto& f : r.done) EXPECT_TRUE(f.done());
  ASSERT_EQ(r.not_done.size(), 1u);
  EXPECT_TRUE(r.not_done.front() == slow);
  EXPECT_EQ(slow.result(), 2);
}

TYPED_TEST_P(executor_suite, WaitFirstException) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::kLongMs;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto ok = ex->submit(t::sleep_then, 0, 1);
  auto bad = ex->submit(t::sleep_then_fail, 50);
  auto slow = ex->submit(t::sleep_then, kLongMs, 3);
  auto r = rankpool::wait(std::vector{ok, bad, slow}, std::nullopt, rankpool::return_when::first_exception);
  EXPECT_EQ(executor_suite_support::occurrences(r.done, bad), 1u);
  EXPECT_TRUE(bad.done());
  EXPECT_NE(bad.exception(), nullptr);
  ASSERT_EQ(r.not_done.size(), 1u);
  EXPECT_TRUE(r.not_done.front() == slow);
  EXPECT_EQ(r.done.size() + r.not_done.size(), 3u);

  // Without any exception, first_exception waits for all.
  auto a = ex->submit(t::sleep_then, 50, 1);
  auto b = ex->submit(t::sleep_then, 100, 2);
  auto all = rankpool::wait(std::vector{a, b}, std::nullopt, rankpool::return_when::first_exception);
  EXPECT_EQ(all.done.size(), 2u);
  EXPECT_TRUE(all.not_done.empty());
  EXPECT_TRUE(a.done() && b.done());
}

TYPED_TEST_P(executor_suite, WaitAllCompleted) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 6; ++i) fs.push_back(ex->submit(t::sleep_then, 20 * (6 - i), i));
  fs.push_back(ex->submit(t::sleep_then_fail, 10));
  auto r = rankpool::wait(fs);
  EXPECT_TRUE(r.not_done.empty());
  ASSERT_EQ(r.done.size(), fs.size());
  for (std::size_t i = 0; i < fs.size(); ++i) {
    EXPECT_TRUE(r.done[i] == fs[i]) << "done keeps the input order";
    EXPECT_TRUE(fs[i].done());
  }
  for (int i = 0; i < 6; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(), i);
  EXPECT_THROW(fs.back().result(), std::runtime_error);
  // Waiting on no futures returns at once.
  auto none = rankpool::wait(std::vector<rankpool::future<int>>{});
  EXPECT_TRUE(none.done.empty());
  EXPECT_TRUE(none.not_done.empty());
}

TYPED_TEST_P(executor_suite, WaitWithATimeoutReturnsTheUnfinished) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::kLongMs;
  using executor_suite_support::kShortTimeout;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto fast = ex->submit(t::square, 2);
  EXPECT_EQ(fast.result(), 4);
  auto slow = ex->submit(t::sleep_then, kLongMs, 1);
  auto r = rankpool::wait(std::vector{fast, slow}, kShortTimeout);  // no exception on timeout
  ASSERT_EQ(r.done.size(), 1u);
  EXPECT_TRUE(r.done.front() == fast);
  ASSERT_EQ(r.not_done.size(), 1u);
  EXPECT_TRUE(r.not_done.front() == slow);
  auto r2 = rankpool::wait(std::vector{slow}, kShortTimeout, rankpool::return_when::first_completed);
  EXPECT_TRUE(r2.done.empty());
  EXPECT_EQ(r2.not_done.size(), 1u);
  EXPECT_EQ(slow.result(), 1);
  auto r3 = rankpool::wait(std::vector{fast, slow}, kShortTimeout);
  EXPECT_EQ(r3.done.size(), 2u);
  EXPECT_TRUE(r3.not_done.empty());
}

TYPED_TEST_P(executor_suite, AsCompletedYieldsEachFutureOnce) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::occurrences;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  const std::vector<int> sleeps{200, 0, 100, 0, 50, 150};
  std::vector<rankpool::future<int>> fs;
  for (int ms : sleeps) fs.push_back(ex->submit(t::sleep_echo, ms));
  std::vector<rankpool::future<int>> seen;
  std::vector<int> values;
  for (const auto& f : rankpool::as_completed(fs)) {
    EXPECT_TRUE(f.done());
    seen.push_back(f);
    values.push_back(f.result());
  }
  ASSERT_EQ(seen.size(), fs.size());
  for (const auto& f : fs) EXPECT_EQ(occurrences(seen, f), 1u);
  EXPECT_EQ(executor_suite_support::sorted(values), executor_suite_support::sorted(sleeps));

  // Duplicates are yielded once; failed futures are yielded, not thrown.
  auto bad = ex->submit(t::fail_with, t::throws_runtime_error);
  std::vector<rankpool::future<int>> dups{fs[0], bad, fs[0], fs[1], bad};
  std::vector<rankpool::future<int>> seen_dups;
  for (const auto& f : rankpool::as_completed(dups)) seen_dups.push_back(f);
  ASSERT_EQ(seen_dups.size(), 3u);
  EXPECT_EQ(occurrences(seen_dups, fs[0]), 1u);
  EXPECT_EQ(occurrences(seen_dups, fs[1]), 1u);
  EXPECT_EQ(occurrences(seen_dups, bad), 1u);
  EXPECT_NE(bad.exception(), nullptr);
}

TYPED_TEST_P(executor_suite, AsCompletedThrowsWhenItsTimeoutRunsOut) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::kLongMs;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto fast = ex->submit(t::sleep_then, 0, 1);
  auto slow = ex->submit(t::sleep_then, kLongMs, 2);
  std::vector<rankpool::future<int>> yielded;
  bool timed_out = false;
  try {
    for (const auto& f : rankpool::as_completed(std::vector{fast, slow}, executor_suite_support::kShortTimeout))
      yielded.push_back(f);
  } catch (const rankpool::timeout_error&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  EXPECT_LE(yielded.size(), 1u);
  for (const auto& f : yielded) EXPECT_TRUE(f == fast) << "the slow task cannot have finished yet";
  EXPECT_EQ(slow.result(), 2);
  // Futures already done are yielded even with a zero timeout.
  std::size_t n = 0;
  for (const auto& f : rankpool::as_completed(std::vector{fast, slow}, std::chrono::seconds(0))) {
    EXPECT_TRUE(f.done());
    ++n;
  }
  EXPECT_EQ(n, 2u);
}

TYPED_TEST_P(executor_suite, ResultWithATimeout) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::kLongMs;
  using executor_suite_support::kShortTimeout;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  auto f = ex->submit(t::sleep_then, kLongMs, 7);
  auto v = ex->submit(t::sleep_for_ms, kLongMs);
  EXPECT_THROW(f.result(kShortTimeout), rankpool::timeout_error);
  EXPECT_THROW(f.exception(kShortTimeout), rankpool::timeout_error);
  EXPECT_THROW(v.result(std::chrono::duration<double>(0.05)), rankpool::timeout_error);
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.result(), 7);  // the timeout did not harm the task
  EXPECT_EQ(f.result(kShortTimeout), 7);
  EXPECT_EQ(f.exception(std::chrono::seconds(0)), nullptr);
  EXPECT_NO_THROW(v.result());
}

TYPED_TEST_P(executor_suite, MapWithATimeoutThrowsWhileIterating) {
  namespace t = executor_suite_tasks;
  using executor_suite_support::drain;
  using executor_suite_support::kLongMs;
  using executor_suite_support::kShortTimeout;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  {
    auto r = ex->map(t::sleep_echo, std::vector<int>{kLongMs, kLongMs, kLongMs}, {.timeout = kShortTimeout});
    EXPECT_THROW(drain(r), rankpool::timeout_error);
  }
  {
    auto r = ex->map(t::sleep_echo, std::vector<int>{kLongMs, kLongMs, kLongMs},
                     {.chunksize = 2, .unordered = true, .timeout = kShortTimeout});
    EXPECT_THROW(drain(r), rankpool::timeout_error);
  }
  {
    // Elements that arrive in time are yielded; the timeout strikes at the late one.
    auto r = ex->map(t::sleep_echo, std::vector<int>{0, kLongMs}, {.timeout = kShortTimeout});
    std::vector<int> got;
    EXPECT_THROW(
        {
          for (int v : r) got.push_back(v);
        },
        rankpool::timeout_error);
    EXPECT_LE(got.size(), 1u);
    for (int v : got) EXPECT_EQ(v, 0);
  }
  // A generous timeout does not get in the way.
  EXPECT_EQ(ex->map(t::square, std::vector<int>{1, 2, 3}, {.timeout = std::chrono::seconds(60)}).to_vector(),
            (std::vector<int>{1, 4, 9}));
}

TYPED_TEST_P(executor_suite, ManyTasksAndLargeArguments) {
  namespace t = executor_suite_tasks;
  auto ex = TypeParam::make(2);
  if (!ex) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 200; ++i) fs.push_back(ex->submit(t::add, i, 1));
  for (int i = 0; i < 200; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(), i + 1);

  std::vector<double> big(100000);
  std::iota(big.begin(), big.end(), 0.0);
  EXPECT_DOUBLE_EQ(ex->submit(t::sum_of, big).result(), 99999.0 * 100000.0 / 2);
  auto doubled = ex->submit(t::scaled, big, 2.0).result();
  ASSERT_EQ(doubled.size(), big.size());
  EXPECT_DOUBLE_EQ(doubled[12345], 24690.0);
  EXPECT_DOUBLE_EQ(doubled.back(), 199998.0);

  long long total = 0;
  for (int v : ex->map(t::square, std::views::iota(0, 1000), {.chunksize = 16})) total += v;
  EXPECT_EQ(total, 332833500LL);  // sum of i^2 for i < 1000
}

REGISTER_TYPED_TEST_SUITE_P(
    executor_suite, NumWorkersMatchesTheRequest, NumWorkersIsZeroAfterShutdown, NumWorkersWithThreeRequested,
    SubmitReturnsValuesOfEveryCallableKind, SubmitVoidTasks, ResultIsRepeatableAndSharedByCopies,
    MapYieldsResultsInInputOrder, MapWithChunksizes, MapOfAnEmptyRangeYieldsNothing, MapAcceptsAnyInputRangeAndCallable,
    MapOfAVoidFunction, MapUnorderedYieldsTheSameMultiset, MapRethrowsAtTheFailingPosition,
    MapUnorderedRethrowsTaskExceptions, StandardExceptionsArriveAsTheirOwnType, NonStandardExceptionsArriveCatchable,
    SubmitAfterShutdownThrows, ShutdownIsIdempotent, ShutdownWaitsForSubmittedTasks,
    ShutdownWithoutWaitStillCompletesTasks, ShutdownWithCancelFuturesCancelsQueuedTasks, CancelAQueuedTask,
    CancelARunningOrFinishedTaskFails, DoneCallbacksRunExactlyOnce, DoneCallbackRunsForACancelledTask,
    ThrowingCallbackIsReportedAndHarmless, WaitFirstCompleted, WaitFirstException, WaitAllCompleted,
    WaitWithATimeoutReturnsTheUnfinished, AsCompletedYieldsEachFutureOnce, AsCompletedThrowsWhenItsTimeoutRunsOut,
    ResultWithATimeout, MapWithATimeoutThrowsWhileIterating, ManyTasksAndLargeArguments);
