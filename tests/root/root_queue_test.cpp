// The root's queue of unsent tasks without MPI: one shared queue by priority, lanes for the
// tasks of a contiguous map (map_options::contiguous), a slot's own lane before the shared queue
// on equal priority, stealing the end of the longest other lane, tasks taken back, and clearing.

#include "root/root_queue.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <vector>

namespace {

using rankpool::detail::root_queue;
using rankpool::detail::task;
using rankpool::detail::task_ptr;

// A task that is never run: only its number, priority and place matter here.
class labelled final : public task {
 public:
  labelled(int number, double where, int prio) : n(number) {
    place = where;
    priority = prio;
  }
  void run_here(time_point) noexcept override {}
  void complete_from(rankpool::detail::reader&) noexcept override {}
  const char* type_name() const noexcept override { return "labelled"; }
  int n;
};

task_ptr make(int n, double place = -1, int priority = 0) {
  return std::make_unique<labelled>(n, place, priority);
}

int number(const task_ptr& t) {
  return t ? static_cast<const labelled&>(*t).n : -1;
}

// Pops everything for `slot`, in order.
std::vector<int> drain(root_queue& q, std::optional<std::size_t> slot) {
  std::vector<int> out;
  while (task_ptr t = q.pop(slot)) out.push_back(number(t));
  return out;
}

TEST(root_queue, WithoutPlacesItIsOneQueueByPriority) {
  root_queue q(3);
  q.push(make(1));
  q.push(make(2, -1, 5));
  q.push(make(3));
  q.push(make(4, -1, 5));
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(number(q.pop(2)), 2);
  EXPECT_EQ(number(q.pop(std::nullopt)), 4);
  EXPECT_EQ(drain(q, 0), (std::vector<int>{1, 3}));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.pop(0), nullptr);
  EXPECT_EQ(q.peek(0), nullptr);
}

TEST(root_queue, EachSlotTakesItsStretchInOrderFirst) {
  root_queue q(2);
  for (int i = 0; i < 8; ++i) q.push(make(i, (i + 0.5) / 8));
  EXPECT_EQ(q.size(), 8u);
  EXPECT_EQ(number(q.pop(1)), 4);
  EXPECT_EQ(number(q.pop(0)), 0);
  EXPECT_EQ(number(q.pop(1)), 5);
  EXPECT_EQ(number(q.pop(0)), 1);
  EXPECT_EQ(q.size(), 4u);
}

TEST(root_queue, ASlotWithNothingOfItsOwnTakesTheEndOfTheLongestLane) {
  root_queue q(3);
  // Lane 0: 0, 1; lane 1: 2, 3, 4, 5; lane 2: empty.
  for (int i = 0; i < 2; ++i) q.push(make(i, 0.1));
  for (int i = 2; i < 6; ++i) q.push(make(i, 0.5));
  ASSERT_NE(q.peek(2), nullptr);
  EXPECT_EQ(static_cast<const labelled*>(q.peek(2))->n, 5);
  EXPECT_EQ(number(q.pop(2)), 5);
  EXPECT_EQ(number(q.pop(2)), 4);
  // Lanes 0 and 1 both hold two now: either is fine, but each steal takes a lane's last task.
  const int third = number(q.pop(2));
  EXPECT_TRUE(third == 3 || third == 1) << third;
  // The owners still take their lanes from the front.
  EXPECT_EQ(number(q.pop(1)), 2);
  EXPECT_EQ(number(q.pop(0)), 0);
}

TEST(root_queue, TheRootsOwnSlotTakesSharedTasksFirstThenSteals) {
  root_queue q(2);
  q.push(make(1, 0.9));
  q.push(make(2));
  EXPECT_EQ(number(q.pop(std::nullopt)), 2);
  EXPECT_EQ(number(q.pop(std::nullopt)), 1);
  EXPECT_TRUE(q.empty());
}

TEST(root_queue, HigherPriorityWinsBetweenTheLaneAndTheSharedQueue) {
  root_queue q(2);
  q.push(make(1, 0.2));                                    // lane 0, priority 0
  q.push(make(2, -1, 3));                                  // shared, priority 3
  q.push(make(3, -1));                                     // shared, priority 0
  q.push(make(4, 0.3, 7));                                 // lane 0, priority 7: before task 1 in its lane
  EXPECT_EQ(drain(q, 0), (std::vector<int>{4, 2, 1, 3}));  // on a tie the lane first
}

TEST(root_queue, ATaskTakenBackGoesToTheFrontOfItsLane) {
  root_queue q(2);
  q.push(make(1, 0.6));
  q.push(make(2, 0.7));
  q.push_taken_back(make(0, 0.55));
  q.push_taken_back(make(9));
  EXPECT_EQ(drain(q, 1), (std::vector<int>{0, 1, 2, 9}));
}

TEST(root_queue, OneLaneOrNoneKeepsPlacedTasksInTheSharedQueue) {
  for (std::size_t lanes : {0u, 1u}) {
    root_queue q(lanes);
    q.push(make(1, 0.9));
    q.push(make(2, 0.1));
    EXPECT_EQ(drain(q, 0), (std::vector<int>{1, 2})) << lanes;
  }
}

TEST(root_queue, PlacesOutsideTheRangeLandInTheEndLanes) {
  root_queue q(4);
  q.push(make(1, 1.0));  // the last lane, not past it
  q.push(make(2, 0.0));
  EXPECT_EQ(number(q.pop(3)), 1);
  EXPECT_EQ(number(q.pop(0)), 2);
}

TEST(root_queue, ForEachSeesEveryLaneAndClearEmptiesThem) {
  root_queue q(3);
  q.push(make(1));
  q.push(make(2, 0.1));
  q.push(make(3, 0.9));
  int sum = 0;
  q.for_each([&](task& t) { sum += static_cast<labelled&>(t).n; });
  EXPECT_EQ(sum, 6);
  q.clear();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.pop(1), nullptr);
}

}  // namespace
