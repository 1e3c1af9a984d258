// User threads -> the root's progress thread (see inbox.hpp).

#include "root/inbox.hpp"

#include <rankpool/detail/spin.hpp>
#include <rankpool/errors.hpp>

namespace rankpool::detail {

void inbox::submit(std::vector<task_ptr>& tasks) {
  std::unique_lock lk(m_);
  if (shutdown_) throw invalid_state_error("rankpool: cannot submit after shutdown");
  if (broken_) {
    auto e = broken_error_;
    lk.unlock();
    for (auto& t : tasks) t->fail(e);
    tasks.clear();
    return;
  }
  for (auto& t : tasks) tasks_.push_back(std::move(t));
  tasks.clear();
  has_news_.store(true, std::memory_order_release);
  lk.unlock();
  notify();
}

void inbox::request_shutdown(bool cancel) {
  {
    std::lock_guard lk(m_);
    shutdown_ = true;
    closed_.store(true, std::memory_order_relaxed);
    if (cancel) cancel_requested_ = true;
    has_news_.store(true, std::memory_order_release);
  }
  notify();
}

void inbox::request_terminate(int signal) {
  {
    std::lock_guard lk(m_);
    shutdown_ = true;
    closed_.store(true, std::memory_order_relaxed);
    terminate_requested_ = signal;
    has_news_.store(true, std::memory_order_release);
  }
  notify();
}

void inbox::wake() {
  {
    std::lock_guard lk(m_);
    has_news_.store(true, std::memory_order_release);
  }
  notify();
}

void inbox::notify() {
  cv_.notify_one();
  if (bell_) bell_->ring_own();  // a pause may sleep on the bell (wait)
}

bool inbox::take(news& n) {
  if (!has_news_.load(std::memory_order_acquire)) return false;
  std::lock_guard lk(m_);
  n.tasks.swap(tasks_);
  has_news_.store(false, std::memory_order_relaxed);
  n.stopping = shutdown_;
  n.cancel = std::exchange(cancel_requested_, false);
  n.terminate = std::exchange(terminate_requested_, 0);
  return true;
}

void inbox::wait(std::optional<std::chrono::microseconds> pause, std::uint32_t ticket) {
  if (pause && bell_ && !spin_allowed()) {          // a ring only comes where ranks share cores (node_bells)
    if (!has_news()) bell_->sleep(ticket, *pause);  // wake() rings it too
    return;
  }
  std::unique_lock lk(m_);
  auto has_news = [&] { return has_news_.load(std::memory_order_acquire); };
  if (has_news()) return;
  if (pause) {
    cv_.wait_for(lk, *pause);
  } else {
    cv_.wait(lk, has_news);
  }
}

bool inbox::break_with(const std::exception_ptr& e, std::vector<task_ptr>& left) {
  std::lock_guard lk(m_);
  left.swap(tasks_);
  if (!broken_error_) broken_error_ = e;
  closed_.store(true, std::memory_order_relaxed);
  return !std::exchange(broken_, true);
}

std::exception_ptr inbox::broken_error() {
  std::lock_guard lk(m_);
  return broken_error_;
}

}  // namespace rankpool::detail
