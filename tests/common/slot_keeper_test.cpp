// The slots of threads that run tasks (src/common/slot_keeper), without an executor: a lent slot
// goes to a new thread, then to a parked one; a reclaimer gets a slot before a spare does, and
// only once a holder gives one up; closing wakes every parked thread.

#include "common/slot_keeper.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using rankpool::detail::slot_keeper;

// Spares started by the keeper, each parked in take_slot() until it gets a slot or the keeper closes.
struct spares {
  std::atomic<int> started{0}, holding{0}, ended{0};
  std::vector<std::thread> threads;
  slot_keeper* keeper = nullptr;
  void spawn() {
    ++started;
    threads.emplace_back([this] {
      if (keeper->take_slot()) ++holding;
      ++ended;
    });
  }
  ~spares() {
    for (auto& t : threads) t.join();
  }
};

template <class P>
bool eventually(P p) {
  for (int i = 0; i < 2000; ++i) {
    if (p()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return p();
}

TEST(slot_keeper, a_lent_slot_goes_to_a_new_thread_once) {
  spares s;
  slot_keeper k([&] { s.spawn(); }, [] {});
  s.keeper = &k;
  ASSERT_TRUE(k.lend());
  EXPECT_EQ(s.started.load(), 1);
  EXPECT_TRUE(eventually([&] { return s.holding.load() == 1; }));
  k.close();
}

TEST(slot_keeper, a_reclaimer_waits_for_a_holder_to_give_its_slot_up) {
  spares s;
  std::atomic<int> woken{0};
  slot_keeper k([&] { s.spawn(); }, [&] { ++woken; });
  s.keeper = &k;
  ASSERT_TRUE(k.lend());  // this thread's task waits; a spare takes the slot
  ASSERT_TRUE(eventually([&] { return s.holding.load() == 1; }));
  std::atomic<bool> back{false};
  std::thread reclaimer([&] {
    k.reclaim();
    back = true;
  });
  ASSERT_TRUE(eventually([&] { return k.reclaim_pending(); }));
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(back.load()) << "every slot is held: the reclaimer must wait";
  EXPECT_GE(woken.load(), 1) << "holders asleep for want of work are woken to see it";
  // The spare, between tasks, gives its slot to the reclaimer and parks.
  std::atomic<bool> parked_result{true};
  std::thread holder([&] { parked_result = k.between_tasks(); });
  EXPECT_TRUE(eventually([&] { return back.load(); }));
  reclaimer.join();
  EXPECT_FALSE(k.reclaim_pending());
  k.close();
  holder.join();
  EXPECT_FALSE(parked_result.load()) << "the parked thread ends when the keeper closes";
}

TEST(slot_keeper, a_parked_thread_takes_the_next_lent_slot_without_a_new_one) {
  spares s;
  slot_keeper k([&] { s.spawn(); }, [] {});
  s.keeper = &k;
  // A holder that parks (a reclaimer took its slot) is the spare for the next lend.
  ASSERT_TRUE(k.lend());
  ASSERT_TRUE(eventually([&] { return s.holding.load() == 1; }));
  std::thread reclaimer([&] { k.reclaim(); });
  ASSERT_TRUE(eventually([&] { return k.reclaim_pending(); }));
  std::atomic<int> again{-1};
  std::thread holder([&] { again = k.between_tasks() ? 1 : 0; });
  reclaimer.join();
  ASSERT_TRUE(k.lend());  // the reclaimed task waits again
  EXPECT_TRUE(eventually([&] { return again.load() == 1; })) << "the parked thread got the slot";
  EXPECT_EQ(s.started.load(), 1) << "no thread was started for it";
  holder.join();
  k.close();
}

TEST(slot_keeper, nothing_is_lent_once_closed) {
  spares s;
  slot_keeper k([&] { s.spawn(); }, [] {});
  s.keeper = &k;
  k.close();
  EXPECT_FALSE(k.lend());
  EXPECT_FALSE(k.between_tasks());
  EXPECT_EQ(s.started.load(), 0);
}

}  // namespace
