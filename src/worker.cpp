// The worker's serve loop: receive a task or a batch of tasks, find each invoker, run it, and
// send the results back batched. Idle workers spin briefly, then sleep with growing pauses, so
// oversubscribed nodes stay fast.

#include <chrono>
#include <cstring>
#include <cstdio>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "crash.hpp"
#include "isolation.hpp"
#include "mpi_core.hpp"
#include "registry.hpp"
#include "transport.hpp"
#include "wire.hpp"
#include "worker_identity.hpp"

namespace rankpool::detail {
namespace {

using clock = std::chrono::steady_clock;

// A result held back longer than this is sent even if more tasks of its batch remain, so one
// long task does not delay the answers of the short ones before it.
constexpr auto max_hold = std::chrono::microseconds(100);

class result_sender {
 public:
  result_sender(MPI_Comm comm, int root) : comm_(comm), root_(root) { start(); }

  writer& out() { return out_; }
  bool empty() const noexcept { return count_ == 0; }

  // Opens a record; the invoker then writes the result body.
  void begin(std::uint64_t id) {
    if (count_ == 0) first_ = clock::now();
    record_at_ = out_.raw().size();
    wire::result_record rec{id, 0, 0};
    out_.raw().put_value(rec);
  }
  void end(std::uint64_t exec_ns) {
    out_.reset_archive();
    auto& b = out_.raw().bytes();
    wire::result_record rec{0, exec_ns, b.size() - record_at_ - sizeof(wire::result_record)};
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

namespace {

// Runs one task body and appends its result record.
void run_one(std::uint64_t id, const char* body, std::size_t n, const std::exception_ptr& init_error, int rank,
             isolated_runner* isolated, result_sender& results, std::uint64_t& exec_ns) {
  results.begin(id);
  auto t0 = clock::now();
  writer& out = results.out();
  if (init_error) {
    write_exception(out, std::make_exception_ptr(broken_executor(
                             "rankpool: the executor is broken: the initializer failed on rank " + std::to_string(rank))));
  } else if (isolated) {
    isolated->run(id, body, n, out);
  } else {
    run_body(id, body, n, out);
  }
  exec_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count());
  results.end(exec_ns);
}

// Several threads run the tasks of one worker rank (threads_per_worker > 1); the rank's main
// thread keeps all MPI calls and collects their results.
class thread_team {
 public:
  thread_team(std::size_t n, const std::function<void()>& initializer, int rank) : rank_(rank) {
    for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this, &initializer] { run(initializer); });
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
      results.end(f.exec_ns);
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
  };

  void run(const std::function<void()>& initializer) {
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
        write_exception(out, std::make_exception_ptr(broken_executor(
                                 "rankpool: the executor is broken: the initializer failed on rank " +
                                 std::to_string(rank_))));
      } else {
        run_body(j.id, j.body.data(), j.body.size(), out);
      }
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count();
      out.reset_archive();
      {
        std::lock_guard lk(m_);
        done_.push_back({j.id, static_cast<std::uint64_t>(ns), out.take()});
      }
      done_cv_.notify_all();
    }
  }

  int rank_;
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

}  // namespace

void serve(MPI_Comm comm, int root, const std::function<void()>& initializer, std::size_t threads, bool isolate) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  this_worker().rank = rank;
  crash::install(rank);

  std::exception_ptr init_error;
  std::optional<thread_team> team;
  if (threads > 1) {
    team.emplace(threads, initializer, rank);
  } else if (initializer) {
    try {
      initializer();
    } catch (...) {
      init_error = std::current_exception();
      report_init_failure(init_error, comm, root);
    }
  }

  // Forked after the initializer, so every child starts from the state it set up.
  std::optional<isolated_runner> isolated;
  if (isolate && !team) isolated.emplace();

  transport::incoming msg;
  transport::backoff pace;
  result_sender results(comm, root);
  // One task: inline on this thread, or handed to the team.
  auto take = [&](std::uint64_t id, const char* body, std::size_t n, std::uint64_t& exec_ns) {
    if (team) {
      team->push(id, body, n);
    } else {
      run_one(id, body, n, init_error, rank, isolated ? &*isolated : nullptr, results, exec_ns);
    }
  };
  while (true) {
    if (team) {
      if (!team->init_reported) {
        if (auto e = team->init_error()) {
          report_init_failure(e, comm, root);
          team->init_reported = true;
        }
      }
      if (team->drain(results)) {
        results.flush();
        pace.reset();
      }
    }
    bool got = false;
    try {
      got = transport::try_receive(root, comm, msg);
    } catch (const decode_error& e) {
      // A malformed message: say so and keep serving; nothing in it can be trusted to answer.
      std::fprintf(stderr, "rankpool: worker rank %d dropped a malformed message: %s\n", rank, e.what());
      continue;
    }
    if (!got) {
      auto pause = pace.next();
      if (pause.count() > 0) {
        if (team) {
          team->wait_for_results(pause);
        } else {
          std::this_thread::sleep_for(pause);
        }
      }
      continue;
    }
    pace.reset();
    auto h = wire::decode_header(msg.bytes.data(), msg.bytes.size());
    const char* body = msg.bytes.data() + sizeof(wire::header);
    const std::size_t body_n = msg.bytes.size() - sizeof(wire::header);
    std::uint64_t exec_ns = 0;
    switch (static_cast<wire::kind>(h.kind)) {
      case wire::kind::shutdown: return;
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
            if (results.overdue(exec_ns)) results.flush();
          }
        } catch (const decode_error& e) {
          std::fprintf(stderr, "rankpool: worker rank %d dropped the rest of a malformed batch: %s\n", rank, e.what());
        }
        break;
      }
      default:
        std::fprintf(stderr, "rankpool: worker rank %d ignored a message of kind %u\n", rank, unsigned(h.kind));
        break;
    }
    results.flush();
  }
}

}  // namespace rankpool::detail
