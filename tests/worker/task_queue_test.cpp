// A worker's unstarted tasks without MPI: order, cancel before and after arrival, cancel of a
// task that started, and take-back from the back.

#include "worker/task_queue.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

using rankpool::detail::task_queue;

task_queue::item task(std::uint64_t id) {
  task_queue::item it;
  it.id = id;
  return it;
}

std::vector<std::uint64_t> drain(task_queue& q) {
  std::vector<std::uint64_t> ids;
  while (auto it = q.pop()) ids.push_back(it->id);
  return ids;
}

TEST(task_queue, RunsInTheOrderSent) {
  task_queue q;
  for (std::uint64_t id : {3, 4, 7}) EXPECT_TRUE(q.push(task(id)));
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(drain(q), (std::vector<std::uint64_t>{3, 4, 7}));
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.pop());
}

TEST(task_queue, CancelOfAWaitingTaskRemovesIt) {
  task_queue q;
  for (std::uint64_t id : {1, 2, 3}) q.push(task(id));
  EXPECT_TRUE(q.cancel(2));
  EXPECT_EQ(drain(q), (std::vector<std::uint64_t>{1, 3}));
}

TEST(task_queue, CancelOfAStartedTaskFails) {
  task_queue q;
  q.push(task(1));
  q.push(task(2));
  ASSERT_EQ(q.pop()->id, 1u);  // started
  EXPECT_FALSE(q.cancel(1));
  EXPECT_TRUE(q.cancel(2));
  EXPECT_FALSE(q.cancel(2)) << "a task cancelled once is gone";
}

TEST(task_queue, CancelBeforeArrivalDropsTheTaskWhenItComes) {
  task_queue q;
  q.push(task(1));
  EXPECT_TRUE(q.cancel(5));  // sent by the root, not here yet
  EXPECT_TRUE(q.push(task(4)));
  EXPECT_FALSE(q.push(task(5)));
  EXPECT_TRUE(q.push(task(6)));
  EXPECT_EQ(drain(q), (std::vector<std::uint64_t>{1, 4, 6}));
}

TEST(task_queue, TakeBackReturnsTheLastSentFirst) {
  task_queue q;
  for (std::uint64_t id = 1; id <= 5; ++id) q.push(task(id));
  EXPECT_EQ(q.take_back(2), (std::vector<std::uint64_t>{5, 4}));
  EXPECT_EQ(q.take_back(10), (std::vector<std::uint64_t>{3, 2, 1}));
  EXPECT_TRUE(q.take_back(1).empty());
  EXPECT_FALSE(q.cancel(3)) << "a task taken back is not here any more";
}

}  // namespace
