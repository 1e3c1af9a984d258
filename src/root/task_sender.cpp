// How the root's tasks leave for the workers (see task_sender.hpp).

#include "root/task_sender.hpp"

#include <cstring>
#include <rankpool/detail/log.hpp>

#include "wire/framing.hpp"

namespace rankpool::detail {

void task_sender::send(std::vector<std::pair<std::uint64_t, task_ptr>>& tasks, std::size_t w, int dest,
                       bool answer_each) {
  if (tasks.size() == 1) {
    send_alone(tasks.front().first, std::move(tasks.front().second), w, dest);
  } else if (!tasks.empty()) {
    send_batch(tasks, w, dest, answer_each);
  }
  if (bells_ && !tasks.empty()) bells_->ring(dest);  // after the send: the worker finds the tasks when it wakes
  tasks.clear();
}

void task_sender::send_alone(std::uint64_t id, task_ptr t, std::size_t w, int dest) {
  auto& bytes = t->bytes();
  wire::put_header(bytes.data(), wire::kind::task, id, bytes.size() - sizeof(wire::header),
                   t->team ? wire::flag_pinned : 0);
  auto [it, ok] = running_.try_emplace(id, in_flight_task{std::move(t), w, {}});
  auto& sent = it->second;
  sent.dispatched = hooks_.stamp();
  sent.bytes_in = sent.t->bytes().size();
  sent.send.start(sent.t->bytes().data(), sent.t->bytes().size(), dest, comm_);
  hooks_.sent(sent.dispatched, 1, sent.bytes_in);
  if (!it->second.send.test()) sending_.push_back(id);
}

void task_sender::send_batch(std::vector<std::pair<std::uint64_t, task_ptr>>& tasks, std::size_t w, int dest,
                             bool answer_each) {
  batch_send b;
  std::size_t total = sizeof(wire::header);
  for (const auto& [id, t] : tasks) total += sizeof(wire::task_record) + t->bytes().size() - sizeof(wire::header);
  b.bytes.resize(total);
  const std::int64_t batch_start = hooks_.stamp();
  std::size_t at = sizeof(wire::header);
  for (auto& [id, t] : tasks) {
    auto& tb = t->bytes();
    const std::size_t body = tb.size() - sizeof(wire::header);
    wire::task_record rec{id, body};
    std::memcpy(b.bytes.data() + at, &rec, sizeof rec);
    std::memcpy(b.bytes.data() + at + sizeof rec, tb.data() + sizeof(wire::header), body);
    at += sizeof rec + body;
    // The task keeps its own bytes: a worker may return it unstarted, and it is sent again.
    running_.try_emplace(id, in_flight_task{std::move(t), w, {}, batch_start, sizeof rec + body});
  }
  const auto count = static_cast<std::uint64_t>(tasks.size());
  wire::put_header(b.bytes.data(), wire::kind::task_batch, count, b.bytes.size() - sizeof(wire::header),
                   answer_each ? wire::flag_answer_each : 0);
  batches_.push_back(std::move(b));
  auto& sent = batches_.back();
  sent.send.start(sent.bytes.data(), sent.bytes.size(), dest, comm_);
  hooks_.sent(batch_start, count, sent.bytes.size());
  RANKPOOL_LOG(debug, "sent %llu tasks (%zu bytes) to rank %d", static_cast<unsigned long long>(count),
               sent.bytes.size(), dest);
}

bool task_sender::under_way() {
  while (!batches_.empty() && batches_.front().send.test()) batches_.pop_front();
  std::erase_if(sending_, [&](std::uint64_t id) {
    auto it = running_.find(id);
    return it == running_.end() || it->second.send.test();
  });
  std::erase_if(retired_, [](in_flight_task& t) { return t.send.test(); });
  return !batches_.empty() || !sending_.empty() || !retired_.empty();
}

void task_sender::retire(in_flight_task&& gone) {
  if (gone.send.active() && !gone.send.test()) retired_.push_back(std::move(gone));
}

}  // namespace rankpool::detail
