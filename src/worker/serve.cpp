// The worker's serve loop: receive a task or a batch of tasks, find each invoker, run it (inline,
// on a team of threads, or in an isolated child process), and send the results back batched.
// Stop requests arrive on a control tag that a running task's stop_requested() polls; a task that
// overruns its deadline fails with timeout_error. Idle workers spin briefly, then sleep with
// growing pauses, so oversubscribed nodes stay fast.

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <rankpool/detail/log.hpp>
#include <set>
#include <thread>

#include "worker/crash.hpp"
#include "worker/isolation.hpp"
#include "root/scheduler.hpp"
#include "registry/registry.hpp"
#include "wire/transport.hpp"
#include "wire/framing.hpp"
#include "common/worker_identity.hpp"

namespace rankpool::detail {
namespace {

using clock = std::chrono::steady_clock;

// A result held back longer than this is sent even if more tasks of its batch remain, so one
// long task does not delay the answers of the short ones before it.
constexpr auto max_hold = std::chrono::microseconds(100);
// How often a running task's stop_requested() may look for stop messages.
constexpr auto stop_poll_interval = std::chrono::microseconds(200);

class result_sender {
 public:
  result_sender(MPI_Comm comm, int root) : comm_(comm), root_(root) { start(); }

  writer& out() { return out_; }

  // Opens a record; the result body is written next.
  void begin(std::uint64_t id) {
    if (count_ == 0) first_ = clock::now();
    record_at_ = out_.raw().size();
    wire::result_record rec{id, 0, 0, 0, 0, 0};
    out_.raw().put_value(rec);
  }
  // Replaces the body written since begin() with the exception `e`.
  void replace_with(const std::exception_ptr& e) {
    out_.reset_archive();
    out_.raw().truncate(record_at_ + sizeof(wire::result_record));
    write_exception(out_, e);
  }
  void end(std::uint64_t exec_ns, clock::time_point started, std::uint32_t lane = 0) {
    out_.reset_archive();
    auto& b = out_.raw().bytes();
    wire::result_record rec{0,
                            exec_ns,
                            b.size() - record_at_ - sizeof(wire::result_record),
                            std::chrono::duration_cast<std::chrono::nanoseconds>(started.time_since_epoch()).count() +
                                telemetry::realtime_offset(),
                            lane,
                            0};
    std::memcpy(&rec.id, b.data() + record_at_, sizeof rec.id);
    std::memcpy(b.data() + record_at_, &rec, sizeof rec);
    ++count_;
  }
  bool overdue(std::uint64_t last_exec_ns) const {
    return count_ > 0 && (std::chrono::nanoseconds(last_exec_ns) > max_hold / 2 || clock::now() - first_ > max_hold);
  }
  void flush() {
    if (count_ == 0) return;
    auto& b = out_.raw().bytes();
    wire::put_header(b.data(), wire::kind::result_batch, count_, b.size() - sizeof(wire::header));
    transport::send(b.data(), b.size(), root_, comm_);
    start();
  }

 private:
  void start() {
    out_.reset_archive();
    out_.raw().truncate(0);
    reserve_header(out_);
    count_ = 0;
  }
  MPI_Comm comm_;
  int root_;
  writer out_;
  std::uint64_t count_ = 0;
  std::size_t record_at_ = 0;
  clock::time_point first_;
};

// Stop requests for this rank's tasks: ids asked to stop, read from the control tag by the
// thread that owns MPI (the main thread), consulted by whichever thread runs the task.
class stop_board {
 public:
  stop_board(MPI_Comm comm, int root) : comm_(comm), root_(root) {}

  // Reads pending stop messages (main thread only).
  void pull() {
    char h[sizeof(wire::header)];
    while (transport::try_receive_control(root_, comm_, h)) {
      wire::header hd;
      std::memcpy(&hd, h, sizeof hd);
      if (hd.magic != wire::magic || hd.kind != static_cast<std::uint8_t>(wire::kind::stop)) continue;
      std::lock_guard lk(m_);
      ids_.insert(hd.id);
      flag_.store(true, std::memory_order_release);
    }
  }
  bool asked(std::uint64_t id) {
    if (!flag_.load(std::memory_order_acquire)) return false;
    std::lock_guard lk(m_);
    return ids_.count(id) != 0;
  }
  // A task ended: its stop request, if any, is spent.
  void forget(std::uint64_t id) {
    if (!flag_.load(std::memory_order_acquire)) return;
    std::lock_guard lk(m_);
    ids_.erase(id);
    if (ids_.empty()) flag_.store(false, std::memory_order_release);
  }

 private:
  MPI_Comm comm_;
  int root_;
  std::mutex m_;
  std::set<std::uint64_t> ids_;
  std::atomic<bool> flag_{false};
};

// What stop_requested() polls while a task runs.
struct running_task {
  stop_board* board;
  std::uint64_t id;
  bool may_pull;  // this thread owns MPI and may read control messages
  clock::time_point next_pull;
  std::atomic<bool> stop{false};
};

bool poll_stop(void* arg) {
  auto& r = *static_cast<running_task*>(arg);
  if (r.may_pull) {
    auto now = clock::now();
    if (now >= r.next_pull) {
      r.next_pull = now + stop_poll_interval;
      try {
        r.board->pull();
      } catch (...) {  // a failed probe only means no stop request is seen now
      }
    }
  }
  return r.board->asked(r.id);
}

std::exception_ptr broken_by_initializer(int rank) {
  return std::make_exception_ptr(
      broken_executor("rankpool: the executor is broken: the initializer failed on rank " + std::to_string(rank)));
}

std::exception_ptr overran(std::uint64_t deadline_ns, int rank) {
  return std::make_exception_ptr(timeout_error(
      "rankpool: the task ran past its deadline of " + std::to_string(static_cast<double>(deadline_ns) / 1e9) +
      " s (executor_options::task_deadline) on worker rank " + std::to_string(rank)));
}

// Several threads run the tasks of one worker rank (threads_per_worker > 1); the rank's main
// thread keeps all MPI calls and collects their results.
class thread_team {
 public:
  thread_team(std::size_t n, const std::function<void()>& initializer, int rank, stop_board& board,
              std::uint64_t deadline_ns)
      : rank_(rank), board_(board), deadline_ns_(deadline_ns) {
    for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this, &initializer, i] { run(initializer, i); });
  }
  ~thread_team() {
    {
      std::lock_guard lk(m_);
      stop_ = true;
    }
    jobs_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  void push(std::uint64_t id, const char* body, std::size_t n) {
    {
      std::lock_guard lk(m_);
      jobs_.push_back({id, std::vector<char>(body, body + n)});
    }
    jobs_cv_.notify_one();
  }

  // Moves finished results into `results`; true if there were any.
  bool drain(result_sender& results) {
    std::deque<finished> got;
    {
      std::lock_guard lk(m_);
      got.swap(done_);
    }
    for (auto& f : got) {
      results.begin(f.id);
      results.out().raw().put(f.body.data(), f.body.size());
      results.end(f.exec_ns, f.started, f.lane);
    }
    return !got.empty();
  }

  // Sleeps up to `d`, waking early when a result is ready.
  void wait_for_results(std::chrono::microseconds d) {
    std::unique_lock lk(m_);
    done_cv_.wait_for(lk, d, [&] { return !done_.empty(); });
  }

  std::exception_ptr init_error() {
    std::lock_guard lk(m_);
    return init_error_;
  }
  bool init_reported = false;

 private:
  struct job {
    std::uint64_t id;
    std::vector<char> body;
  };
  struct finished {
    std::uint64_t id;
    std::uint64_t exec_ns;
    std::vector<char> body;
    clock::time_point started;
    std::uint32_t lane;
  };

  void run(const std::function<void()>& initializer, std::size_t lane) {
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
      job j;
      {
        std::unique_lock lk(m_);
        jobs_cv_.wait(lk, [&] { return !jobs_.empty() || stop_; });
        if (jobs_.empty()) return;
        j = std::move(jobs_.front());
        jobs_.pop_front();
      }
      writer out;
      auto t0 = clock::now();
      if (failed) {
        write_exception(out, broken_by_initializer(rank_));
      } else {
        running_task rt{&board_, j.id, false, t0, {}};
        task_context ctx;
        ctx.poll = poll_stop;
        ctx.poll_arg = &rt;
        if (deadline_ns_) ctx.deadline = t0 + std::chrono::nanoseconds(deadline_ns_);
        task_context_scope scope(ctx);
        run_body(j.id, j.body.data(), j.body.size(), out);
      }
      auto ns =
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count());
      if (deadline_ns_ && ns > deadline_ns_ && !failed) {
        out.reset_archive();
        out.raw().truncate(0);
        write_exception(out, overran(deadline_ns_, rank_));
      }
      board_.forget(j.id);
      out.reset_archive();
      {
        std::lock_guard lk(m_);
        done_.push_back({j.id, ns, out.take(), t0, static_cast<std::uint32_t>(lane)});
      }
      done_cv_.notify_all();
    }
  }

  int rank_;
  stop_board& board_;
  std::uint64_t deadline_ns_;
  std::mutex m_;
  std::condition_variable jobs_cv_, done_cv_;
  std::deque<job> jobs_;
  std::deque<finished> done_;
  std::exception_ptr init_error_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

void report_init_failure(const std::exception_ptr& e, MPI_Comm comm, int root) {
  writer w;
  reserve_header(w);
  write_exception(w, e);
  auto& b = w.raw().bytes();
  wire::put_header(b.data(), wire::kind::init_failed, 0, b.size() - sizeof(wire::header));
  transport::send(b.data(), b.size(), root, comm);
}

class worker {
 public:
  worker(MPI_Comm comm, int root, const std::function<void()>& initializer, const worker_config& cfg)
      : comm_(comm), root_(root), cfg_(cfg), board_(comm, root), results_(comm, root) {
    MPI_Comm_rank(comm, &rank_);
    this_worker().rank = rank_;
    crash::install(rank_);
    if (cfg_.threads > 1) {
      team_.emplace(cfg_.threads, initializer, rank_, board_, cfg_.deadline_ns);
    } else if (initializer) {
      try {
        initializer();
      } catch (...) {
        init_error_ = std::current_exception();
        report_init_failure(init_error_, comm, root);
      }
    }
    // Forked after the initializer, so every child starts from the state it set up.
    if (cfg_.isolate && !team_) isolated_.emplace();
    RANKPOOL_LOG(info, "worker rank %d serving root %d (%zu threads%s%s)", rank_, root, cfg_.threads,
                 cfg_.isolate ? ", isolated" : "", init_error_ ? ", initializer FAILED" : "");
  }

  void serve() {
    transport::incoming msg;
    transport::backoff pace;
    while (true) {
      if (team_) collect_team(pace);
      bool got = false;
      try {
        got = transport::try_receive(root_, comm_, msg);
      } catch (const decode_error& e) {
        // A malformed message: say so and keep serving; nothing in it can be trusted to answer.
        RANKPOOL_LOG(warn, "worker rank %d dropped a malformed message: %s", rank_, e.what());
        continue;
      }
      if (!got) {
        auto pause = pace.next();
        if (pause.count() > 0) {
          if (team_) {
            team_->wait_for_results(pause);
          } else {
            std::this_thread::sleep_for(pause);
          }
        }
        continue;
      }
      pace.reset();
      board_.pull();
      if (!handle(msg)) return;
      results_.flush();
    }
  }

 private:
  // One message from the root; false on shutdown.
  bool handle(transport::incoming& msg) {
    auto h = wire::decode_header(msg.bytes.data(), msg.bytes.size());
    const char* body = msg.bytes.data() + sizeof(wire::header);
    const std::size_t body_n = msg.bytes.size() - sizeof(wire::header);
    std::uint64_t exec_ns = 0;
    switch (static_cast<wire::kind>(h.kind)) {
      case wire::kind::shutdown:
        RANKPOOL_LOG(info, "worker rank %d: the root says shut down", rank_);
        return false;
      case wire::kind::task:
        take(h.id, body, body_n, exec_ns);
        break;
      case wire::kind::task_batch: {
        in_buffer records(body, body_n);
        try {
          for (std::uint64_t i = 0; i < h.id; ++i) {
            auto rec = records.get_value<wire::task_record>();
            if (rec.bytes > records.remaining()) throw decode_error("rankpool: task record longer than its batch");
            take(rec.id, records.current(), static_cast<std::size_t>(rec.bytes), exec_ns);
            records.skip(static_cast<std::size_t>(rec.bytes));
            if ((h.reserved[0] & wire::flag_answer_each) || results_.overdue(exec_ns)) results_.flush();
          }
        } catch (const decode_error& e) {
          RANKPOOL_LOG(warn, "worker rank %d dropped the rest of a malformed batch: %s", rank_, e.what());
        }
        break;
      }
      default:
        RANKPOOL_LOG(warn, "worker rank %d ignored a message of kind %u", rank_, unsigned(h.kind));
        break;
    }
    return true;
  }

  // One task: handed to the team, or run here (inline or in the isolated child).
  void take(std::uint64_t id, const char* body, std::size_t n, std::uint64_t& exec_ns) {
    if (team_) {
      team_->push(id, body, n);
      return;
    }
    results_.begin(id);
    auto t0 = clock::now();
    if (init_error_) {
      write_exception(results_.out(), broken_by_initializer(rank_));
    } else if (isolated_) {
      isolated_->run(id, body, n, results_.out(), cfg_.deadline_ns, [&] {
        board_.pull();
        return board_.asked(id);
      });
    } else {
      running_task rt{&board_, id, true, t0 + stop_poll_interval, {}};
      task_context ctx;
      ctx.poll = poll_stop;
      ctx.poll_arg = &rt;
      if (cfg_.deadline_ns) ctx.deadline = t0 + std::chrono::nanoseconds(cfg_.deadline_ns);
      task_context_scope scope(ctx);
      run_body(id, body, n, results_.out());
    }
    exec_ns =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count());
    if (cfg_.deadline_ns && exec_ns > cfg_.deadline_ns && !init_error_ && !isolated_)
      results_.replace_with(overran(cfg_.deadline_ns, rank_));
    board_.forget(id);
    results_.end(exec_ns, t0);
  }

  void collect_team(transport::backoff& pace) {
    if (!team_->init_reported) {
      if (auto e = team_->init_error()) {
        report_init_failure(e, comm_, root_);
        team_->init_reported = true;
      }
    }
    board_.pull();
    if (team_->drain(results_)) {
      results_.flush();
      pace.reset();
    }
  }

  MPI_Comm comm_;
  int root_;
  int rank_ = 0;
  worker_config cfg_;
  stop_board board_;
  result_sender results_;
  std::exception_ptr init_error_;
  std::optional<thread_team> team_;
  std::optional<isolated_runner> isolated_;
};

}  // namespace

void run_body(std::uint64_t id, const char* body, std::size_t n, writer& out) {
  reader in(body, n);
  invoke_fn fn = nullptr;
  std::uint64_t key = 0;
  try {
    key = in.raw().get_value<std::uint64_t>();
    fn = find_invoker(key);
    if (!fn)
      throw error("rankpool: task type " + std::to_string(key) +
                  " is unknown in this executable (do all ranks run the same program?)");
  } catch (...) {
    write_exception(out, std::current_exception());
  }
  if (!fn) return;
  crash::task_scope scope(id, invoker_name(key));
  fn(in, out);
}

void serve(MPI_Comm comm, int root, const std::function<void()>& initializer, const worker_config& cfg) {
  worker w(comm, root, initializer, cfg);
  w.serve();
}

}  // namespace rankpool::detail
