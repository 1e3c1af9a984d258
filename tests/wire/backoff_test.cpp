// The idle pacing of every polling loop (transport::backoff), without a launcher: a spin phase
// only where the rank may spin, then sleeps that double up to a cap, a higher cap after a long
// idle time, and spinning again after activity. The phases are long (100 ms and more) so that a
// test thread held up on a loaded machine still sees the phase it expects.

#include <gtest/gtest.h>

#include <chrono>
#include <rankpool/detail/spin.hpp>
#include <thread>

#include "wire/transport.hpp"

namespace {

using namespace std::chrono_literals;
using rankpool::detail::transport::backoff;

// Sets the process-wide spin switch for one test and puts the old value back.
class spin_switch {
 public:
  explicit spin_switch(bool allowed) : old_(rankpool::detail::spin_allowed()) {
    rankpool::detail::set_spin_allowed(allowed);
  }
  ~spin_switch() { rankpool::detail::set_spin_allowed(old_); }
  spin_switch(const spin_switch&) = delete;
  spin_switch& operator=(const spin_switch&) = delete;

 private:
  bool old_;
};

TEST(backoff, SleepsAtOnceWhereTheRankMayNotSpin) {
  spin_switch no(false);
  backoff pace(10s, 40us, 40us);
  // No spin phase, however long it was asked to be: 5, 10, 20, then the cap.
  EXPECT_EQ(pace.next(), 5us);
  EXPECT_EQ(pace.next(), 10us);
  EXPECT_EQ(pace.next(), 20us);
  EXPECT_EQ(pace.next(), 40us);
  EXPECT_EQ(pace.next(), 40us);
}

TEST(backoff, SpinsThroughItsSpinPhaseThenSleeps) {
  spin_switch yes(true);
  backoff pace(200ms, 1000us);
  // The quiet part and the yielding part of the spin phase both ask for no sleep.
  const auto start = std::chrono::steady_clock::now();
  int spinning_rounds = 0;
  while (std::chrono::steady_clock::now() - start < 1ms) {
    ASSERT_EQ(pace.next(), 0us);
    ++spinning_rounds;
  }
  EXPECT_GT(spinning_rounds, 0);
  std::this_thread::sleep_for(250ms);  // past the spin phase
  EXPECT_EQ(pace.next(), 5us);
  EXPECT_EQ(pace.next(), 10us);
}

TEST(backoff, ActivitySpinsAgain) {
  spin_switch yes(true);
  backoff pace(100ms, 1000us);
  EXPECT_EQ(pace.next(), 0us);
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(pace.next(), 5us);
  EXPECT_EQ(pace.next(), 10us);
  pace.reset();
  EXPECT_EQ(pace.next(), 0us);  // a new spin phase
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(pace.next(), 5us);  // and the sleeps start small again
}

TEST(backoff, ALongIdleTimeRaisesTheCap) {
  spin_switch no(false);
  backoff pace(0us, 20us, 80us, 200ms);
  EXPECT_EQ(pace.next(), 5us);
  EXPECT_EQ(pace.next(), 10us);
  EXPECT_EQ(pace.next(), 20us);
  EXPECT_EQ(pace.next(), 20us);  // the cap while the idle time is short
  std::this_thread::sleep_for(250ms);
  EXPECT_EQ(pace.next(), 40us);
  EXPECT_EQ(pace.next(), 80us);
  EXPECT_EQ(pace.next(), 80us);  // the deep-sleep cap
}

}  // namespace
