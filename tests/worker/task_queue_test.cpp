// A worker's unstarted tasks without MPI: order, cancel before and after arrival, cancel of a
// task that started, take-back from the back, and the answer message that reports them.

#include "worker/task_queue.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "worker/answer.hpp"

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

// A team task's member (pinned) runs where it was sent: its partners wait for it there.
TEST(task_queue, TakeBackLeavesPinnedTasks) {
  task_queue q;
  auto member = task(1);
  member.pinned = true;
  q.push(std::move(member));
  for (std::uint64_t id = 2; id <= 4; ++id) q.push(task(id));
  EXPECT_EQ(q.take_back(2), (std::vector<std::uint64_t>{4, 3}));
  EXPECT_EQ(q.take_back(10), (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(drain(q), (std::vector<std::uint64_t>{1}));
}

TEST(task_queue, TheAnswerCountsEveryRequestAndListsReturnedThenRefused) {
  namespace wire = rankpool::detail::wire;
  task_queue q;
  for (std::uint64_t id = 1; id <= 4; ++id) q.push(task(id));
  ASSERT_EQ(q.pop()->id, 1u);  // started
  auto request = [](wire::kind k, std::uint64_t id) {
    wire::header h{wire::magic, static_cast<std::uint8_t>(k), {0, 0, 0}, id, 0};
    return h;
  };
  const std::vector<wire::header> requests{request(wire::kind::cancel, 1), request(wire::kind::cancel, 3),
                                           request(wire::kind::take_back, 5)};
  const auto b = rankpool::detail::answer_requests(
      requests, [&](std::uint64_t id) { return q.cancel(id); }, [&](std::size_t n) { return q.take_back(n); });
  const auto h = wire::decode_header(b.data(), b.size());
  EXPECT_EQ(h.kind, static_cast<std::uint8_t>(wire::kind::answer));
  EXPECT_EQ(h.id, 3u) << "every request is answered, even one with nothing to return";
  wire::answer_counts counts;
  std::memcpy(&counts, b.data() + sizeof(wire::header), sizeof counts);
  ASSERT_EQ(counts.returned, 3u);  // 3 by cancel, then 4 and 2 taken back
  ASSERT_EQ(counts.refused, 1u);   // 1 had started
  std::vector<std::uint64_t> ids(4);
  ASSERT_EQ(b.size(), sizeof(wire::header) + sizeof counts + ids.size() * sizeof(std::uint64_t));
  std::memcpy(ids.data(), b.data() + sizeof(wire::header) + sizeof counts, ids.size() * sizeof(std::uint64_t));
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{3, 4, 2, 1}));
  EXPECT_TRUE(q.empty());
}

}  // namespace
