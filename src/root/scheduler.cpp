// The root's scheduler. One loop owns every MPI call of the pool; user threads hand it tasks
// through an inbox. The loop runs on the progress thread, or on a user thread that waits on a
// result: that thread runs the loop itself meanwhile (a driver, include/rankpool/detail/drive.hpp),
// and the progress thread naps until the driver leaves. Each worker gets a window of tasks in flight, sized from the
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
#include "common/loop_token.hpp"
#include "common/pool_view.hpp"
#include "common/text.hpp"
#include "common/timer_slack.hpp"
#include "root/control.hpp"
#include "root/dispatch_policy.hpp"
#include "root/dispatcher.hpp"
#include "root/inbox.hpp"
#include "root/intake.hpp"
#include "root/relay.hpp"
#include "root/release.hpp"
#include "root/root_queue.hpp"
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

class scheduler;

// What a waiting thread holds to drive a scheduler's loop (weakly, through its thread-local
// slot): the token and whether the loop may still run outlive the scheduler, so a late driver
// finds the pool ended instead of a destroyed object.
class driver_link final : public loop_driver {
 public:
  explicit driver_link(scheduler& s) : s_(&s) {}
  void drive(wait_goal goal, clock::time_point deadline) noexcept override;

  loop_token token;               // who runs the loop now
  std::atomic<bool> alive{true};  // false once the progress thread has left the loop (token held)
  std::atomic<int> wanting{0};    // waiters that want the token: the progress thread lets go

 private:
  scheduler* s_;
};

// RANKPOOL_DRIVE=0: waiting threads never run the loop (for comparisons).
bool drivers_allowed() {
  const char* v = std::getenv("RANKPOOL_DRIVE");
  return !(v && std::string_view(v) == "0");
}

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
        dispatcher_({queue_, teams_, policy_, sender_, stops_, cfg_.workers, nullptr}),
        link_(std::make_shared<driver_link>(*this)) {
    if (cfg_.threads_per_worker == 0) cfg_.threads_per_worker = 1;
    workers_.store(num_workers(), std::memory_order_relaxed);
    bells_ = cfg_.nodes.bells;
    sender_.ring_with(bells_);
    control_.ring_with(bells_);
    inbox_.use_bell(bells_);
    std::vector<int> serving = cfg_.workers;
    serving.insert(serving.end(), cfg_.idle_ranks.begin(), cfg_.idle_ranks.end());
    shares_ =
        std::make_shared<node_share>(cfg_.comm, std::exchange(cfg_.nodes, {}), std::move(serving), cfg_.workers.size());
    stops_.set_owner(&link_->token);
    shares_->set_loop_token(&link_->token);
    try {
      hooks_.attach(make_telemetry(cfg_.telemetry, cfg_.name));
    } catch (...) {
      // The workers are already serving: release them before the error leaves, or they would
      // wait for a shutdown that never comes.
      release_workers();
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
    adopt_this_thread();
  }

  void shutdown(bool wait, bool cancel_futures) override {
    inbox_.request_shutdown(cancel_futures);
    if (!wait || in_loop()) return;
    std::lock_guard jl(join_mutex_);
    if (thread_.joinable()) thread_.join();
    stop_local();
    if (thread_error_) std::rethrow_exception(std::exchange(thread_error_, nullptr));
  }

  void terminate(int signal) override {
    inbox_.request_terminate(signal);
    if (in_loop()) return;
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

  /// Runs the loop on a waiting thread (driver_link::drive, with the token held) until `goal`
  /// or `deadline`, or until nothing in flight could reach the goal.
  void drive_holding_token(wait_goal goal, clock::time_point deadline) noexcept {
    if (failed_ || goal.reached()) {  // failed: the progress thread is about to end the loop
      link_->token.release();
      return;
    }
    transport::backoff pace = make_pace();
    round_result r{};
    try {
      while (!goal.reached() && !r.finished) {
        const std::uint32_t ticket = inbox_.ticket();  // before the round: a ring during it cuts the pause
        r = turn();
        if (r.progressed) {
          pace.reset();
          continue;
        }
        if (r.sending) {
          std::this_thread::yield();
          continue;
        }
        // Nothing in flight: the goal is not this pool's (or waits on another thread's doing).
        if (r.quiet && queue_.empty() && teams_.empty() && !inbox_.has_news()) break;
        const auto now = clock::now();
        if (now >= deadline) break;
        const auto pause = next_pause(pace, r);
        if (pause.count() == 0) continue;
        inbox_.wait(std::min(pause, std::chrono::ceil<std::chrono::microseconds>(deadline - now)), ticket);
      }
    } catch (...) {
      fail_progress_thread();
      failed_ = true;
    }
    // The progress thread takes over what is left: at once if it sleeps or the pool is ending,
    // else after its nap. The loop's flags are read before the token goes.
    const bool failed = failed_, ending = failed_ || stopping_;
    const bool left = ending || !r.quiet || !queue_.empty() || !teams_.empty();
    const bool asleep = progress_asleep_.load(std::memory_order_relaxed);
    last_driven_.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    link_->token.release();
    if (!left) return;
    if (asleep || failed) inbox_.wake();
    if (ending) end_nap();
  }

 private:
  // True on a thread that runs the loop now (the progress thread, or a driver): it must not wait
  // for the loop.
  bool in_loop() const noexcept { return link_->token.held_here() || std::this_thread::get_id() == thread_.get_id(); }

  // Makes the calling thread's waits drive this pool (the pool it submitted to last).
  void adopt_this_thread() {
    if (!drive_) return;
    thread_local const driver_link* adopted = nullptr;
    auto& slot = driver_of_this_thread();
    if (adopted == link_.get() && !slot.expired()) return;
    slot = link_;
    adopted = link_.get();
  }

  void run() {
    try {
      loop();
    } catch (...) {
      fail_progress_thread();
    }
    // The loop ends here for every thread: later drivers find it ended.
    while (!link_->token.held_here() && !link_->token.try_acquire()) nap(std::chrono::microseconds(100));
    link_->alive.store(false, std::memory_order_relaxed);
    link_->token.release();
    // Every result is in (or the pool failed): the trace and summary are complete.
    hooks_.finish();
  }

  // What one round of the loop did.
  struct round_result {
    bool progressed = false;            // something arrived, left or changed
    bool sending = false;               // sends still under way
    bool quiet = false;                 // nothing in flight: no task out, no request unanswered
    bool finished = false;              // shutdown asked and everything done: the loop may end
    bool backlog = false;               // every worker thread has a task queued behind its running one
    std::chrono::nanoseconds ahead{0};  // work every worker has queued (dispatch_policy::work_ahead)
  };

  // One round: news from user threads, local results, dispatch, messages from the workers, stop
  // and cancel requests. Only the token's holder calls it.
  round_result turn() {
    round_result r;
    r.progressed = take_inbox(stopping_);
    r.progressed |= collect_local();
    r.progressed |= dispatcher_.dispatch();
    if (queue_.empty()) control_.ask_back(policy_);
    while (receive(msg_)) {
      intake_.handle(msg_);
      r.progressed = true;
    }
    if (r.progressed) hooks_.queue_depth(queue_.size() + teams_.size(), running_.size() + policy_.root_load());
    r.sending = sender_.under_way() | relays_.send_ready();
    control_.forward(running_);
    r.quiet = running_.empty() && policy_.root_load() == 0 && control_.all_answered();
    // Every request answered too: an answer still on its way would reach the next pool.
    r.finished = stopping_ && queue_.empty() && teams_.empty() && r.quiet;
    r.backlog = running_.size() >= 2 * cfg_.workers.size() * cfg_.threads_per_worker;
    if (r.backlog && !r.progressed) r.ahead = policy_.work_ahead();
    return r;
  }

  // The loop's pacing when idle: spin up to 200 µs where the rank has a core, then sleep from
  // 5 µs up to 500 µs.
  static transport::backoff make_pace() {
    return transport::backoff(std::chrono::microseconds(200), std::chrono::microseconds(500));
  }

  // The pause after an idle round (zero: spin on). Without a core of its own, while every worker
  // has tasks queued behind the one it runs, the root sleeps at least 100 µs, and up to 500 µs
  // while every worker holds twice that much work: each wake-up takes a core from a worker (at
  // -n 3 on 2 cores the root woke about every 60 µs, timer slack included, and ran 10 µs each
  // time) and the queued tasks keep the workers busy meanwhile. Below that backlog (a lone
  // task's round trip) it polls as before.
  static std::chrono::microseconds next_pause(transport::backoff& pace, const round_result& r) {
    const auto pause = pace.next();
    if (pause.count() == 0 || !r.backlog || spin_allowed()) return pause;
    const auto ahead = std::chrono::duration_cast<std::chrono::microseconds>(r.ahead / 2);
    return std::max(pause, std::clamp(ahead, std::chrono::microseconds(100), std::chrono::microseconds(500)));
  }

  // The progress thread's loop. It holds the token for one round at a time, so a waiting thread
  // can take over between rounds; while one drives (or did within the last milliseconds) the
  // progress thread naps instead of spinning on the core the driver needs.
  void loop() {
    transport::backoff pace = make_pace();
    enum class next_step { go_on, yield, nap, pause, sleep };
    while (true) {
      if (link_->wanting.load(std::memory_order_acquire) > 0 || !link_->token.try_acquire()) {
        nap(driven_nap());  // a driver runs the loop (or is about to)
        pace.reset();
        continue;
      }
      if (failed_) return;                           // a driver's round failed; the pool is broken already
      const std::uint32_t ticket = inbox_.ticket();  // before the round: a ring during it cuts the pause
      const round_result r = turn();
      if (r.finished) break;  // the token stays with this thread for the shutdown
      next_step step = next_step::go_on;
      std::chrono::microseconds pause{0};
      if (r.progressed) {
        pace.reset();
      } else if (r.sending) {
        step = next_step::yield;
      } else if (recently_driven()) {
        step = next_step::nap;
      } else {
        pause = next_pause(pace, r);
        if (pause.count() > 0) step = r.quiet ? next_step::sleep : next_step::pause;
      }
      // Before the token goes: a driver that leaves work in flight then wakes this thread.
      if (step == next_step::sleep) progress_asleep_.store(true, std::memory_order_relaxed);
      link_->token.release();
      switch (step) {
        case next_step::go_on:
          break;
        case next_step::yield:
          std::this_thread::yield();
          break;
        case next_step::nap:
          // A driver left: it is likely back soon. With work in flight, poll at a tenth of a
          // millisecond (the workers hold about that much ahead), else every millisecond.
          nap(r.quiet ? std::chrono::microseconds(1000) : std::chrono::microseconds(100));
          break;
        case next_step::pause:
          slack_for(pause);
          inbox_.wait(pause, ticket);
          break;
        case next_step::sleep:
          // Nothing can arrive from the workers: sleep until a user thread has news.
          inbox_.wait(std::nullopt);
          progress_asleep_.store(false, std::memory_order_relaxed);
          pace.reset();
          break;
      }
    }
    // Replies to nested submits go before the shutdown (the same tag keeps them in order).
    while (sender_.under_way() | relays_.send_ready()) std::this_thread::yield();
    // Every task is done: the shared values leave the nodes before the workers do.
    shares_->close_all();
    RANKPOOL_LOG(info, "%s: shutting down the workers", cfg_.name);
    hooks_.instant("shutdown");
    // Every worker says bye before the communicator goes: a message nothing asked for may still
    // be on its way (a worker's initializer that failed after the pool ended, or a second
    // worker's after the first broke it). Left unreceived on the freed communicator, it reached
    // the next pool on it (MPI reuses context ids; MPICH matched one to that pool's receives, and
    // Open MPI keeps messages for a communicator it has not made yet) and broke that pool.
    release_workers();
  }

  // How long the progress thread naps while a driver holds the token: it wakes only to see
  // whether the driver has left for good, and the workers hold work for that long. Where ranks
  // sleep while idle they hold 2 ms of it (cpu_share::lead_ns), and each wake-up takes a core
  // from a task (at -n 3 on 2 cores this thread woke about 2000 times a second at 500 µs).
  static std::chrono::microseconds driven_nap() noexcept {
    return spin_allowed() ? std::chrono::microseconds(500) : std::chrono::microseconds(1000);
  }

  // A driver ran the loop within the last few milliseconds: it is likely to come back soon.
  bool recently_driven() const noexcept {
    const auto last = last_driven_.load(std::memory_order_relaxed);
    return last != 0 && clock::now().time_since_epoch().count() - last <
                            std::chrono::nanoseconds(std::chrono::milliseconds(10)).count();
  }

  // The progress thread waits while a driver runs the loop, or may soon. A driver that leaves
  // work in flight does not wake it (it is usually back within microseconds, and a wake-up costs
  // both a context switch on the core they share); one that leaves the pool failed or stopping
  // ends the nap (end_nap).
  void nap(std::chrono::microseconds length) {
    slack_for(length);
    std::unique_lock lk(nap_m_);
    nap_cv_.wait_for(lk, length, [&] { return nap_cut_; });
    nap_cut_ = false;
  }
  void end_nap() {
    {
      std::lock_guard lk(nap_m_);
      nap_cut_ = true;
    }
    nap_cv_.notify_one();
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
      if (t->team)
        enqueue(teams_, std::move(t));
      else
        queue_.push(std::move(t));
    }
    if (n.cancel) {
      queue_.for_each([](task& t) { t.state().cancel(); });
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
    release_workers();
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
    queue_.for_each([&](task& t) { t.fail(e); });
    for (auto& t : teams_) t->fail(e);
    queue_.clear();
    teams_.clear();
    for (auto& [id, entry] : running_) entry.t->fail(e);
  }

  // Lets every worker go and takes what they still send, until each has said bye (release.hpp).
  void release_workers() noexcept { release_ranks(cfg_.comm, {&cfg_.workers, &cfg_.idle_ranks}, bells_.get()); }

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
  hooks hooks_;                            // trace and summary, when asked for; before the parts that keep a reference
  dispatch_policy policy_;                 // which slot gets the next tasks; the loads and the window
  root_queue queue_{cfg_.workers.size()};  // tasks waiting on the root, in lanes per worker slot
  std::deque<task_ptr> teams_;             // team tasks waiting for their workers
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
  std::shared_ptr<node_bells> bells_;   // the doorbells of the workers on the root's node (or null)

  std::shared_ptr<driver_link> link_;  // what waiting threads drive; the token
  const bool drive_ = drivers_allowed();
  transport::incoming msg_;                   // the loop's receive buffer
  bool stopping_ = false;                     // shutdown was asked (the loop's)
  bool failed_ = false;                       // a driver's round failed: the progress thread just ends (the loop's)
  std::atomic<bool> progress_asleep_{false};  // the progress thread sleeps until news
  std::atomic<std::int64_t> last_driven_{0};  // when a driver last left (steady clock, ns)
  std::mutex nap_m_;
  std::condition_variable nap_cv_;
  bool nap_cut_ = false;

  std::mutex join_mutex_;
  std::exception_ptr thread_error_;
  std::thread thread_;
};

void driver_link::drive(wait_goal goal, clock::time_point deadline) noexcept {
  if (token.held_here()) return;  // a done callback on the loop's own thread: no re-entry
  if (!token.try_acquire()) {
    // The progress thread holds it for one round at most, and lets go once it sees a waiter.
    wanting.fetch_add(1, std::memory_order_acq_rel);
    bool got = false;
    for (int i = 0; i < 64 && !got && !goal.reached(); ++i) {
      std::this_thread::yield();
      got = token.try_acquire();
    }
    wanting.fetch_sub(1, std::memory_order_acq_rel);
    if (!got) return;
  }
  if (!alive.load(std::memory_order_relaxed)) {
    token.release();
    return;
  }
  s_->drive_holding_token(goal, deadline);
}

}  // namespace

std::unique_ptr<executor_core> make_scheduler(scheduler_config cfg) {
  return std::make_unique<scheduler>(std::move(cfg));
}

}  // namespace rankpool::detail
