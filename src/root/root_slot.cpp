// The root's own compute slot (see root_slot.hpp).

#include "root/root_slot.hpp"

#include <chrono>
#include <rankpool/this_pool.hpp>
#include <rankpool/this_task.hpp>

namespace rankpool::detail {

root_slot::root_slot(std::size_t slot, std::uint64_t deadline_ns, const hooks& watch, std::function<void()> finished,
                     task_pool* pool)
    : slot_(slot), deadline_ns_(deadline_ns), hooks_(watch), finished_(std::move(finished)), pool_(pool) {
  thread_ = std::thread([this] { loop(); });
}

root_slot::~root_slot() {
  stop();
}

void root_slot::give(std::vector<task_ptr>& tasks) {
  {
    std::lock_guard lk(m_);
    for (auto& t : tasks) queue_.push_back(std::move(t));
  }
  tasks.clear();
  cv_.notify_one();
}

void root_slot::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void root_slot::terminate(const std::exception_ptr& e) {
  std::deque<task_ptr> dropped;
  {
    std::lock_guard lk(m_);
    dropped.swap(queue_);
    if (current_) {
      current_->state().request_stop();
      current_->state().set_exception(e);
    }
  }
  for (auto& t : dropped) t->fail(e);
  done_.fetch_add(dropped.size(), std::memory_order_acq_rel);
}

void root_slot::loop() {
  task_pool_scope scope(pool_, nullptr);
  while (true) {
    task_ptr t;
    {
      std::unique_lock lk(m_);
      cv_.wait(lk, [&] { return !queue_.empty() || stop_; });
      if (queue_.empty()) return;
      t = std::move(queue_.front());
      queue_.pop_front();
      current_ = t.get();
    }
    // Marked running only now, so cancel() works until the task starts here.
    const bool ran = t->state().set_running();
    if (ran) run_one(*t);
    {
      std::lock_guard lk(m_);
      current_ = nullptr;
      if (ran && t->state().get_status() == status::pending) {  // it failed and runs again (retries)
        queue_.push_back(std::move(t));
        continue;
      }
    }
    t.reset();
    done_.fetch_add(1, std::memory_order_acq_rel);
    finished_();
  }
}

void root_slot::run_one(task& t) {
  task_context ctx;
  ctx.stop = &t.state().stop_flag();
  if (deadline_ns_) ctx.deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(deadline_ns_);
  task_context_scope scope(ctx);
  const std::int64_t started = hooks_.stamp();
  t.run_here(ctx.deadline);
  hooks_.ran_here(t, slot_, started);
}

}  // namespace rankpool::detail
