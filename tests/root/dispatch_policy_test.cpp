// The root's dispatch policy without MPI: window sizing, idle slots first, sharing the queue
// among idle slots, taking unstarted tasks back, the root's own slot, the busy count progress
// displays read, a lost worker, and gathering idle workers for a team task (holds, draining,
// backfill).

#include "root/dispatch_policy.hpp"

#include <gtest/gtest.h>

#include <atomic>

namespace {

using rankpool::detail::dispatch_policy;

TEST(dispatch_policy, WindowIsTwoPerThreadBeforeAnyTaskFinished) {
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 2, .threads_per_worker = 3}, busy);
  EXPECT_EQ(p.window(), 6u);
  EXPECT_TRUE(p.answer_each());
}

TEST(dispatch_policy, WindowFollowsTheMeanTaskTime) {
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 1}, busy);
  p.sent(0, 1);
  p.finished(0, 1, 1'000);  // 1 µs tasks: 100 µs of lead is 100 tasks
  EXPECT_EQ(p.window(), 100u);
  EXPECT_FALSE(p.answer_each());
  for (int i = 0; i < 200; ++i) p.finished(0, 0, 1);  // n = 0 changes nothing
  EXPECT_EQ(p.window(), 100u);
  p.sent(0, 1);
  p.finished(0, 1, 1);  // a very short task moves the mean 1/8 of the way, not all of it
  EXPECT_GT(p.window(), 100u);
  EXPECT_LE(p.window(), dispatch_policy::max_window);
}

TEST(dispatch_policy, WindowIsClampedForVeryShortAndVeryLongTasks) {
  std::atomic<std::size_t> busy{0};
  dispatch_policy shorts({.worker_slots = 1}, busy);
  shorts.sent(0, 1);
  shorts.finished(0, 1, 1);
  EXPECT_EQ(shorts.window(), dispatch_policy::max_window);
  dispatch_policy longs({.worker_slots = 1, .threads_per_worker = 2}, busy);
  longs.sent(0, 1);
  longs.finished(0, 1, 1'000'000'000);
  EXPECT_EQ(longs.window(), 4u);  // at least 2 per thread
}

TEST(dispatch_policy, WorkAheadIsTheLeastQueuedBehindTheFirstInLine) {
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 2, .threads_per_worker = 2}, busy);
  p.sent(0, 10);
  p.sent(1, 10);
  EXPECT_EQ(p.work_ahead().count(), 0) << "no task time measured yet";
  p.finished(0, 1, 200'000);  // 200 µs tasks; slot 0 holds 9: 2 running, 1 next, 6 behind
  p.finished(1, 2, 200'000);  // slot 1 holds 8: 2 running, 1 next, 5 behind
  EXPECT_EQ(p.work_ahead().count(), 5 * 200'000 / 2);
  p.finished(1, 5, 200'000);  // slot 1 holds 3: nothing behind its next task
  EXPECT_EQ(p.work_ahead().count(), 0);
}

TEST(dispatch_policy, FixedInFlightWins) {
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 1, .threads_per_worker = 2, .in_flight = 7}, busy);
  p.sent(0, 1);
  p.finished(0, 1, 1);
  EXPECT_EQ(p.window(), 14u);
}

TEST(dispatch_policy, IdleSlotsFirstAndFullWindowsTakeNothing) {
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 3, .in_flight = 2}, busy);
  p.sent(0, 2);
  p.sent(1, 1);
  auto pick = p.next();
  ASSERT_TRUE(pick);
  EXPECT_EQ(pick->slot, 2u);
  EXPECT_EQ(pick->room, 2u);
  p.sent(2, 2);
  pick = p.next();
  ASSERT_TRUE(pick);
  EXPECT_EQ(pick->slot, 1u);
  EXPECT_EQ(pick->room, 1u);
  p.sent(1, 1);
  EXPECT_FALSE(p.next()) << "every window is full";
}

TEST(dispatch_policy, AmongEqualsTheSlotThatAnsweredLast) {
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 3, .in_flight = 4}, busy);
  for (std::size_t s = 0; s < 3; ++s) p.sent(s, 1);
  p.finished(2, 1);
  p.finished(1, 1);
  p.finished(0, 1);  // the most recent answer: slot 0 is still spinning
  ASSERT_TRUE(p.next());
  EXPECT_EQ(p.next()->slot, 0u);
}

TEST(dispatch_policy, TheRootsOwnSlotTakesOneThreadsShare) {
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 1, .threads_per_worker = 4, .root_slot = true, .in_flight = 3}, busy);
  EXPECT_EQ(p.root_slot(), 1u);
  p.sent(0, 12);  // the worker's window (3 × 4) is full
  auto pick = p.next();
  ASSERT_TRUE(pick);
  EXPECT_EQ(pick->slot, p.root_slot());
  EXPECT_EQ(pick->room, 3u);
  p.sent(p.root_slot(), 3);
  EXPECT_EQ(p.root_load(), 3u);
}

TEST(dispatch_policy, BusyCountsRunningThreadsNotQueuedTasks) {
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 2, .threads_per_worker = 2, .root_slot = true, .in_flight = 8}, busy);
  p.sent(0, 5);  // 2 threads run, 3 wait
  EXPECT_EQ(busy.load(), 2u);
  p.sent(1, 1);
  p.sent(p.root_slot(), 4);  // one thread
  EXPECT_EQ(busy.load(), 4u);
  p.finished(0, 4);
  EXPECT_EQ(busy.load(), 3u);
  p.forget(1);
  EXPECT_EQ(p.load(1), 0u);
  EXPECT_EQ(busy.load(), 2u);
  p.finished(p.root_slot(), 9);  // more than in flight: clamped, never wraps
  EXPECT_EQ(p.root_load(), 0u);
  EXPECT_EQ(busy.load(), 1u);
}

TEST(dispatch_policy, IdleSlotsShareAShortQueue) {
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 2}, busy);  // window 2 before any task finished
  auto pick = p.next(2);                         // [1 s, 0 s]: one each, never both to one worker
  ASSERT_TRUE(pick);
  EXPECT_EQ(pick->room, 1u);
  p.sent(pick->slot, 1);
  pick = p.next(1);
  ASSERT_TRUE(pick);
  EXPECT_EQ(pick->room, 2u) << "the last idle slot takes its full window";
  dispatch_policy q({.worker_slots = 3, .in_flight = 10}, busy);
  pick = q.next(7);
  ASSERT_TRUE(pick);
  EXPECT_EQ(pick->room, 3u);  // ceil(7 / 3)
}

TEST(dispatch_policy, TakeBackAsksTheSlotWithMostWaitingForHalf) {
  using clock = dispatch_policy::clock;
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 3, .in_flight = 20}, busy);
  p.sent(0, 5);   // 1 running, 4 waiting
  p.sent(1, 10);  // 1 running, 9 waiting
  const auto now = clock::now();
  EXPECT_FALSE(p.take_back(now, std::chrono::hours(1))) << "slot 2 has not been idle long enough";
  auto ask = p.take_back(now, clock::duration::zero());
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->slot, 1u);
  EXPECT_EQ(ask->room, 5u);  // half of 9, rounded up
  p.asked_back(1, now);
  ask = p.take_back(now, clock::duration::zero());
  ASSERT_TRUE(ask) << "another slot may be asked meanwhile";
  EXPECT_EQ(ask->slot, 0u);
  p.asked_back(0, now);
  EXPECT_FALSE(p.take_back(now, clock::duration::zero())) << "each asked slot waits for its answer";
  p.returned(1, 5);
  EXPECT_EQ(p.load(1), 5u);
  EXPECT_FALSE(p.take_back(now, std::chrono::hours(1))) << "asked too recently";
  ask = p.take_back(now + std::chrono::milliseconds(1), clock::duration::zero());
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->slot, 1u);
  EXPECT_EQ(ask->room, 2u);
}

TEST(dispatch_policy, NoTakeBackWithoutAnIdleSlotOrWaitingTasks) {
  using clock = dispatch_policy::clock;
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 2, .threads_per_worker = 2, .in_flight = 8}, busy);
  p.sent(0, 5);
  p.sent(1, 2);  // both threads busy: no slot idle
  EXPECT_FALSE(p.take_back(clock::now(), clock::duration::zero()));
  p.finished(1, 1);  // slot 1 has a thread free, but slot 0's tasks all run or wait behind 2
  auto ask = p.take_back(clock::now(), clock::duration::zero());
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->slot, 0u);
  EXPECT_EQ(ask->room, 2u);  // 3 waiting behind 2 threads
  p.finished(0, 3);          // 2 left, both running
  EXPECT_FALSE(p.take_back(clock::now(), clock::duration::zero()));
}

// A team of 2 among 3 workers, two of them busy: the idle one is held, the least loaded busy
// one drains, the third keeps taking tasks; once two are idle the team gets them.
TEST(dispatch_policy, ATeamHoldsIdleSlotsAndDrainsTheLeastLoaded) {
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 3, .in_flight = 4}, busy);
  p.sent(0, 3);
  p.sent(1, 1);
  EXPECT_FALSE(p.gather(2).has_value());
  EXPECT_TRUE(p.held(2)) << "the idle slot waits for the team";
  EXPECT_TRUE(p.held(1)) << "the least loaded busy slot drains";
  EXPECT_FALSE(p.held(0));
  // No task time measured yet: held slots take nothing, the free one fills its window.
  const auto pick = p.next(100);
  ASSERT_TRUE(pick.has_value());
  EXPECT_EQ(pick->slot, 0u);
  EXPECT_EQ(pick->room, 1u);
  p.sent(pick->slot, pick->room);
  EXPECT_FALSE(p.next(100).has_value());
  p.finished(1, 1);
  const auto team = p.gather(2);
  ASSERT_TRUE(team.has_value());
  EXPECT_EQ(team->size(), 2u);
  EXPECT_TRUE((*team)[0] == 1 || (*team)[0] == 2);
  EXPECT_TRUE((*team)[1] == 1 || (*team)[1] == 2);
  EXPECT_NE((*team)[0], (*team)[1]);
  EXPECT_FALSE(p.held(1) || p.held(2)) << "placing the team releases the holds";
}

// While the draining slot still has 3 rounds of tasks, an idle held slot backfills up to 3 tasks
// (at the mean task time they end in time), and no more.
TEST(dispatch_policy, HeldSlotsBackfillWhatEndsInTime) {
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 2, .in_flight = 8}, busy);
  p.sent(0, 1);
  p.finished(0, 1, 10'000);  // a mean task time: 10 µs
  p.sent(0, 3);
  EXPECT_FALSE(p.gather(2).has_value());
  ASSERT_TRUE(p.held(0) && p.held(1));
  const auto pick = p.next(100);
  ASSERT_TRUE(pick.has_value());
  EXPECT_EQ(pick->slot, 1u);
  EXPECT_EQ(pick->room, 3u);
  p.sent(1, pick->room);
  EXPECT_FALSE(p.next(100).has_value()) << "the draining slot takes nothing, the backfilled one is full";
  p.release_holds();
  EXPECT_TRUE(p.next(100).has_value());
}

// Slots held for a team that may take nothing are not idle for a take-back: the tasks would come
// back to the root and go out to where they came from, again and again.
TEST(dispatch_policy, NoTakeBackForSlotsHeldForATeam) {
  using clock = dispatch_policy::clock;
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 3, .in_flight = 64}, busy);
  p.sent(0, 1);
  p.sent(1, 2);
  EXPECT_FALSE(p.gather(2).has_value());  // slot 2 idle and held, slot 0 drains, slot 1 free
  ASSERT_TRUE(p.held(2));
  ASSERT_FALSE(p.held(1));
  p.sent(1, 20);
  EXPECT_FALSE(p.take_back(clock::now(), clock::duration::zero())) << "slot 2 is held: it would not take them";
  p.release_holds();
  auto ask = p.take_back(clock::now(), clock::duration::zero());
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->slot, 1u);
}

// A team as large as the pool waits for every worker: none takes new tasks meanwhile.
TEST(dispatch_policy, AWholePoolTeamStopsEveryWindow) {
  std::atomic<std::size_t> busy{0};
  dispatch_policy p({.worker_slots = 2, .in_flight = 4}, busy);
  p.sent(0, 2);
  p.sent(1, 1);
  EXPECT_FALSE(p.gather(2).has_value());
  EXPECT_FALSE(p.next(10).has_value());
  p.finished(0, 2);
  p.finished(1, 1);
  EXPECT_TRUE(p.gather(2).has_value());
}

}  // namespace
