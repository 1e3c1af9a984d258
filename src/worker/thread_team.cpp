// A team of threads inside one worker rank (see thread_team.hpp).

#include "worker/thread_team.hpp"

#include <rankpool/this_pool.hpp>

#include "worker/run_task.hpp"
#include "worker/stop_board.hpp"

namespace rankpool::detail {

thread_team::thread_team(std::size_t n, const std::function<void()>& initializer, stop_board& board,
                         std::uint64_t deadline_ns)
    : board_(board),
      deadline_ns_(deadline_ns),
      initializer_(initializer),
      lanes_(n),
      keeper_([this] { start_spare(); },
              [this] {
                { std::lock_guard lk(m_); }  // a thread between its look and its sleep sees the reclaimer
                jobs_cv_.notify_all();
              }) {
  std::lock_guard lk(threads_m_);
  for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this, i] { run(i, false); });
}

thread_team::~thread_team() {
  {
    std::lock_guard lk(m_);
    stop_ = true;
  }
  keeper_.close();
  jobs_cv_.notify_all();
  // A spare may start while the others end: join until none is left.
  while (true) {
    std::vector<std::thread> ending;
    {
      std::lock_guard lk(threads_m_);
      ending.swap(threads_);
    }
    if (ending.empty()) break;
    for (auto& t : ending) t.join();
  }
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
  done_cv_.wait_for(lk, d, [&] { return !done_.empty() || woken_; });
  woken_ = false;
}

void thread_team::wake() {
  {
    std::lock_guard lk(m_);
    woken_ = true;
  }
  done_cv_.notify_all();
}

void thread_team::lend_with(task_pool* pool, nested_client* client) {
  std::lock_guard lk(m_);
  pool_ = pool;
  client_ = client;
}

// The wait hook of one thread of the team: only a task's own wait lends the thread's slot.
class thread_team::lender final : public wait_hook {
 public:
  explicit lender(thread_team& team) : team_(team) {}
  bool lend() override {
    if (!in_job || !team_.client_ || !team_.keeper_.lend()) return false;
    team_.client_->lend();
    return true;
  }
  void reclaim() override {
    team_.keeper_.reclaim();
    team_.client_->reclaim();
  }
  bool in_job = false;

 private:
  thread_team& team_;
};

void thread_team::start_spare() {
  std::lock_guard lk(threads_m_);
  const std::size_t lane = threads_.size() % lanes_;  // a trace shows it on a lane of the rank
  threads_.emplace_back([this, lane] { run(lane, true); });
}

std::exception_ptr thread_team::init_error() {
  std::lock_guard lk(m_);
  return init_error_;
}

void thread_team::run(std::size_t lane, bool spare) {
  if (spare && !keeper_.take_slot()) return;
  std::exception_ptr failed;
  if (initializer_) {
    try {
      initializer_();
    } catch (...) {
      failed = std::current_exception();
      std::lock_guard lk(m_);
      if (!init_error_) init_error_ = failed;
      done_cv_.notify_all();
    }
  }
  lender hook(*this);
  while (true) {
    if (!keeper_.between_tasks()) return;  // a task that waited has the slot now; this one parked
    task_queue::item j;
    task_pool* pool;
    {
      std::unique_lock lk(m_);
      jobs_cv_.wait(lk, [&] { return !jobs_.empty() || stop_ || keeper_.reclaim_pending(); });
      if (jobs_.empty()) {
        if (stop_) return;
        continue;  // a reclaimer: give it the slot
      }
      j = std::move(*jobs_.pop());
      pool = pool_;
    }
    task_pool_scope scope(pool, pool ? &hook : nullptr);
    hook.in_job = true;
    run_job(j, lane, failed);
    hook.in_job = false;
  }
}

void thread_team::run_job(const task_queue::item& j, std::size_t lane, const std::exception_ptr& failed) {
  {
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
