// Local worker threads: thread_executor, and comm_executor on a one-rank communicator.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <rankpool/detail/log.hpp>
#include <rankpool/detail/thread_core.hpp>
#include <string>
#include <thread>

#include "common/broken.hpp"
#include "common/text.hpp"
#include "executors/options.hpp"
#include "observe/telemetry.hpp"

namespace rankpool::detail {
namespace {

class thread_core final : public executor_core {
 public:
  thread_core(std::size_t workers, std::function<void()> initializer, std::uint64_t deadline_ns,
              const telemetry_config& tc, const char* name)
      : init_(std::move(initializer)), deadline_ns_(deadline_ns) {
    hooks_.attach(make_telemetry(tc, name));
    workers_.store(workers, std::memory_order_relaxed);
    for (std::size_t i = 0; i < workers; ++i) hooks_.slot(i, "thread " + std::to_string(i), 1);
    RANKPOOL_LOG(info, "%s: %zu local threads", name, workers);
    threads_.reserve(workers);
    running_.assign(workers, nullptr);
    for (std::size_t i = 0; i < workers; ++i) threads_.emplace_back([this, i] { worker_loop(i); });
  }
  ~thread_core() override { shutdown(true, false); }

  void submit(std::vector<task_ptr>& tasks) override {
    std::unique_lock lk(m_);
    if (shutdown_) throw invalid_state_error("rankpool: cannot submit after shutdown");
    if (broken_) {
      const auto e = broken_error_;
      lk.unlock();
      for (auto& t : tasks) t->fail(e);
      tasks.clear();
      return;
    }
    hooks_.submitted(tasks);
    for (auto& t : tasks) enqueue(queue_, std::move(t));
    tasks.clear();
    hooks_.queue_depth(queue_.size(), busy_.load(std::memory_order_relaxed));
    lk.unlock();
    cv_.notify_all();
  }

  void shutdown(bool wait, bool cancel_futures) override {
    std::deque<task_ptr> dropped;
    {
      std::lock_guard lk(m_);
      shutdown_ = true;
      closed_.store(true, std::memory_order_relaxed);
      if (cancel_futures) dropped.swap(queue_);
    }
    cv_.notify_all();
    for (auto& t : dropped) t->state().cancel();
    if (!wait) return;
    std::lock_guard jl(join_mutex_);
    bool all_joined = true;
    for (auto& th : threads_) {
      if (th.joinable() && th.get_id() != std::this_thread::get_id()) th.join();
      all_joined &= !th.joinable();
    }
    // Every task has run: the trace and summary are complete.
    if (all_joined) hooks_.finish();
  }

  // Local threads cannot be killed: their running tasks are asked to stop and their futures
  // fail now; the threads are joined when the core is destroyed (or by a later shutdown(wait)).
  void terminate(int signal) override {
    const auto e = terminated_error(signal);
    std::deque<task_ptr> dropped;
    std::vector<std::shared_ptr<state_base>> running;
    {
      std::lock_guard lk(m_);
      shutdown_ = true;
      if (!broken_error_) broken_error_ = e;
      broken_ = true;
      closed_.store(true, std::memory_order_relaxed);
      dropped.swap(queue_);
      for (auto* t : running_)
        if (t) running.push_back(t->state().shared_from_this());
    }
    cv_.notify_all();
    for (auto& t : dropped) t->fail(e);
    for (auto& st : running) {
      st->request_stop();
      st->set_exception(e);
    }
  }

  /// 0 after shutdown and on a broken pool, as concurrent.futures' tests expect.
  std::size_t num_workers() const noexcept override {
    return closed_.load(std::memory_order_relaxed) ? 0 : threads_.size();
  }
  bool wants_bytes() const noexcept override { return false; }
  bool runs_locally() const noexcept override { return true; }

 private:
  void worker_loop(std::size_t index) {
    if (init_) {
      try {
        init_();
      } catch (...) {
        const auto cause = std::current_exception();
        std::deque<task_ptr> failed;
        std::exception_ptr e;
        {
          std::lock_guard lk(m_);
          if (!broken_error_)
            broken_error_ = broken_because(
                "rankpool: the executor is broken: a worker's initializer failed: " + describe(cause), cause);
          e = broken_error_;
          broken_ = true;
          closed_.store(true, std::memory_order_relaxed);
          failed.swap(queue_);
        }
        cv_.notify_all();
        for (auto& t : failed) t->fail(e);
        return;
      }
    }
    while (true) {
      task_ptr t;
      std::size_t queued = 0;
      {
        std::unique_lock lk(m_);
        cv_.wait(lk, [&] { return !queue_.empty() || shutdown_ || broken_; });
        if (broken_ || queue_.empty()) return;  // broken, or shut down with nothing left
        t = std::move(queue_.front());
        queue_.pop_front();
        queued = queue_.size();
      }
      if (!t->state().set_running()) continue;
      {
        std::lock_guard lk(m_);
        running_[index] = t.get();
      }
      task_context ctx;
      ctx.stop = &t->state().stop_flag();
      if (deadline_ns_) ctx.deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(deadline_ns_);
      task_context_scope scope(ctx);
      const std::size_t running = busy_.fetch_add(1, std::memory_order_relaxed) + 1;
      hooks_.queue_depth(queued, running);
      const std::int64_t started = hooks_.stamp();
      t->run_here(ctx.deadline);
      hooks_.ran_here(*t, index, started);
      busy_.fetch_sub(1, std::memory_order_relaxed);
      {
        std::lock_guard lk(m_);
        running_[index] = nullptr;
      }
      if (t->state().get_status() == detail::status::pending) {  // it failed and runs again (retries)
        {
          std::lock_guard lk(m_);
          enqueue(queue_, std::move(t));
        }
        cv_.notify_one();
      }
    }
  }

  std::function<void()> init_;
  std::uint64_t deadline_ns_;
  hooks hooks_;  // trace and summary, when asked for
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<task_ptr> queue_;
  std::vector<task*> running_;  // each thread's running task (null when idle), for terminate
  bool shutdown_ = false;
  bool broken_ = false;
  std::exception_ptr broken_error_;  // set with broken_
  std::atomic<bool> closed_{false};  // shutdown_ or broken_, readable without the lock
  std::mutex join_mutex_;
  std::vector<std::thread> threads_;
};

}  // namespace

std::unique_ptr<executor_core> make_thread_core(std::size_t workers, std::function<void()> initializer,
                                                std::uint64_t deadline_ns, const executor_options* options,
                                                const char* name) {
  return std::make_unique<thread_core>(workers, std::move(initializer), deadline_ns,
                                       telemetry_config_of(options ? *options : executor_options{}), name);
}

}  // namespace rankpool::detail
