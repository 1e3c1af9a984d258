// The root's own compute slot (see root_slot.hpp).

#include "root/root_slot.hpp"

#include <chrono>
#include <rankpool/this_task.hpp>

#include "observe/telemetry.hpp"

namespace rankpool::detail {

root_slot::root_slot(std::size_t slot, std::uint64_t deadline_ns, telemetry* tel, std::function<void()> finished)
    : slot_(slot), deadline_ns_(deadline_ns), tel_(tel), finished_(std::move(finished)) {
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

void root_slot::loop() {
  while (true) {
    task_ptr t;
    {
      std::unique_lock lk(m_);
      cv_.wait(lk, [&] { return !queue_.empty() || stop_; });
      if (queue_.empty()) return;
      t = std::move(queue_.front());
      queue_.pop_front();
    }
    run_one(*t);
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
  const std::int64_t t0 = tel_ ? telemetry::now() : 0;
  t.run_here(ctx.deadline);
  if (tel_) {
    telemetry::task_event ev;
    ev.slot = slot_;
    ev.elements = static_cast<std::uint32_t>(t.weight);
    ev.submitted = t.submitted_ns;
    ev.dispatched = t0;
    ev.started = t0;
    ev.ended = telemetry::now();
    tel_->task_done(t, ev);
  }
}

}  // namespace rankpool::detail
