// rankpool::future, wait and as_completed without any executor: shared states completed by hand,
// from this thread and from others.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <rankpool/errors.hpp>
#include <rankpool/future.hpp>
#include <rankpool/wait.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/gate.hpp"

namespace {

using rankpool_test::gate;

using namespace std::chrono_literals;
using rankpool::return_when;

constexpr auto kShort = 50ms;
constexpr auto kPatience = 20s;

/// A pending state and a future on it.
template <class T>
struct pending {
  std::shared_ptr<rankpool::detail::shared_state<T>> state = std::make_shared<rankpool::detail::shared_state<T>>();
  rankpool::future<T> fut{state};
};

template <class T>
std::vector<rankpool::future<T>> futures_of(const std::vector<pending<T>>& ps) {
  std::vector<rankpool::future<T>> fs;
  for (const auto& p : ps) fs.push_back(p.fut);
  return fs;
}

template <class T>
std::size_t occurrences(const std::vector<rankpool::future<T>>& fs, const rankpool::future<T>& f) {
  return static_cast<std::size_t>(std::count(fs.begin(), fs.end(), f));
}

/// Records what the callback error handler receives; restores the default handler on exit.
class handler_capture {
 public:
  handler_capture() {
    rankpool::set_callback_error_handler([this](std::exception_ptr e) {
      std::string what;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        what = ex.what();
      } catch (int v) {
        what = "int " + std::to_string(v);
      } catch (...) {
        what = "?";
      }
      std::lock_guard lk(m_);
      messages_.push_back(what);
    });
  }
  ~handler_capture() { rankpool::set_callback_error_handler({}); }
  handler_capture(const handler_capture&) = delete;
  handler_capture& operator=(const handler_capture&) = delete;
  std::vector<std::string> messages() const {
    std::lock_guard lk(m_);
    return messages_;
  }

 private:
  mutable std::mutex m_;
  std::vector<std::string> messages_;
};

// ---- single futures --------------------------------------------------------------------------

TEST(future, ReadyFutureHoldsItsValue) {
  auto f = rankpool::make_ready_future<int>(42);
  EXPECT_TRUE(f.valid());
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.running());
  EXPECT_FALSE(f.cancelled());
  EXPECT_EQ(f.result(), 42);
  EXPECT_EQ(f.result(), 42);
  EXPECT_EQ(f.result(0s), 42);
  EXPECT_EQ(f.result(kShort), 42);
  EXPECT_EQ(f.exception(), nullptr);
  EXPECT_EQ(f.exception(0s), nullptr);
  EXPECT_NO_THROW(f.wait());
  EXPECT_FALSE(f.cancel());
  EXPECT_FALSE(f.cancelled());
}

TEST(future, ResultReturnsACopyEachTime) {
  auto f = rankpool::make_ready_future<std::string>("value");
  std::string a = f.result();
  a += " changed";
  EXPECT_EQ(f.result(), "value");
  auto g = rankpool::make_ready_future<std::vector<int>>(std::vector<int>{1, 2, 3});
  auto v = g.result();
  v.clear();
  EXPECT_EQ(g.result(), (std::vector<int>{1, 2, 3}));
}

TEST(future, ReadyVoidFuture) {
  auto f = rankpool::make_ready_future<void>();
  EXPECT_TRUE(f.done());
  EXPECT_NO_THROW(f.result());
  EXPECT_NO_THROW(f.result(0s));
  EXPECT_EQ(f.exception(), nullptr);
}

TEST(future, ExceptionalFutureRethrowsEveryTime) {
  auto f = rankpool::make_exceptional_future<int>(std::make_exception_ptr(std::out_of_range("too far")));
  EXPECT_TRUE(f.done());
  EXPECT_FALSE(f.cancelled());
  for (int i = 0; i < 3; ++i) {
    try {
      f.result();
      ADD_FAILURE() << "no exception";
    } catch (const std::out_of_range& e) {
      EXPECT_STREQ(e.what(), "too far");
    }
  }
  EXPECT_THROW(f.result(kShort), std::out_of_range);
  auto e = f.exception();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e, f.exception());
  EXPECT_THROW(std::rethrow_exception(e), std::out_of_range);
  EXPECT_FALSE(f.cancel());
}

TEST(future, ExceptionalVoidFuture) {
  auto f = rankpool::make_exceptional_future<void>(std::make_exception_ptr(std::runtime_error("void failed")));
  EXPECT_TRUE(f.done());
  EXPECT_THROW(f.result(), std::runtime_error);
  EXPECT_THROW(f.result(0s), std::runtime_error);
  EXPECT_NE(f.exception(), nullptr);
}

TEST(future, PendingFutureTimesOut) {
  pending<int> p;
  EXPECT_FALSE(p.fut.done());
  EXPECT_FALSE(p.fut.running());
  EXPECT_FALSE(p.fut.cancelled());
  EXPECT_THROW(p.fut.result(kShort), rankpool::timeout_error);
  EXPECT_THROW(p.fut.result(0s), rankpool::timeout_error);
  EXPECT_THROW(p.fut.result(std::chrono::duration<double>(0.02)), rankpool::timeout_error);
  EXPECT_THROW(p.fut.exception(kShort), rankpool::timeout_error);
  EXPECT_FALSE(p.fut.done()) << "a timeout leaves the future as it was";
  p.state->set_value(3);
  EXPECT_EQ(p.fut.result(kShort), 3);

  pending<void> v;
  EXPECT_THROW(v.fut.result(kShort), rankpool::timeout_error);
  v.state->set_value();
  EXPECT_NO_THROW(v.fut.result(kShort));
}

TEST(future, TimeoutErrorIsALibraryError) {
  pending<int> p;
  try {
    p.fut.result(1ms);
    ADD_FAILURE() << "no timeout";
  } catch (const rankpool::error& e) {
    EXPECT_NE(dynamic_cast<const rankpool::timeout_error*>(&e), nullptr);
  }
}

TEST(future, FirstCompletionWins) {
  pending<int> p;
  p.state->set_value(1);
  p.state->set_value(2);
  p.state->set_exception(std::make_exception_ptr(std::runtime_error("late")));
  EXPECT_FALSE(p.fut.cancel());
  EXPECT_FALSE(p.state->cancel());
  EXPECT_EQ(p.fut.result(), 1);
  EXPECT_EQ(p.fut.exception(), nullptr);

  pending<int> q;
  q.state->set_exception(std::make_exception_ptr(std::invalid_argument("first")));
  q.state->set_value(5);
  EXPECT_FALSE(q.fut.cancel());
  try {
    q.fut.result();
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "first");
  }
}

TEST(future, CancelAPendingFuture) {
  pending<int> p;
  EXPECT_TRUE(p.fut.cancel());
  EXPECT_TRUE(p.fut.cancelled());
  EXPECT_TRUE(p.fut.done());
  EXPECT_FALSE(p.fut.running());
  EXPECT_TRUE(p.fut.cancel()) << "cancel() of a cancelled future stays true";
  EXPECT_THROW(p.fut.result(), rankpool::cancelled_error);
  EXPECT_THROW(p.fut.result(kShort), rankpool::cancelled_error);
  EXPECT_THROW(p.fut.exception(), rankpool::cancelled_error);
  EXPECT_THROW(p.fut.exception(kShort), rankpool::cancelled_error);
  EXPECT_FALSE(p.state->set_running()) << "an executor must drop a cancelled task";
  p.state->set_value(4);  // ignored
  p.state->set_exception(std::make_exception_ptr(std::runtime_error("ignored")));
  EXPECT_TRUE(p.fut.cancelled());
  EXPECT_THROW(p.fut.result(), rankpool::cancelled_error);

  pending<void> v;
  EXPECT_TRUE(v.fut.cancel());
  EXPECT_THROW(v.fut.result(), rankpool::cancelled_error);
}

TEST(future, RunningFutureCannotBeCancelled) {
  pending<int> p;
  EXPECT_TRUE(p.state->set_running());
  EXPECT_TRUE(p.fut.running());
  EXPECT_FALSE(p.fut.done());
  EXPECT_FALSE(p.fut.cancel());
  EXPECT_FALSE(p.fut.cancelled());
  EXPECT_TRUE(p.fut.running());
  p.state->set_value(8);
  EXPECT_FALSE(p.fut.running());
  EXPECT_TRUE(p.fut.done());
  EXPECT_EQ(p.fut.result(), 8);

  pending<int> q;
  ASSERT_TRUE(q.state->set_running());
  q.state->set_exception(std::make_exception_ptr(std::logic_error("failed while running")));
  EXPECT_FALSE(q.fut.running());
  EXPECT_THROW(q.fut.result(), std::logic_error);
}

TEST(future, DefaultConstructedFutureIsInvalid) {
  rankpool::future<int> f;
  EXPECT_FALSE(f.valid());
  EXPECT_THROW(f.result(), rankpool::invalid_state_error);
  EXPECT_THROW(f.result(kShort), rankpool::invalid_state_error);
  EXPECT_THROW(f.exception(), rankpool::invalid_state_error);
  EXPECT_THROW(f.exception(kShort), rankpool::invalid_state_error);
  EXPECT_THROW(f.wait(), rankpool::invalid_state_error);
  EXPECT_THROW(f.done(), rankpool::invalid_state_error);
  EXPECT_THROW(f.running(), rankpool::invalid_state_error);
  EXPECT_THROW(f.cancelled(), rankpool::invalid_state_error);
  EXPECT_THROW(f.cancel(), rankpool::invalid_state_error);
  EXPECT_THROW(f.add_done_callback([](const rankpool::future<int>&) {}), rankpool::invalid_state_error);
  rankpool::future<void> v;
  EXPECT_FALSE(v.valid());
  EXPECT_THROW(v.result(), rankpool::invalid_state_error);
  EXPECT_THROW(v.done(), rankpool::invalid_state_error);

  auto ready = rankpool::make_ready_future<int>(1);
  EXPECT_THROW(rankpool::wait(std::vector<rankpool::future<int>>{ready, f}), rankpool::invalid_state_error);
  EXPECT_THROW(rankpool::as_completed(std::vector<rankpool::future<int>>{ready, f}), rankpool::invalid_state_error);
}

TEST(future, CopiesShareOneState) {
  pending<std::string> p;
  rankpool::future<std::string> copy = p.fut;
  rankpool::future<std::string> assigned;
  assigned = copy;
  EXPECT_TRUE(copy == p.fut);
  EXPECT_TRUE(assigned == p.fut);
  EXPECT_FALSE(copy.done());
  p.state->set_value("shared");
  EXPECT_TRUE(copy.done());
  EXPECT_EQ(copy.result(), "shared");
  EXPECT_EQ(assigned.result(), "shared");
  pending<std::string> other;
  EXPECT_FALSE(other.fut == p.fut);
}

TEST(future, ResultBlocksUntilAnotherThreadCompletes) {
  pending<int> p;
  std::jthread completer([s = p.state] { s->set_value(99); });
  EXPECT_EQ(p.fut.result(), 99);

  pending<int> q;
  std::jthread failer([s = q.state] { s->set_exception(std::make_exception_ptr(std::domain_error("remote"))); });
  EXPECT_THROW(q.fut.result(kPatience), std::domain_error);

  pending<void> v;
  std::jthread canceller([f = v.fut] { f.cancel(); });
  v.fut.wait();
  EXPECT_TRUE(v.fut.cancelled());
}

// ---- callbacks -------------------------------------------------------------------------------

TEST(future, CallbackAddedBeforeCompletionRunsOnceOnTheCompletingThread) {
  pending<int> p;
  int calls = 0;
  std::thread::id ran_on;
  int seen = 0;
  p.fut.add_done_callback([&](const rankpool::future<int>& g) {
    ++calls;
    ran_on = std::this_thread::get_id();
    seen = g.result();
  });
  EXPECT_EQ(calls, 0);
  std::thread::id completer_id;
  {
    std::jthread completer([&] {
      completer_id = std::this_thread::get_id();
      p.state->set_value(7);
      p.state->set_value(8);  // ignored: no second call
    });
  }
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ran_on, completer_id);
  EXPECT_EQ(seen, 7);
  p.state->cancel();
  EXPECT_EQ(calls, 1);
}

TEST(future, CallbackAddedAfterCompletionRunsAtOnce) {
  auto f = rankpool::make_ready_future<int>(5);
  int calls = 0;
  f.add_done_callback([&](const rankpool::future<int>& g) {
    ++calls;
    EXPECT_TRUE(g == f);
    EXPECT_EQ(g.result(), 5);
  });
  EXPECT_EQ(calls, 1);
  auto v = rankpool::make_ready_future<void>();
  bool void_called = false;
  v.add_done_callback([&](const rankpool::future<void>& g) { void_called = g.done(); });
  EXPECT_TRUE(void_called);
}

TEST(future, CallbacksRunInOrderOnCancelAndOnException) {
  pending<int> p;
  std::vector<int> order;
  for (int i = 0; i < 4; ++i)
    p.fut.add_done_callback([&order, i](const rankpool::future<int>& g) {
      EXPECT_TRUE(g.cancelled());
      order.push_back(i);
    });
  EXPECT_TRUE(p.fut.cancel());
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));

  pending<int> q;
  int failed_calls = 0;
  q.fut.add_done_callback([&](const rankpool::future<int>& g) {
    ++failed_calls;
    EXPECT_NE(g.exception(), nullptr);
  });
  q.state->set_exception(std::make_exception_ptr(std::runtime_error("x")));
  EXPECT_EQ(failed_calls, 1);
}

TEST(future, CallbackMayUseItsFutureAndAddCallbacks) {
  pending<int> p;
  int inner_calls = 0;
  p.fut.add_done_callback([&](const rankpool::future<int>& g) {
    EXPECT_EQ(g.result(), 11);  // no deadlock: callbacks run without the state's lock
    EXPECT_FALSE(g.cancel());
    g.add_done_callback([&](const rankpool::future<int>&) { ++inner_calls; });  // done: runs at once
    EXPECT_EQ(inner_calls, 1);
  });
  p.state->set_value(11);
  EXPECT_EQ(inner_calls, 1);
}

TEST(future, CallbacksRunExactlyOnceUnderContention) {
  constexpr int kAdders = 6;
  constexpr int kPerAdder = 40;
  for (int round = 0; round < 40; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    pending<int> p;
    std::vector<std::atomic<int>> calls(kAdders * kPerAdder);
    std::atomic<bool> cancel_won{false};
    std::latch go(kAdders + 3);
    {
      std::vector<std::jthread> threads;
      for (int a = 0; a < kAdders; ++a) {
        threads.emplace_back([&, a] {
          go.arrive_and_wait();
          for (int i = 0; i < kPerAdder; ++i) {
            const auto idx = static_cast<std::size_t>(a * kPerAdder + i);
            p.fut.add_done_callback([&calls, idx](const rankpool::future<int>& g) {
              EXPECT_TRUE(g.done());
              calls[idx].fetch_add(1);
            });
          }
        });
      }
      threads.emplace_back([&] {
        go.arrive_and_wait();
        p.state->set_value(round);
      });
      threads.emplace_back([&] {
        go.arrive_and_wait();
        p.state->set_exception(std::make_exception_ptr(std::runtime_error("racing")));
      });
      threads.emplace_back([&] {
        go.arrive_and_wait();
        cancel_won = p.fut.cancel();
      });
    }
    ASSERT_TRUE(p.fut.done());
    EXPECT_EQ(cancel_won.load(), p.fut.cancelled());
    if (!p.fut.cancelled()) {
      if (p.fut.exception()) {
        EXPECT_THROW(p.fut.result(), std::runtime_error);
      } else {
        EXPECT_EQ(p.fut.result(), round);
      }
    }
    for (std::size_t i = 0; i < calls.size(); ++i) ASSERT_EQ(calls[i].load(), 1) << "callback " << i;
  }
}

TEST(future, ThrowingCallbacksGoToTheHandler) {
  handler_capture capture;
  pending<int> p;
  int later_calls = 0;
  p.fut.add_done_callback([](const rankpool::future<int>&) { throw std::runtime_error("first callback failed"); });
  p.fut.add_done_callback([&](const rankpool::future<int>&) { ++later_calls; });
  p.fut.add_done_callback([](const rankpool::future<int>&) { throw 7; });
  EXPECT_NO_THROW(p.state->set_value(1));
  EXPECT_EQ(later_calls, 1) << "a throwing callback must not stop the others";
  EXPECT_EQ(capture.messages(), (std::vector<std::string>{"first callback failed", "int 7"}));
  // Added after completion: reported at once, not thrown at the caller.
  EXPECT_NO_THROW(p.fut.add_done_callback([](const rankpool::future<int>&) { throw std::logic_error("late"); }));
  const auto messages = capture.messages();
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages.back(), "late");
  EXPECT_EQ(p.fut.result(), 1);
}

TEST(future, DefaultHandlerReportsOnStderr) {
  rankpool::set_callback_error_handler({});
  auto f = rankpool::make_ready_future<int>(1);
  testing::internal::CaptureStderr();
  f.add_done_callback([](const rankpool::future<int>&) { throw std::runtime_error("reported on stderr"); });
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("reported on stderr"), std::string::npos) << err;
}

TEST(future, ThrowingHandlerFallsBackToTheDefaultReport) {
  int handler_calls = 0;
  rankpool::set_callback_error_handler([&](std::exception_ptr) {
    ++handler_calls;
    throw std::runtime_error("the handler failed too");
  });
  auto f = rankpool::make_ready_future<int>(1);
  testing::internal::CaptureStderr();
  EXPECT_NO_THROW(
      f.add_done_callback([](const rankpool::future<int>&) { throw std::runtime_error("callback failure"); }));
  const std::string err = testing::internal::GetCapturedStderr();
  rankpool::set_callback_error_handler({});
  EXPECT_EQ(handler_calls, 1);
  EXPECT_NE(err.find("callback failure"), std::string::npos) << err;
}

// ---- wait ----------------------------------------------------------------------------------------

TEST(future, WaitOnFinishedFuturesReturnsAtOnce) {
  std::vector<rankpool::future<int>> fs{
      rankpool::make_ready_future<int>(1),
      rankpool::make_exceptional_future<int>(std::make_exception_ptr(std::runtime_error("failed")))};
  for (auto w : {return_when::all_completed, return_when::first_completed, return_when::first_exception}) {
    auto r = rankpool::wait(fs, std::nullopt, w);
    EXPECT_EQ(r.done.size(), 2u);
    EXPECT_TRUE(r.not_done.empty());
  }
  auto none = rankpool::wait(std::vector<rankpool::future<int>>{}, std::nullopt, return_when::first_completed);
  EXPECT_TRUE(none.done.empty());
  EXPECT_TRUE(none.not_done.empty());
}

TEST(future, WaitAllAcrossThreads) {
  std::vector<pending<int>> ps(6);
  auto fs = futures_of(ps);
  std::jthread completer([&ps] {
    for (std::size_t i = ps.size(); i-- > 0;) {
      if (i == 2)
        ps[i].state->cancel();
      else if (i == 4)
        ps[i].state->set_exception(std::make_exception_ptr(std::runtime_error("4 failed")));
      else
        ps[i].state->set_value(static_cast<int>(i));
    }
  });
  auto r = rankpool::wait(fs);
  EXPECT_TRUE(r.not_done.empty());
  ASSERT_EQ(r.done.size(), fs.size());
  for (std::size_t i = 0; i < fs.size(); ++i) {
    EXPECT_TRUE(r.done[i] == fs[i]) << "done keeps the input order";
    EXPECT_TRUE(fs[i].done());
  }
  EXPECT_TRUE(fs[2].cancelled());
  EXPECT_EQ(fs[5].result(), 5);
}

TEST(future, WaitFirstCompletedAcrossThreads) {
  std::vector<pending<int>> ps(4);
  auto fs = futures_of(ps);
  gate rest;
  std::jthread completer([&] {
    ps[2].state->set_value(2);
    rest.wait();
    for (std::size_t i : {0u, 1u, 3u}) ps[i].state->set_value(static_cast<int>(i));
  });
  auto r = rankpool::wait(fs, std::nullopt, return_when::first_completed);
  rest.open();
  ASSERT_EQ(r.done.size(), 1u);
  EXPECT_TRUE(r.done.front() == fs[2]);
  ASSERT_EQ(r.not_done.size(), 3u);
  EXPECT_TRUE(r.not_done[0] == fs[0]);
  EXPECT_TRUE(r.not_done[1] == fs[1]);
  EXPECT_TRUE(r.not_done[2] == fs[3]);
}

TEST(future, WaitFirstExceptionAcrossThreads) {
  std::vector<pending<int>> ps(4);
  auto fs = futures_of(ps);
  gate rest;
  std::jthread completer([&] {
    ps[0].state->set_value(0);
    ps[1].state->cancel();  // a cancellation is no exception
    ps[3].state->set_exception(std::make_exception_ptr(std::runtime_error("3 failed")));
    rest.wait();
    ps[2].state->set_value(2);
  });
  auto r = rankpool::wait(fs, std::nullopt, return_when::first_exception);
  rest.open();
  ASSERT_EQ(r.done.size(), 3u);
  EXPECT_TRUE(r.done[0] == fs[0]);
  EXPECT_TRUE(r.done[1] == fs[1]);
  EXPECT_TRUE(r.done[2] == fs[3]);
  ASSERT_EQ(r.not_done.size(), 1u);
  EXPECT_TRUE(r.not_done[0] == fs[2]);
}

TEST(future, WaitFirstExceptionIgnoresCancellation) {
  std::vector<pending<int>> ps(2);
  auto fs = futures_of(ps);
  ps[0].state->cancel();
  auto r = rankpool::wait(fs, kShort, return_when::first_exception);
  EXPECT_EQ(r.done.size(), 1u);
  ASSERT_EQ(r.not_done.size(), 1u);
  EXPECT_TRUE(r.not_done[0] == fs[1]);

  // An exception that is already there ends the wait at once.
  std::vector<pending<int>> more(2);
  more[0].state->set_exception(std::make_exception_ptr(std::runtime_error("already failed")));
  auto r2 = rankpool::wait(futures_of(more), std::nullopt, return_when::first_exception);
  EXPECT_EQ(r2.done.size(), 1u);
  EXPECT_EQ(r2.not_done.size(), 1u);
}

TEST(future, WaitWithATimeoutReturnsWithoutThrowing) {
  std::vector<pending<int>> ps(3);
  ps[1].state->set_value(1);
  auto fs = futures_of(ps);
  for (auto w : {return_when::all_completed, return_when::first_exception}) {
    const auto start = std::chrono::steady_clock::now();
    auto r = rankpool::wait(fs, kShort, w);
    EXPECT_GE(std::chrono::steady_clock::now() - start, kShort - 1ms) << "returned before the timeout";
    ASSERT_EQ(r.done.size(), 1u);
    EXPECT_TRUE(r.done[0] == fs[1]);
    ASSERT_EQ(r.not_done.size(), 2u);
    EXPECT_TRUE(r.not_done[0] == fs[0]);
    EXPECT_TRUE(r.not_done[1] == fs[2]);
  }
  std::vector<pending<int>> idle(2);
  auto r = rankpool::wait(futures_of(idle), 0s, return_when::first_completed);
  EXPECT_TRUE(r.done.empty());
  EXPECT_EQ(r.not_done.size(), 2u);
}

TEST(future, WaitReturnsEachDistinctFutureOnce) {
  // As Python's wait (it takes a set): a future given twice is counted and returned once.
  pending<int> a, b;
  std::vector<rankpool::future<int>> fs{a.fut, a.fut, b.fut};
  std::jthread completer([&] {
    a.state->set_value(1);
    b.state->set_value(2);
  });
  auto r = rankpool::wait(fs);
  EXPECT_TRUE(r.not_done.empty());
  ASSERT_EQ(r.done.size(), 2u);
  EXPECT_EQ(occurrences(r.done, a.fut), 1u);
  EXPECT_EQ(occurrences(r.done, b.fut), 1u);
  EXPECT_TRUE(r.done[0] == a.fut) << "first appearance order";
  pending<int> c;
  std::jthread completer2([s = c.state] { s->set_value(3); });
  auto r2 = rankpool::wait(std::vector{c.fut, c.fut}, std::nullopt, return_when::first_completed);
  EXPECT_EQ(r2.done.size(), 1u);
  // all_completed must not be satisfied by one future counted twice: d stays pending.
  pending<int> d, e;
  e.state->set_value(5);
  auto r3 = rankpool::wait(std::vector{e.fut, e.fut, d.fut}, std::chrono::milliseconds(50));
  EXPECT_EQ(r3.done.size(), 1u);
  ASSERT_EQ(r3.not_done.size(), 1u);
  EXPECT_TRUE(r3.not_done[0] == d.fut);
}

TEST(future, WaitOnVoidFutures) {
  std::vector<pending<void>> ps(3);
  auto fs = futures_of(ps);
  std::jthread completer([&] {
    for (auto& p : ps) p.state->set_value();
  });
  auto r = rankpool::wait(fs);
  EXPECT_EQ(r.done.size(), 3u);
  for (const auto& f : fs) EXPECT_NO_THROW(f.result());
}

TEST(future, WaitStressWithConcurrentCompletion) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 200; ++round) {
    std::vector<pending<int>> ps(8);
    auto fs = futures_of(ps);
    std::vector<std::size_t> order(ps.size());
    std::iota(order.begin(), order.end(), 0u);
    std::shuffle(order.begin(), order.end(), rng);
    std::jthread completer([&ps, order] {
      for (auto i : order) ps[i].state->set_value(static_cast<int>(i));
    });
    const auto w = round % 3 == 0 ? return_when::first_completed : return_when::all_completed;
    auto r = rankpool::wait(fs, std::nullopt, w);
    ASSERT_FALSE(r.done.empty());
    ASSERT_EQ(r.done.size() + r.not_done.size(), fs.size());
    for (const auto& f : r.done) ASSERT_TRUE(f.done());
    if (w == return_when::all_completed) {
      ASSERT_TRUE(r.not_done.empty());
    }
  }
}

// ---- as_completed --------------------------------------------------------------------------------

TEST(future, AsCompletedYieldsInCompletionOrder) {
  std::vector<pending<int>> ps(4);
  auto fs = futures_of(ps);
  auto range = rankpool::as_completed(fs);  // watching before anything completes
  std::jthread completer([&ps] {
    for (std::size_t i : {2u, 0u, 3u, 1u}) ps[i].state->set_value(static_cast<int>(i));
  });
  std::vector<int> values;
  for (const auto& f : range) values.push_back(f.result());
  EXPECT_EQ(values, (std::vector<int>{2, 0, 3, 1}));
}

TEST(future, AsCompletedYieldsFinishedFuturesFirstInInputOrder) {
  std::vector<pending<int>> ps(4);
  auto fs = futures_of(ps);
  ps[3].state->set_value(3);
  ps[1].state->set_value(1);
  auto range = rankpool::as_completed(fs);
  std::jthread completer([&ps] {
    ps[0].state->set_value(0);
    ps[2].state->set_value(2);
  });
  std::vector<int> values;
  for (const auto& f : range) values.push_back(f.result());
  EXPECT_EQ(values, (std::vector<int>{1, 3, 0, 2}));
}

TEST(future, AsCompletedYieldsDuplicatesOnce) {
  pending<int> a, b;
  b.state->set_value(2);
  std::vector<rankpool::future<int>> fs{a.fut, b.fut, a.fut, b.fut, a.fut};
  std::jthread completer([s = a.state] { s->set_value(1); });
  std::vector<rankpool::future<int>> seen;
  for (const auto& f : rankpool::as_completed(fs)) seen.push_back(f);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(occurrences(seen, a.fut), 1u);
  EXPECT_EQ(occurrences(seen, b.fut), 1u);
}

TEST(future, AsCompletedYieldsFailedAndCancelledFutures) {
  std::vector<pending<int>> ps(3);
  ps[0].state->set_exception(std::make_exception_ptr(std::runtime_error("failed")));
  ps[1].state->cancel();
  ps[2].state->set_value(2);
  std::size_t n = 0;
  for (const auto& f : rankpool::as_completed(futures_of(ps))) {
    EXPECT_TRUE(f.done());
    ++n;
  }
  EXPECT_EQ(n, 3u);
  std::size_t none = 0;
  for (const auto& f : rankpool::as_completed(std::vector<rankpool::future<int>>{})) {
    (void)f;
    ++none;
  }
  EXPECT_EQ(none, 0u);
}

TEST(future, AsCompletedThrowsTimeoutError) {
  pending<int> slow, fast;
  fast.state->set_value(1);
  std::vector<rankpool::future<int>> yielded;
  bool timed_out = false;
  const auto start = std::chrono::steady_clock::now();
  try {
    for (const auto& f : rankpool::as_completed(std::vector{slow.fut, fast.fut}, kShort)) yielded.push_back(f);
  } catch (const rankpool::timeout_error&) {
    timed_out = true;
  }
  EXPECT_TRUE(timed_out);
  EXPECT_GE(std::chrono::steady_clock::now() - start, kShort - 1ms);
  ASSERT_EQ(yielded.size(), 1u);
  EXPECT_TRUE(yielded[0] == fast.fut);
  EXPECT_FALSE(slow.fut.done());
}

TEST(future, AsCompletedRangeIsMovableAndCanBeDroppedEarly) {
  std::vector<pending<int>> ps(3);
  auto fs = futures_of(ps);
  {
    auto range = rankpool::as_completed(fs);
    auto moved = std::move(range);
    ps[1].state->set_value(1);
    auto it = moved.begin();
    ASSERT_FALSE(it == moved.end());
    EXPECT_TRUE(*it == fs[1]);
  }  // dropped with futures still pending: it must stop watching them
  ps[0].state->set_value(0);
  ps[2].state->set_value(2);
  EXPECT_EQ(fs[0].result() + fs[2].result(), 2);
}

TEST(future, AsCompletedStressWithConcurrentCompletion) {
  std::mt19937 rng(99);
  for (int round = 0; round < 200; ++round) {
    std::vector<pending<int>> ps(8);
    auto fs = futures_of(ps);
    std::vector<std::size_t> order(ps.size());
    std::iota(order.begin(), order.end(), 0u);
    std::shuffle(order.begin(), order.end(), rng);
    auto range = rankpool::as_completed(fs);
    std::jthread completer([&ps, order] {
      for (auto i : order) ps[i].state->set_value(static_cast<int>(i));
    });
    std::vector<std::size_t> yielded;
    for (const auto& f : range) yielded.push_back(static_cast<std::size_t>(f.result()));
    ASSERT_EQ(yielded, order) << "round " << round;
  }
}

}  // namespace
