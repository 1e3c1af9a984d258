// The root's scheduler. One progress thread owns every MPI call of the pool; user threads hand
// it tasks through an inbox. Each worker gets a window of tasks in flight, sized from the
// measured task time (about 100 µs of work ahead, at least 2 tasks), so a worker never waits a
// round trip; small tasks travel batched in one message, large ones alone and without a copy.
// Idle workers get work first. With root_computes a thread of the root takes tasks as well.

#include "root/scheduler.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <rankpool/detail/log.hpp>
#include <rankpool/this_pool.hpp>
#include <thread>
#include <unordered_map>

#include "common/broken.hpp"
#include "common/pool_view.hpp"
#include "common/text.hpp"
#include "root/control.hpp"
#include "root/dispatch_policy.hpp"
#include "root/dispatcher.hpp"
#include "root/inbox.hpp"
#include "root/intake.hpp"
#include "root/relay.hpp"
#include "root/release.hpp"
#include "root/root_slot.hpp"
#include "root/stop_queue.hpp"
#include "root/task_sender.hpp"
#include "share/node_share.hpp"
#include "wire/framing.hpp"
#include "wire/mpi_call.hpp"
#include "wire/transport.hpp"

namespace rankpool::detail {
namespace {

using clock = std::chrono::steady_clock;

class scheduler final : public executor_core {
 public:
  explicit scheduler(scheduler_config cfg)
      : cfg_(std::move(cfg)),
        policy_({cfg_.workers.size(), cfg_.threads_per_worker, cfg_.root_computes, cfg_.in_flight, cfg_.lead_ns},
                busy_),
        sender_(cfg_.comm, running_, hooks_),
        control_(cfg_.comm, cfg_.workers, stops_),
        relays_(cfg_.comm),
        intake_(cfg_.workers, {running_, queue_, policy_, control_, sender_, hooks_, relays_, stops_},
                {[this](const std::string& why, const std::exception_ptr& cause) { mark_broken(why, cause); },
                 [this](std::size_t w, int rank, const std::string& why) { lose_worker(w, rank, why); },
                 [this] { return inbox_.broken_error(); }}),
        dispatcher_({queue_, teams_, policy_, sender_, stops_, cfg_.workers, nullptr}) {
    if (cfg_.threads_per_worker == 0) cfg_.threads_per_worker = 1;
    workers_.store(num_workers(), std::memory_order_relaxed);
    std::vector<int> serving = cfg_.workers;
    serving.insert(serving.end(), cfg_.idle_ranks.begin(), cfg_.idle_ranks.end());
    shares_ = std::make_shared<node_share>(cfg_.comm, std::exchange(cfg_.nodes, {}), std::move(serving));
    try {
      hooks_.attach(make_telemetry(cfg_.telemetry, cfg_.name));
    } catch (...) {
      // The workers are already serving: release them before the error leaves, or they would
      // wait for a shutdown that never comes.
      stop_workers();
      release_comm();
      throw;
    }
    for (std::size_t i = 0; i < cfg_.workers.size(); ++i)
      hooks_.slot(i, "rank " + std::to_string(cfg_.workers[i]), cfg_.threads_per_worker);
    if (cfg_.root_computes) hooks_.slot(local_slot(), "root", 1);
    RANKPOOL_LOG(info, "%s: %zu worker ranks%s, %zu threads each%s", cfg_.name, cfg_.workers.size(),
                 cfg_.idle_ranks.empty() ? "" : (" (" + std::to_string(cfg_.idle_ranks.size()) + " idle)").c_str(),
                 cfg_.threads_per_worker, cfg_.root_computes ? ", the root computes too" : "");
    if (cfg_.root_computes) {
      view_.emplace(make_pool_view(*this));
      local_.emplace(
          local_slot(), cfg_.task_deadline_ns, hooks_, [this] { inbox_.wake(); }, &*view_);
      dispatcher_.set_local(&*local_);
    }
    thread_ = std::thread([this] { run(); });
  }

  ~scheduler() override {
    try {
      shutdown(true, false);
    } catch (...) {  // the failure is already on every future
    }
    if (thread_.joinable()) thread_.join();  // shutdown came from a callback on the thread itself
    stop_local();
    release_comm();
  }

  void submit(std::vector<task_ptr>& tasks) override {
    hooks_.submitted(tasks);
    inbox_.submit(tasks);
  }

  void shutdown(bool wait, bool cancel_futures) override {
    inbox_.request_shutdown(cancel_futures);
    if (!wait || std::this_thread::get_id() == thread_.get_id()) return;
    std::lock_guard jl(join_mutex_);
    if (thread_.joinable()) thread_.join();
    stop_local();
    if (thread_error_) std::rethrow_exception(std::exchange(thread_error_, nullptr));
  }

  void terminate(int signal) override {
    inbox_.request_terminate(signal);
    if (std::this_thread::get_id() == thread_.get_id()) return;
    std::lock_guard jl(join_mutex_);
    if (thread_.joinable()) thread_.join();
    stop_local();
  }

  /// 0 after shutdown and on a broken pool, as concurrent.futures' tests expect.
  std::size_t num_workers() const noexcept override {
    if (inbox_.closed()) return 0;
    return cfg_.workers.size() * cfg_.threads_per_worker + (cfg_.root_computes ? 1 : 0);
  }
  bool wants_bytes() const noexcept override { return true; }

  void check_team(std::size_t k) const override {
    if (k == 0) throw std::invalid_argument("rankpool: a team task needs at least 1 worker rank");
    if (k > cfg_.workers.size())
      throw std::invalid_argument("rankpool: a team task of " + std::to_string(k) + " worker ranks on a pool of " +
                                  std::to_string(cfg_.workers.size()));
    // The task calls MPI on its team while the worker's watcher thread calls it too.
    int level = MPI_THREAD_SINGLE;
    mpi::call("MPI_Query_thread", MPI_Query_thread, &level);
    if (level < MPI_THREAD_MULTIPLE)
      throw invalid_state_error(
          "rankpool: team tasks need MPI_THREAD_MULTIPLE (a task calls MPI beside the pool's own threads); MPI "
          "provides less here");
  }
  bool runs_locally() const noexcept override { return cfg_.root_computes; }
  share_service* sharing() noexcept override { return shares_.get(); }

 private:
  void run() {
    stops_.set_owner(std::this_thread::get_id());
    shares_->set_progress_thread(std::this_thread::get_id());
    try {
      loop();
    } catch (...) {
      fail_progress_thread();
    }
    // Every result is in (or the pool failed): the trace and summary are complete.
    hooks_.finish();
  }

  void loop() {
    transport::backoff pace(std::chrono::microseconds(200), std::chrono::microseconds(500));
    transport::incoming msg;
    bool stopping = false;
    while (true) {
      bool progressed = take_inbox(stopping);
      progressed |= collect_local();
      progressed |= dispatcher_.dispatch();
      if (queue_.empty()) control_.ask_back(policy_);
      while (receive(msg)) {
        intake_.handle(msg);
        progressed = true;
      }
      if (progressed) hooks_.queue_depth(queue_.size() + teams_.size(), running_.size() + policy_.root_load());
      const bool sending = sender_.under_way() | relays_.send_ready();
      control_.forward(running_);
      // Every request answered too: an answer still on its way would reach the next pool.
      if (stopping && queue_.empty() && teams_.empty() && running_.empty() && policy_.root_load() == 0 &&
          control_.all_answered())
        break;
      if (progressed) {
        pace.reset();
        continue;
      }
      if (sending) {
        std::this_thread::yield();
        continue;
      }
      auto pause = pace.next();
      if (pause.count() == 0) continue;  // still in the spin phase
      if (running_.empty() && policy_.root_load() == 0 && control_.all_answered()) {
        // Nothing can arrive from the workers: sleep until a user thread has news.
        inbox_.wait(std::nullopt);
        pace.reset();
      } else {
        inbox_.wait(pause);
      }
    }
    // Replies to nested submits go before the shutdown (the same tag keeps them in order).
    while (sender_.under_way() | relays_.send_ready()) std::this_thread::yield();
    // Every task is done: the shared values leave the nodes before the workers do.
    shares_->close_all();
    RANKPOOL_LOG(info, "%s: shutting down the workers", cfg_.name);
    hooks_.instant("shutdown");
    stop_workers();
  }

  bool receive(transport::incoming& msg) {
    try {
      return transport::try_receive(MPI_ANY_SOURCE, cfg_.comm, msg);
    } catch (const decode_error& e) {
      RANKPOOL_LOG(warn, "root dropped a malformed message: %s", e.what());
      return true;  // something was consumed: poll again
    }
  }

  // Moves new tasks from the inbox; applies shutdown and cancel requests.
  bool take_inbox(bool& stopping) {
    inbox::news n;
    if (!inbox_.take(n)) return false;
    stopping = n.stopping;
    if (n.cancel) RANKPOOL_LOG(debug, "cancelling %zu queued tasks", queue_.size() + n.tasks.size());
    for (auto& t : n.tasks) {
      auto& into = t->team ? teams_ : queue_;  // before t moves into the argument
      enqueue(into, std::move(t));
    }
    if (n.cancel) {
      for (auto& t : queue_) t->state().cancel();
      for (auto& t : teams_) t->state().cancel();
      queue_.clear();
      teams_.clear();
      // Tasks waiting in the workers' windows are not started either: ask for them back.
      control_.withdraw_all(running_);
    }
    if (n.terminate) terminate_now(n.terminate);
    return !n.tasks.empty() || n.cancel || n.terminate;
  }

  // terminate_workers / kill_workers: unstarted tasks in the windows are asked back, started
  // ones asked to stop with `signal` (an isolated task's process gets it; an unisolated task
  // sees stop_requested()), then the pool breaks, so every unfinished future fails now. The loop
  // goes on until the workers have answered for every task, then shuts them down as usual.
  void terminate_now(int signal) {
    RANKPOOL_LOG(info, "%s: %s", cfg_.name, signal == SIGKILL ? "kill_workers()" : "terminate_workers()");
    control_.set_stop_signal(signal);
    control_.withdraw_all(running_);
    for (auto& [id, entry] : running_) entry.t->state().request_stop();
    if (local_) local_->terminate(terminated_error(signal));
    mark_broken(terminated_why(signal), nullptr, true);
  }

  std::size_t local_slot() const { return cfg_.workers.size(); }

  bool collect_local() {
    if (!local_) return false;
    const std::size_t done = local_->collect();
    policy_.finished(local_slot(), done);
    return done > 0;
  }

  void stop_local() {
    if (local_) local_->stop();
  }

  // ---- failure and teardown ---------------------------------------------------------------

  // The progress thread's loop threw (an MPI call failed, as mpi_error, or memory ran out). The
  // policy (docs/architecture.md, "When MPI fails"): every unfinished future fails with
  // broken_executor nesting the cause, later submits are refused, shutdown() rethrows the cause,
  // and the workers are told to stop so that no rank waits forever. Called inside the handler.
  void fail_progress_thread() {
    thread_error_ = std::current_exception();
    const std::string why = "rankpool: the pool's progress thread failed: " + describe(thread_error_);
    RANKPOOL_LOG(error, "%s", why.c_str());
    const std::exception_ptr e = broken_because(why, thread_error_);
    std::vector<task_ptr> waiting;
    inbox_.break_with(e, waiting);
    shares_->abandon();
    fail_everything(e, waiting);
    release_ranks(cfg_.comm, {&cfg_.workers, &cfg_.idle_ranks});
  }

  // A worker said its serve loop failed: the executor breaks, and that worker's tasks will never
  // answer, so they leave the books (their futures have failed; their sends complete because the
  // worker drains its messages until the shutdown).
  void lose_worker(std::size_t w, int rank, const std::string& why) {
    mark_broken("rankpool: the executor is broken: worker rank " + std::to_string(rank) + " failed: " + why);
    std::erase_if(running_, [w](const auto& entry) { return entry.second.worker == w; });
    policy_.forget(w);
    control_.forget(w);
  }

  // Breaks the pool: every unfinished future fails with broken_executor(why), nesting `cause`.
  // `asked`: the user asked for it (terminate_workers), so it is no error worth a log line.
  void mark_broken(const std::string& why, const std::exception_ptr& cause = nullptr, bool asked = false) {
    const auto e = broken_because(why, cause);
    std::vector<task_ptr> waiting;
    if (!inbox_.break_with(e, waiting)) return;
    shares_->abandon();
    if (!asked) RANKPOOL_LOG(error, "%s", why.c_str());
    hooks_.instant("broken");
    fail_everything(e, waiting);
  }

  // Fails waiting (the inbox's), queued and in-flight tasks (their late results are then ignored).
  void fail_everything(const std::exception_ptr& e, std::vector<task_ptr>& waiting) {
    for (auto& t : waiting) t->fail(e);
    for (auto& t : queue_) t->fail(e);
    for (auto& t : teams_) t->fail(e);
    queue_.clear();
    teams_.clear();
    for (auto& [id, entry] : running_) entry.t->fail(e);
  }

  void stop_workers() { stop_ranks(cfg_.comm, {&cfg_.workers, &cfg_.idle_ranks}); }

  void release_comm() {
    if (cfg_.comm == MPI_COMM_NULL) return;
    if (cfg_.disconnect) {
      mpi::try_call("MPI_Comm_disconnect", MPI_Comm_disconnect, &cfg_.comm);
    } else {
      mpi::try_call("MPI_Comm_free", MPI_Comm_free, &cfg_.comm);
    }
    cfg_.comm = MPI_COMM_NULL;
  }

  scheduler_config cfg_;
  hooks hooks_;             // trace and summary, when asked for; before the parts that keep a reference
  dispatch_policy policy_;  // which slot gets the next tasks; the loads and the window
  std::deque<task_ptr> queue_;
  std::deque<task_ptr> teams_;  // team tasks waiting for their workers
  in_flight_map running_;
  task_sender sender_;
  stop_queue stops_;
  control_channel control_;  // stops, cancels, take-backs; their answers
  relays relays_;            // tasks that tasks submitted, and their replies
  intake intake_;            // every message from the workers
  dispatcher dispatcher_;    // queued tasks to the slots
  inbox inbox_;

  std::optional<task_pool> view_;       // this_pool() for the tasks of the root's own slot
  std::optional<root_slot> local_;      // the root's own compute slot (root_computes)
  std::shared_ptr<node_share> shares_;  // shared values; handles hold it weakly

  std::mutex join_mutex_;
  std::exception_ptr thread_error_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<executor_core> make_scheduler(scheduler_config cfg) {
  return std::make_unique<scheduler>(std::move(cfg));
}

}  // namespace rankpool::detail
