// The worker's serve loop: receive a task or a batch of tasks and run each (inline, on a team of
// threads, or in an isolated child process), sending the results back batched. Stop requests
// arrive on a control tag that a running task's stop_requested() polls (stop_board); running
// one task is run_task's; a task that overruns its deadline fails with timeout_error. Idle
// workers spin briefly, then sleep with growing pauses, so oversubscribed nodes stay fast.

#include "worker/serve.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <rankpool/detail/log.hpp>
#include <thread>
#include <vector>

#include "common/worker_identity.hpp"
#include "wire/framing.hpp"
#include "wire/mpi_call.hpp"
#include "wire/transport.hpp"
#include "worker/crash.hpp"
#include "worker/isolation.hpp"
#include "worker/result_sender.hpp"
#include "worker/run_task.hpp"
#include "worker/stop_board.hpp"
#include "worker/thread_team.hpp"

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

class worker {
 public:
  worker(MPI_Comm comm, int root, const std::function<void()>& initializer, const worker_config& cfg)
      : comm_(comm), root_(root), cfg_(cfg), board_(comm, root), results_(comm, root) {
    mpi::call("MPI_Comm_rank", MPI_Comm_rank, comm, &rank_);
    this_worker().rank = rank_;
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
    if (cfg_.isolate && !team_) isolated_.emplace();
    RANKPOOL_LOG(info, "worker rank %d serving root %d (%zu threads%s%s)", rank_, root, cfg_.threads,
                 cfg_.isolate ? ", isolated" : "", init_error_ ? ", initializer FAILED" : "");
  }

  /// Whether the root's shutdown asked for a bye (it is draining after a failure).
  bool must_acknowledge() const noexcept { return acknowledge_; }

  /// After this worker failed and said so: receive and drop everything until the root's
  /// shutdown, so the root's sends to this rank complete and nobody waits on it. A failure here
  /// leaves no way to reach the root: the job is aborted.
  void drain_until_shutdown() noexcept {
    try {
      transport::incoming msg;
      transport::backoff pace;
      while (true) {
        if (!transport::try_receive(root_, comm_, msg)) {
          std::this_thread::sleep_for(pace.next());
          continue;
        }
        pace.reset();
        auto h = wire::decode_header(msg.bytes.data(), msg.bytes.size());
        if (h.kind == static_cast<std::uint8_t>(wire::kind::shutdown)) {
          acknowledge_ = (h.reserved[0] & wire::flag_acknowledge) != 0;
          return;
        }
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "rankpool: worker rank %d cannot drain the root's messages (%s); aborting the job\n", rank_,
                   e.what());
      mpi::try_call("MPI_Abort", MPI_Abort, comm_, 1);
    }
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
        acknowledge_ = (h.reserved[0] & wire::flag_acknowledge) != 0;
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
    task_timing t;
    if (init_error_ || isolated_) {
      t.started = std::chrono::steady_clock::now();
      if (init_error_) {
        write_exception(results_.out(), broken_by_initializer());
      } else {
        isolated_->run(id, body, n, results_.out(), cfg_.deadline_ns, [&] {
          board_.pull();
          return board_.asked(id);
        });
      }
      t.exec_ns = elapsed_ns(t.started);
      board_.forget(id);
    } else {
      t = run_task(id, body, n, results_.out(), board_, true, cfg_.deadline_ns);
    }
    exec_ns = t.exec_ns;
    results_.end(exec_ns, t.started);
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
  bool acknowledge_ = false;  // the shutdown asked for a bye
  int rank_ = 0;
  worker_config cfg_;
  stop_board board_;
  result_sender results_;
  std::exception_ptr init_error_;
  std::optional<thread_team> team_;
  std::optional<isolated_runner> isolated_;
};

}  // namespace

void serve(MPI_Comm comm, int root, const std::function<void()>& initializer, const worker_config& cfg) {
  worker w(comm, root, initializer, cfg);
  try {
    w.serve();
  } catch (const std::exception& e) {
    report_worker_failure(e, comm, root, this_worker().rank);
    w.drain_until_shutdown();
    if (w.must_acknowledge()) acknowledge_shutdown(comm, root);
    throw;
  }
  if (w.must_acknowledge()) acknowledge_shutdown(comm, root);
}

}  // namespace rankpool::detail
