// A team of threads inside one worker rank (see thread_team.hpp).

#include "worker/thread_team.hpp"

#include "worker/run_task.hpp"
#include "worker/stop_board.hpp"

namespace rankpool::detail {

thread_team::thread_team(std::size_t n, const std::function<void()>& initializer, stop_board& board,
                         std::uint64_t deadline_ns)
    : board_(board), deadline_ns_(deadline_ns) {
  for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this, &initializer, i] { run(initializer, i); });
}

thread_team::~thread_team() {
  {
    std::lock_guard lk(m_);
    stop_ = true;
  }
  jobs_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool thread_team::push(task_queue::item it) {
  {
    std::lock_guard lk(m_);
    if (!jobs_.push(std::move(it))) return false;
  }
  jobs_cv_.notify_one();
  return true;
}

bool thread_team::cancel(std::uint64_t id) {
  std::lock_guard lk(m_);
  return jobs_.cancel(id);
}

std::vector<std::uint64_t> thread_team::take_back(std::size_t n) {
  std::lock_guard lk(m_);
  return jobs_.take_back(n);
}

bool thread_team::drain(result_sender& results) {
  std::deque<finished> got;
  {
    std::lock_guard lk(m_);
    got.swap(done_);
  }
  for (auto& f : got) results.add(f.id, f.body.data(), f.body.size(), f.exec_ns, f.started, f.lane);
  return !got.empty();
}

void thread_team::wait_for_results(std::chrono::microseconds d) {
  std::unique_lock lk(m_);
  done_cv_.wait_for(lk, d, [&] { return !done_.empty(); });
}

std::exception_ptr thread_team::init_error() {
  std::lock_guard lk(m_);
  return init_error_;
}

void thread_team::run(const std::function<void()>& initializer, std::size_t lane) {
  std::exception_ptr failed;
  if (initializer) {
    try {
      initializer();
    } catch (...) {
      failed = std::current_exception();
      std::lock_guard lk(m_);
      if (!init_error_) init_error_ = failed;
      done_cv_.notify_all();
    }
  }
  while (true) {
    task_queue::item j;
    {
      std::unique_lock lk(m_);
      jobs_cv_.wait(lk, [&] { return !jobs_.empty() || stop_; });
      if (jobs_.empty()) return;
      j = std::move(*jobs_.pop());
    }
    writer out;
    task_timing t;
    if (failed) {
      t.started = std::chrono::steady_clock::now();
      write_exception(out, broken_by_initializer());
      board_.forget(j.id);
    } else {
      // Only the rank's main thread reads control messages.
      t = run_task(j.id, j.body, j.n, out, board_, false, deadline_ns_);
    }
    out.reset_archive();
    {
      std::lock_guard lk(m_);
      done_.push_back({j.id, t.exec_ns, out.take(), t.started, static_cast<std::uint32_t>(lane)});
    }
    done_cv_.notify_all();
  }
}

}  // namespace rankpool::detail
