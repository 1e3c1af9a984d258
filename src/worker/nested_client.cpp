// this_pool() on a worker rank (see nested_client.hpp).

#include "worker/nested_client.hpp"

#include <cstring>
#include <limits>

namespace rankpool::detail {

nested_client::nested_client(std::size_t workers, bool usable, std::function<void()> kick)
    : workers_(workers), usable_(usable), kick_(std::move(kick)) {}

void nested_client::submit(std::vector<task_ptr>& tasks) {
  if (!usable_)
    throw invalid_state_error(
        "rankpool: this_pool() on a worker needs MPI_THREAD_SERIALIZED or more, or threads_per_worker above 1 "
        "(a task's wait would hold the only thread that may read its results)");
  for (auto& t : tasks) {
    const auto& bytes = t->bytes();  // header room, then the body (prepare_task encoded it)
    if (bytes.size() < task_header_room) throw invalid_state_error("rankpool: a nested task was not encoded");
    const std::size_t body = bytes.size() - task_header_room;
    wire::nested_record rec{};
    rec.priority = t->priority;
    if (t->retry) rec.retries = static_cast<std::uint32_t>(std::min<std::size_t>(t->retry->retries, UINT32_MAX));
    std::vector<char> msg(sizeof(wire::header) + sizeof rec + body);
    std::memcpy(msg.data() + sizeof(wire::header), &rec, sizeof rec);
    std::memcpy(msg.data() + sizeof(wire::header) + sizeof rec, bytes.data() + task_header_room, body);
    std::uint64_t number;
    {
      std::lock_guard lk(m_);
      number = next_++;
    }
    wire::put_header(msg.data(), wire::kind::nested_submit, number, sizeof rec + body);
    // Running from now on, but withdrawable: cancel() asks the root, which knows whether it started.
    t->state().set_running(this, number, 0, true);
    {
      std::lock_guard lk(m_);
      waiting_.emplace(number, std::move(t));
      out_.push_back(std::move(msg));
      has_out_.store(true, std::memory_order_release);
    }
  }
  tasks.clear();
  if (kick_) kick_();
}

bool nested_client::request_withdraw(std::uint64_t number, int) noexcept {
  if (!usable_) return false;
  try {
    queue_plain(wire::kind::nested_cancel, number);
    return true;
  } catch (...) {  // out of memory: the cancel fails
    return false;
  }
}

void nested_client::queue_plain(wire::kind k, std::uint64_t id) {
  std::vector<char> msg(sizeof(wire::header));
  wire::put_header(msg.data(), k, id, 0);
  queue(std::move(msg));
}

void nested_client::queue(std::vector<char> msg) {
  {
    std::lock_guard lk(m_);
    out_.push_back(std::move(msg));
    has_out_.store(true, std::memory_order_release);
  }
  if (kick_) kick_();
}

std::deque<std::vector<char>> nested_client::take_outgoing() {
  std::deque<std::vector<char>> out;
  std::lock_guard lk(m_);
  out.swap(out_);
  has_out_.store(false, std::memory_order_release);
  return out;
}

void nested_client::deliver(const wire::header& h, const char* body, std::size_t n) {
  const std::uint8_t flags = h.reserved[0];
  task_ptr t;
  {
    std::lock_guard lk(m_);
    auto it = waiting_.find(h.id);
    if (it == waiting_.end()) return;
    if (flags & wire::flag_refused) {
      it->second->state().refuse_withdraw();  // started: a waiting cancel() returns false
      return;
    }
    t = std::move(it->second);
    waiting_.erase(it);
  }
  // Completed without the lock: a done callback may submit again.
  if (flags & wire::flag_cancelled) {
    if (!t->state().withdrawn()) t->state().cancel();  // the root cancelled it unasked (shutdown)
    return;
  }
  reader in(body, n);
  t->complete_from(in);
}

}  // namespace rankpool::detail
