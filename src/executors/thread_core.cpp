// Local worker threads: thread_executor, and comm_executor on a one-rank communicator.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <rankpool/detail/log.hpp>
#include <rankpool/detail/thread_core.hpp>
#include <rankpool/this_pool.hpp>
#include <string>
#include <thread>
#include <utility>

#include "common/broken.hpp"
#include "common/pool_view.hpp"
#include "common/slot_keeper.hpp"
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
    slots_ = workers;
    view_.emplace(make_pool_view(*this));
    for (std::size_t i = 0; i < workers; ++i) start_thread(false);
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
    // A thread may start while others end (a task's wait lends its slot): join until none is
    // left. A deque's elements stay where they are as it grows.
    for (std::size_t i = 0;; ++i) {
      std::thread* th;
      {
        std::lock_guard lk(m_);
        if (i >= threads_.size()) break;
        th = &threads_[i];
      }
      if (th->joinable() && th->get_id() != std::this_thread::get_id()) th->join();
      all_joined &= !th->joinable();
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
  std::size_t num_workers() const noexcept override { return closed_.load(std::memory_order_relaxed) ? 0 : slots_; }
  bool wants_bytes() const noexcept override { return false; }
  bool runs_locally() const noexcept override { return true; }

 private:
  // Starts a thread: one of the slots' at the start, or a spare while a task waits (`spare`).
  void start_thread(bool spare) {
    std::lock_guard lk(m_);
    const std::size_t index = threads_.size();
    running_.push_back(nullptr);
    threads_.emplace_back([this, index, spare] { worker_loop(index, spare); });
  }

  void worker_loop(std::size_t index, bool spare) {
    if (spare && !keeper_.take_slot()) return;
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
        keeper_.close();
        for (auto& t : failed) t->fail(e);
        return;
      }
    }
    lender hook(*this);
    task_pool_scope pool_scope(&*view_, &hook);
    while (true) {
      if (!keeper_.between_tasks()) return;  // a task that waited has the slot; this thread parked
      task_ptr t;
      std::size_t queued = 0;
      {
        std::unique_lock lk(m_);
        // After shutdown the threads stay while a task runs: it may submit more (this_pool()).
        cv_.wait(
            lk, [&] { return !queue_.empty() || (shutdown_ && active_ == 0) || broken_ || keeper_.reclaim_pending(); });
        if (broken_ || (queue_.empty() && shutdown_ && active_ == 0)) {
          lk.unlock();
          keeper_.close();  // parked spares end too
          return;
        }
        if (queue_.empty()) continue;  // a task that waited wants the slot back
        t = std::move(queue_.front());
        queue_.pop_front();
        queued = queue_.size();
        ++active_;
      }
      hook.in_task = true;
      run_one(index, std::move(t), queued);
      hook.in_task = false;
      bool last;
      {
        std::lock_guard lk(m_);
        last = --active_ == 0 && shutdown_;
      }
      if (last) cv_.notify_all();
    }
  }

  // Runs `t` on thread `index` (`queued`: tasks left behind it, for observers).
  void run_one(std::size_t index, task_ptr t, std::size_t queued) {
    if (!t->state().set_running()) return;
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
    // A spare thread (index past the slots) reports as one of the slots: traces and the summary
    // know only those, and would drop its tasks.
    hooks_.ran_here(*t, index % slots_, started);
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

  // The wait hook of one thread: its task waits on futures (this_pool()'s, as a rule) and
  // lends the thread's slot meanwhile (slot_keeper), so a recursion deeper than the threads
  // finishes.
  class lender final : public wait_hook {
   public:
    explicit lender(thread_core& core) : core_(core) {}
    bool lend() override {
      if (!in_task || !core_.keeper_.lend()) return false;
      core_.busy_.fetch_sub(1, std::memory_order_relaxed);
      return true;
    }
    void reclaim() override {
      core_.keeper_.reclaim();
      core_.busy_.fetch_add(1, std::memory_order_relaxed);
    }
    bool in_task = false;  // only a task's own wait lends

   private:
    thread_core& core_;
  };

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
  std::size_t slots_ = 0;            // threads running tasks at once
  std::size_t active_ = 0;           // tasks started and not ended (running or waiting)
  slot_keeper keeper_{[this] { start_thread(true); },
                      [this] {
                        { std::lock_guard lk(m_); }  // a thread between its look and its sleep sees it
                        cv_.notify_all();
                      }};
  std::optional<task_pool> view_;  // this_pool() for the tasks run here
  std::mutex join_mutex_;
  std::deque<std::thread> threads_;  // the slots' threads and spares; under m_
};

}  // namespace

std::unique_ptr<executor_core> make_thread_core(std::size_t workers, std::function<void()> initializer,
                                                std::uint64_t deadline_ns, const executor_options* options,
                                                const char* name) {
  return std::make_unique<thread_core>(workers, std::move(initializer), deadline_ns,
                                       telemetry_config_of(options ? *options : executor_options{}), name);
}

}  // namespace rankpool::detail
