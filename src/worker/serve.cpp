// The worker's serve loop: receive tasks into a queue and run them in order (inline, on a team of
// threads, or in an isolated child process), sending the results back batched while more tasks
// wait and at once when none does. Stop, cancel and take-back requests arrive on a control tag
// (stop_board); while a task runs inline, the watcher thread reads them and sends the finished
// results, so nothing waits for a long task. Running one task is run_task's; a task that
// overruns its deadline fails with timeout_error. Idle workers spin briefly, then sleep with
// growing pauses, so oversubscribed nodes stay fast.

#include "worker/serve.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <rankpool/detail/log.hpp>
#include <rankpool/detail/spin.hpp>
#include <rankpool/this_pool.hpp>
#include <thread>
#include <vector>

#include "common/slot_keeper.hpp"
#include "common/worker_identity.hpp"
#include "share/share_table.hpp"
#include "wire/framing.hpp"
#include "wire/mpi_call.hpp"
#include "wire/transport.hpp"
#include "worker/crash.hpp"
#include "worker/inbound.hpp"
#include "worker/isolation.hpp"
#include "worker/line_prefix.hpp"
#include "worker/nested_client.hpp"
#include "worker/output_capture.hpp"
#include "worker/result_sender.hpp"
#include "worker/run_task.hpp"
#include "worker/spare_threads.hpp"
#include "worker/stop_board.hpp"
#include "worker/task_queue.hpp"
#include "worker/team_base.hpp"
#include "worker/thread_team.hpp"
#include "worker/watcher.hpp"

namespace rankpool::detail {
namespace {

void report_init_failure(const std::exception_ptr& e, MPI_Comm comm, int root) {
  writer w;
  reserve_header(w);
  write_exception(w, e);
  auto& b = w.raw().bytes();
  wire::put_header(b.data(), wire::kind::init_failed, 0, b.size() - sizeof(wire::header));
  transport::send(b.data(), b.size(), root, comm);
}

// The serve loop failed (an MPI call threw): tell the root, whose futures would otherwise wait
// for this rank forever. When even that fails, nothing can reach the root, and the job is
// aborted with a message instead of hanging (the policy of docs/architecture.md, "When MPI fails").
void report_worker_failure(const std::exception& e, MPI_Comm comm, int root, int rank) noexcept {
  RANKPOOL_LOG(error, "worker rank %d failed: %s", rank, e.what());
  try {
    const std::string text = e.what();
    std::vector<char> b(sizeof(wire::header) + text.size());
    wire::put_header(b.data(), wire::kind::worker_failed, 0, text.size());
    std::copy(text.begin(), text.end(), b.begin() + sizeof(wire::header));
    transport::send(b.data(), b.size(), root, comm);
  } catch (const std::exception& again) {
    std::fprintf(stderr, "rankpool: worker rank %d failed (%s) and cannot tell the root (%s); aborting the job\n", rank,
                 e.what(), again.what());
    mpi::try_call("MPI_Abort", MPI_Abort, comm, 1);
  }
}

// Answers a shutdown that asked for it (flag_acknowledge).
void acknowledge_shutdown(MPI_Comm comm, int root) {
  char buf[sizeof(wire::header)];
  wire::put_header(buf, wire::kind::bye, 0, 0);
  transport::send(buf, sizeof buf, root, comm);
}

// Receives and drops the root's messages until its shutdown; returns whether the shutdown asked
// for a bye. When even receiving fails, nothing can reach the root: the job is aborted.
bool wait_for_shutdown(MPI_Comm comm, int root, int rank) noexcept {
  try {
    transport::incoming msg;
    transport::backoff pace;
    while (true) {
      if (!transport::try_receive(root, comm, msg)) {
        std::this_thread::sleep_for(pace.next());
        continue;
      }
      pace.reset();
      auto h = wire::decode_header(msg.bytes.data(), msg.bytes.size());
      if (h.kind == static_cast<std::uint8_t>(wire::kind::shutdown))
        return (h.reserved[0] & wire::flag_acknowledge) != 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rankpool: worker rank %d cannot drain the root's messages (%s); aborting the job\n", rank,
                 e.what());
    mpi::try_call("MPI_Abort", MPI_Abort, comm, 1);
  }
  return false;
}

// The pool's task threads as a worker sees them: every rank but the root (the local group of a
// spawned pool's intercommunicator), each with `threads`.
std::size_t pool_threads(MPI_Comm comm, std::size_t threads) {
  int inter = 0, size = 1;
  mpi::call("MPI_Comm_test_inter", MPI_Comm_test_inter, comm, &inter);
  mpi::call("MPI_Comm_size", MPI_Comm_size, comm, &size);
  return static_cast<std::size_t>(inter ? size : std::max(size - 1, 1)) * threads;
}

// Whether this thread is inside a task run inline (only a task's own wait lends its slot).
thread_local bool in_task = false;

class worker final : public wait_hook {
 public:
  worker(MPI_Comm comm, int root, const std::function<void()>& initializer, const worker_config& cfg, node_layout nodes)
      : comm_(comm),
        root_(root),
        cfg_(cfg),
        board_(comm, root),
        results_(comm, root),
        bells_(nodes.bells),
        shares_(comm, root, std::move(nodes)) {
    mpi::call("MPI_Comm_rank", MPI_Comm_rank, comm, &rank_);
    this_worker().rank = rank_;
    set_team_base(comm);
    crash::install(rank_);
    if (cfg_.threads > 1) {
      team_.emplace(cfg_.threads, initializer, board_, cfg_.deadline_ns);
    } else if (initializer) {
      try {
        initializer();
      } catch (...) {
        init_error_ = std::current_exception();
        report_init_failure(init_error_, comm, root);
      }
    }
    // Forked after the initializer, so every child starts from the state it set up.
    if (cfg_.isolate && !team_) {
      isolated_.emplace(cfg_.max_tasks_per_child, cfg_.capture_output);
    } else if (cfg_.capture_output && !team_) {
      capture_.emplace();
    }
    // A team's threads run the tasks and this thread stays free for messages; tasks run here
    // need the watcher for that, which calls MPI from a second thread.
    int level = MPI_THREAD_SINGLE;
    mpi::call("MPI_Query_thread", MPI_Query_thread, &level);
    if (!team_ && level >= MPI_THREAD_SERIALIZED)
      watch_.emplace(
          comm_lock_, [this] { return serve_during_task(); }, watch_every, watch_most);
    // this_pool() for the tasks run here: in an isolated child it refuses (no MPI there), and
    // so it does where a task runs on the only thread that may call MPI (below
    // MPI_THREAD_SERIALIZED, one thread per worker): nothing could read its nested results.
    if (!isolated_) {
      auto client =
          std::make_unique<nested_client>(pool_threads(comm, cfg_.threads), team_ || watch_, [this] { kick_nested(); });
      nested_ = client.get();
      pool_.emplace(std::move(client));
      if (team_) {
        team_->lend_with(&*pool_, nested_);
      } else if (watch_) {
        keeper_.emplace([this] { start_spare(); }, [] {});
      }
    }
    in_.emplace(inbound::places{comm_, root_, rank_, board_, queue_, team_ ? &*team_ : nullptr, shares_, nested_,
                                isolated_.has_value()});
    RANKPOOL_LOG(info, "worker rank %d serving root %d (%zu threads%s%s%s)", rank_, root, cfg_.threads,
                 cfg_.isolate ? ", isolated" : "", init_error_ ? ", initializer FAILED" : "",
                 team_ || watch_ ? "" : ", no watcher below MPI_THREAD_SERIALIZED");
  }

  /// Joins the spare threads of the serve loop, if the loop failed before it could.
  ~worker() {
    if (keeper_) keeper_->close();
    try {
      spares_.join();
    } catch (...) {  // what a spare threw: the loop's own failure is already on its way
    }
  }
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  /// Whether the root's shutdown asked for a bye (it is draining after a failure).
  bool must_acknowledge() const noexcept { return acknowledge_ || (in_ && in_->acknowledge()); }

  /// After this worker failed and said so: receive and drop everything until the root's
  /// shutdown, so the root's sends to this rank complete and nobody waits on it. A failure here
  /// leaves no way to reach the root: the job is aborted.
  void drain_until_shutdown() noexcept {
    if (keeper_) keeper_->close();  // spare threads of the loop end instead of serving
    watch_.reset();                 // nothing else calls MPI from now on
    acknowledge_ = wait_for_shutdown(comm_, root_, rank_);
  }

  // The loop: read what the root sent, start the next task, send results when nothing else is
  // queued (or a result has waited long enough), sleep with growing pauses when idle. This
  // thread holds comm_lock_ except while a task runs or it sleeps.
  void serve() {
    // Tasks run on this thread see the pool and lend the thread while they wait on it.
    task_pool_scope scope(pool_ && !team_ ? &*pool_ : nullptr, keeper_ ? this : nullptr);
    {
      std::unique_lock lk(comm_lock_);
      loop(lk);
      results_.drain();  // the root had them all before its shutdown: this only completes the sends
    }
    join_spares();
  }

  // The serve loop, on whichever thread holds the slot (the rank's main thread, or a spare while
  // a task waits). Returns at the shutdown, or when the slot went to a task that waited (and
  // the pool ended before this thread had it again).
  void loop(std::unique_lock<std::mutex>& lk) {
    transport::backoff pace;
    while (true) {
      if (keeper_ && keeper_->closed()) return;  // the loop ended on another thread, or failed
      if (keeper_ && keeper_->reclaim_pending()) {
        // A task that waited goes on: the slot is its own again, and this thread parks.
        lk.unlock();
        const bool again = keeper_->between_tasks();
        lk.lock();
        if (!again) return;
      }
      if (team_) collect_team(pace);
      // Read before looking for messages: a ring after this point cuts the sleep below short.
      const std::uint32_t ticket = bells_ ? bells_->ticket() : 0;
      const bool got = pump_due() && pump(!team_ && !queue_.empty());
      if (in_->stopping()) {
        if (keeper_) keeper_->close();  // parked threads end
        return;
      }
      if (!team_) {
        if (auto next = queue_.pop()) {
          pace.reset();
          run_one(*next, lk);
          continue;
        }
        flush_results();  // nothing queued: every result leaves now
      }
      if (got) {
        pace.reset();
        continue;
      }
      auto pause = pace.next();
      if (pause.count() == 0) continue;
      lk.unlock();
      if (team_) {
        team_->wait_for_results(pause);
      } else if (bells_) {
        bells_->sleep(ticket, pause);  // woken at once when the root sends work
      } else {
        std::this_thread::sleep_for(pause);
      }
      lk.lock();
    }
  }

 private:
  // The watcher's looks while a task runs come this far apart while they find work, and up to
  // watch_most apart while they find none (watcher.hpp): a result held behind a queue of tasks
  // waits at most about watch_most after its hold, and so does a cancel or take-back, well inside
  // the 1 ms in which a result is to reach the root and an idle worker to get unstarted work.
  static constexpr auto watch_every = std::chrono::microseconds(250);
  static constexpr auto watch_most = std::chrono::microseconds(500);

  // Reads every message waiting from the root (inbound) after sending what tasks queued for it.
  // True when anything came. Holds comm_lock_.
  bool pump(bool between_tasks = false) {
    send_nested();
    last_pump_ = std::chrono::steady_clock::now();
    return in_->pump(between_tasks);
  }

  // Whether the loop reads the root's messages now: always with no task queued here (or with a
  // thread team), and otherwise once per 10 us where the rank has a core of its own. Without one,
  // once per 100 us while the queue holds less than 1 ms of work (by the recent task time), and
  // once per 500 us while it holds more. A probe that finds nothing is not free: where Open MPI
  // yields when idle (an oversubscribed node) each one can give the core away (sched_yield); at
  // -n 3 on 2 cores, 200 us tasks, a probe every 100 us cost 0.02-0.03 of efficiency against one
  // every 300-500 us (4 k of 21 k context switches per 16 k tasks). With work queued nothing is
  // lost by reading later: refills matter only once the queue runs low, and the 1 ms bounds of
  // cancels and take-backs are far.
  bool pump_due() const {
    if (team_ || queue_.empty()) return true;
    using std::chrono::microseconds;
    microseconds gap(10);
    if (!spin_allowed()) {
      const auto queued =
          std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(queue_.size()) * task_ns_));
      gap = queued > std::chrono::milliseconds(1) ? microseconds(500) : microseconds(100);
    }
    return std::chrono::steady_clock::now() - last_pump_ >= gap;
  }

  // What the watcher does while a task runs: everything pump() does, and the held results leave.
  // Whether it found work: results or a task's messages to send, requests to answer.
  bool serve_during_task() {
    const bool waiting = results_.held() || (nested_ && nested_->has_outgoing());
    const std::uint64_t answered = in_->answers();
    pump();
    flush_results();
    return waiting || in_->answers() != answered;
  }

  // Runs one task here (inline or in the isolated child), without comm_lock_ meanwhile: the
  // watcher, if any, does the message work while it runs.
  void run_one(const task_queue::item& it, std::unique_lock<std::mutex>& lk) {
    // Once a task has lent the slot, another thread may run a task while this one's result is
    // unwritten: each then writes its own.
    const bool own_writer = lent_ever_.load(std::memory_order_acquire);
    writer own;
    writer& out = own_writer ? own : results_.start();
    task_timing t;
    std::string output;  // captured stdout and stderr (capture_output)
    if (in_->take_refork()) isolated_->restart();
    if (watch_) watch_->task_started();
    lk.unlock();
    in_task = true;
    if (init_error_ || isolated_) {
      t.started = std::chrono::steady_clock::now();
      if (init_error_) {
        write_exception(out, broken_by_initializer());
      } else {
        isolated_->run(it.id, it.body, it.n, out, cfg_.deadline_ns, [&] { return stop_signal(it.id); });
        output = isolated_->take_output();
      }
      t.exec_ns = elapsed_ns(t.started);
      board_.forget(it.id);
    } else {
      if (capture_) capture_->begin();
      t = run_task(it.id, it.body, it.n, out, board_, !watch_, cfg_.deadline_ns);
      if (capture_) output = capture_->end();
    }
    in_task = false;
    // The output follows the result body; the record says how long it is.
    out.raw().put(output.data(), output.size());
    lk.lock();
    if (watch_) {
      watch_->task_ended();
      if (auto e = watch_->error()) std::rethrow_exception(e);
    }
    if (own_writer) {
      own.reset_archive();
      const auto& b = own.raw().bytes();
      results_.add(it.id, b.data(), b.size(), t.exec_ns, t.started, 0, static_cast<std::uint32_t>(output.size()));
    } else {
      results_.finish(it.id, t.exec_ns, t.started, 0, static_cast<std::uint32_t>(output.size()));
    }
    task_ns_ += (static_cast<double>(t.exec_ns) - task_ns_) / 8;
    // Results also leave once as many wait as tasks are left: the root refills this worker's
    // window only from results, so holding them until the queue ran dry left the worker idle for
    // a round trip per window (about 15% of the time with 5 us tasks at -n 2).
    if (it.answer_each || results_.count() >= queue_.size() || results_.overdue(t.exec_ns)) flush_results();
  }

  // The signal the isolated child's task must get: SIGUSR1 for a stop request, the one a
  // terminate or kill request carries, or 0. Without a watcher this thread reads the control
  // messages itself (nothing else calls MPI then).
  int stop_signal(std::uint64_t id) {
    if (!watch_) board_.pull();
    if (!board_.asked(id)) return 0;
    const int sig = board_.signal_for(id);
    return sig ? sig : SIGUSR1;
  }

  // wait_hook: a task run inline waits on futures (this_pool()'s, as a rule). Its thread lends
  // the rank's one slot (slot_keeper): a spare thread takes over the serve loop, and the root
  // counts the slot one task lighter, until the task has its slot back.
  bool lend() override {
    if (!in_task || !keeper_) return false;
    // Before the slot goes: the thread that takes it must not start a task in the sender's
    // scratch writer, which this task's result still occupies.
    lent_ever_.store(true, std::memory_order_release);
    if (!keeper_->lend()) return false;
    nested_->lend();
    return true;
  }
  void reclaim() override {
    keeper_->reclaim();
    nested_->reclaim();
    if (watch_) watch_->task_started();  // the task runs on: the watcher looks after it again
  }

  // A spare thread of the serve loop (slot_keeper's spawn): serves while it holds the slot.
  void spare() {
    task_pool_scope scope(&*pool_, this);
    if (!keeper_->take_slot()) return;
    try {
      std::unique_lock lk(comm_lock_);
      loop(lk);
    } catch (...) {
      spares_.failed(std::current_exception());
      keeper_->close();
    }
  }

  void start_spare() {
    spares_.start([this] { spare(); });
  }

  // The threads that served for a while: they end once the loop has.
  void join_spares() {
    if (keeper_) keeper_->close();
    spares_.join();
  }

  // Sends what tasks queued for the root (nested_client). The root counts a slot's load from
  // these and the results, so a task's reclaim must reach it before the task's own result
  // (which would otherwise find the slot empty): every flush of results sends these first.
  // Holds comm_lock_.
  void send_nested() {
    if (!nested_ || !nested_->has_outgoing()) return;
    for (auto& m : nested_->take_outgoing()) transport::send(m.data(), m.size(), root_, comm_);
  }

  // The held results leave, after what tasks queued for the root (send_nested).
  void flush_results() {
    send_nested();
    const bool any = results_.held();
    results_.flush();
    if (any && bells_) bells_->ring(root_);  // a root of this node that sleeps reads them at once
  }

  // A task queued a message for the root. The serve loop, the watcher and a lending thread send
  // it at their next look (the task's own thread may hold comm_lock_ here, in a done callback);
  // a team's loop may be asleep, and is woken.
  void kick_nested() {
    if (team_) team_->wake();
    if (watch_) watch_->hurry();
  }

  void collect_team(transport::backoff& pace) {
    if (!team_->init_reported) {
      if (auto e = team_->init_error()) {
        report_init_failure(e, comm_, root_);
        team_->init_reported = true;
      }
    }
    // What the team's tasks queued for the root goes first: a reclaim before the result of the
    // task that reclaimed (send_nested).
    send_nested();
    if (team_->drain(results_)) {
      flush_results();  // and rings the root, as for results run on this thread
      pace.reset();
    }
  }

  MPI_Comm comm_;
  int root_;
  bool acknowledge_ = false;  // the shutdown asked for a bye
  int rank_ = 0;
  worker_config cfg_;
  std::mutex comm_lock_;  // MPI calls, queue_, results_ and the board's requests
  stop_board board_;
  result_sender results_;
  std::shared_ptr<node_bells> bells_;                  // the root rings this rank's bell when it sends work (or null)
  share_table shares_;                                 // the shared values this rank holds
  std::chrono::steady_clock::time_point last_pump_{};  // when the loop last read the root's messages
  double task_ns_ = 0;                                 // the recent task time here (a running mean, for pump_due)
  task_queue queue_;                                   // unstarted tasks run here (a team keeps its own)
  std::exception_ptr init_error_;
  nested_client* nested_ = nullptr;  // this_pool()'s core, owned by pool_ (null when isolated)
  std::optional<task_pool> pool_;    // this_pool() for the tasks of this rank; outlives the team
  std::optional<thread_team> team_;
  std::optional<isolated_runner> isolated_;
  std::optional<output_capture> capture_;  // capture_output without isolate: tasks run here
  std::optional<slot_keeper> keeper_;      // the slot of tasks run inline (not with a team)
  std::atomic<bool> lent_ever_{false};     // a task lent the slot: results get writers of their own
  std::optional<inbound> in_;              // the root's messages, filed (set once the set-up is done)
  spare_threads spares_;                   // threads that serve while a task lends the slot
  std::optional<watcher> watch_;           // last: stopped before what its service uses
};

}  // namespace

void serve(MPI_Comm comm, int root, const std::function<void()>& initializer, const worker_config& cfg,
           node_layout nodes) {
  // Set up before the worker, so an isolated child inherits the pipes; gone after it.
  std::optional<line_prefix> prefix;
  if (log::prefix_output() && !cfg.capture_output) prefix.emplace("[" + log::origin() + "] ");
  worker w(comm, root, initializer, cfg, std::move(nodes));
  try {
    w.serve();
  } catch (const std::exception& e) {
    clear_team_base();
    report_worker_failure(e, comm, root, this_worker().rank);
    w.drain_until_shutdown();
    if (w.must_acknowledge()) acknowledge_shutdown(comm, root);
    throw;
  }
  clear_team_base();
  if (w.must_acknowledge()) acknowledge_shutdown(comm, root);
}

}  // namespace rankpool::detail
