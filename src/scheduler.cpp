// The root's scheduler. One progress thread owns every MPI call of the pool; user threads hand
// it tasks through an inbox. It keeps up to `in_flight` tasks outstanding per worker (idle
// workers first), so a worker never waits a round trip between tasks, and it spins briefly, then
// sleeps, when nothing moves.

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "mpi_core.hpp"
#include "transport.hpp"
#include "wire.hpp"

namespace rankpool::detail {
namespace {

class scheduler final : public executor_core {
 public:
  explicit scheduler(scheduler_config cfg) : cfg_(std::move(cfg)), load_(cfg_.workers.size(), 0) {
    if (cfg_.in_flight == 0) cfg_.in_flight = 1;
    for (std::size_t i = 0; i < cfg_.workers.size(); ++i) index_of_rank_[cfg_.workers[i]] = i;
    thread_ = std::thread([this] { run(); });
  }

  ~scheduler() override {
    try {
      shutdown(true, false);
    } catch (...) {  // the failure is already on every future
    }
    if (thread_.joinable()) thread_.join();  // shutdown from a callback on the thread itself
    release_comm();
  }

  void submit(std::vector<task_ptr>& tasks) override {
    std::unique_lock lk(m_);
    if (shutdown_) throw invalid_state_error("rankpool: cannot submit after shutdown");
    if (broken_) {
      lk.unlock();
      for (auto& t : tasks) t->fail(broken_error_);
      tasks.clear();
      return;
    }
    for (auto& t : tasks) inbox_.push_back(std::move(t));
    tasks.clear();
    has_news_.store(true, std::memory_order_release);
    lk.unlock();
    cv_.notify_one();
  }

  void shutdown(bool wait, bool cancel_futures) override {
    {
      std::lock_guard lk(m_);
      shutdown_ = true;
      if (cancel_futures) cancel_requested_ = true;
      has_news_.store(true, std::memory_order_release);
    }
    cv_.notify_one();
    if (!wait || std::this_thread::get_id() == thread_.get_id()) return;
    std::lock_guard jl(join_mutex_);
    if (thread_.joinable()) thread_.join();
    if (thread_error_) std::rethrow_exception(std::exchange(thread_error_, nullptr));
  }

  std::size_t num_workers() const noexcept override { return cfg_.workers.size(); }
  bool wants_bytes() const noexcept override { return true; }
  bool runs_locally() const noexcept override { return false; }

 private:
  struct in_flight_task {
    task_ptr t;
    std::size_t worker;
    transport::outgoing send;
  };

  void run() {
    try {
      loop();
    } catch (...) {
      // An MPI failure on the root: every future still open fails, and shutdown rethrows.
      thread_error_ = std::current_exception();
      auto e = std::make_exception_ptr(broken_executor(std::string("rankpool: the pool's progress thread failed: ") +
                                                       describe(thread_error_)));
      fail_everything(e);
    }
  }

  static std::string describe(const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      return ex.what();
    } catch (...) {
      return "unknown error";
    }
  }

  void loop() {
    transport::backoff pace(std::chrono::microseconds(200), std::chrono::microseconds(500));
    transport::incoming msg;
    bool stopping = false;
    while (true) {
      bool progressed = take_inbox(stopping);
      progressed |= dispatch();
      while (receive(msg)) {
        handle(msg);
        progressed = true;
      }
      if (stopping && queue_.empty() && running_.empty()) break;
      if (progressed) {
        pace.reset();
        continue;
      }
      std::unique_lock lk(m_);
      if (has_news_.load(std::memory_order_acquire)) continue;
      if (running_.empty()) {
        // Nothing can arrive from the workers: sleep until a user thread has news.
        cv_.wait(lk, [&] { return has_news_.load(std::memory_order_acquire); });
        pace.reset();
      } else {
        auto pause = pace.next();
        if (pause.count() > 0) cv_.wait_for(lk, pause);
      }
    }
    stop_workers();
  }

  bool receive(transport::incoming& msg) {
    try {
      return transport::try_receive(MPI_ANY_SOURCE, cfg_.comm, msg);
    } catch (const decode_error& e) {
      std::fprintf(stderr, "rankpool: root dropped a malformed message from rank %d: %s\n", msg.source, e.what());
      return true;  // something was consumed: poll again
    }
  }

  // Moves new tasks from the inbox; applies shutdown and cancel requests.
  bool take_inbox(bool& stopping) {
    if (!has_news_.load(std::memory_order_acquire)) return false;
    std::vector<task_ptr> fresh;
    bool cancel;
    {
      std::lock_guard lk(m_);
      fresh.swap(inbox_);
      has_news_.store(false, std::memory_order_relaxed);
      stopping = shutdown_;
      cancel = std::exchange(cancel_requested_, false);
    }
    for (auto& t : fresh) queue_.push_back(std::move(t));
    if (cancel) {
      for (auto& t : queue_) t->state().cancel();
      queue_.clear();
    }
    return !fresh.empty() || cancel;
  }

  bool dispatch() {
    bool any = false;
    while (!queue_.empty()) {
      std::size_t w = least_loaded();
      if (load_[w] >= cfg_.in_flight) break;
      task_ptr t = std::move(queue_.front());
      queue_.pop_front();
      if (!t->state().set_running()) continue;  // cancelled while queued
      auto id = next_id_++;
      auto& bytes = t->bytes();
      wire::put_header(bytes.data(), wire::kind::task, id, bytes.size() - sizeof(wire::header));
      auto [it, ok] = running_.try_emplace(id, in_flight_task{std::move(t), w, {}});
      it->second.send.start(bytes.data(), bytes.size(), cfg_.workers[w], cfg_.comm);
      ++load_[w];
      any = true;
    }
    return any;
  }

  std::size_t least_loaded() const {
    // Scan from a rotating start so equally loaded workers share the work.
    std::size_t best = rotate_ % load_.size();
    for (std::size_t k = 1; k < load_.size(); ++k) {
      std::size_t i = (rotate_ + k) % load_.size();
      if (load_[i] < load_[best]) best = i;
    }
    ++rotate_;
    return best;
  }

  void handle(transport::incoming& msg) {
    auto wit = index_of_rank_.find(msg.source);
    wire::header h;
    try {
      if (wit == index_of_rank_.end()) throw decode_error("message from a rank that is not a worker");
      h = wire::decode_header(msg.bytes.data(), msg.bytes.size());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "rankpool: root dropped a malformed message from rank %d: %s\n", msg.source, e.what());
      return;
    }
    reader in(msg.bytes.data() + sizeof(wire::header), msg.bytes.size() - sizeof(wire::header));
    if (h.kind == static_cast<std::uint8_t>(wire::kind::init_failed)) {
      std::exception_ptr cause;
      try {
        if (in.raw().get_value<std::uint8_t>() == result_exception) cause = read_exception(in);
      } catch (...) {
      }
      mark_broken("rankpool: the executor is broken: the initializer failed on worker rank " +
                  std::to_string(msg.source) + (cause ? ": " + describe(cause) : std::string()));
      return;
    }
    auto it = running_.find(h.id);
    if (h.kind != static_cast<std::uint8_t>(wire::kind::result) || it == running_.end() ||
        it->second.worker != wit->second) {
      std::fprintf(stderr, "rankpool: root ignored an unexpected message (kind %u, task %llu) from rank %d\n",
                   unsigned(h.kind), static_cast<unsigned long long>(h.id), msg.source);
      return;
    }
    auto entry = std::move(it->second);
    running_.erase(it);
    --load_[entry.worker];
    entry.send.wait();  // the worker answered, so the send has completed: this only frees it
    entry.t->complete_from(in);
  }

  void mark_broken(const std::string& why) {
    auto e = std::make_exception_ptr(broken_executor(why));
    {
      std::lock_guard lk(m_);
      if (broken_) return;
      broken_ = true;
      broken_error_ = e;
    }
    fail_everything(e);
  }

  // Fails queued, inbox and in-flight tasks (their late results are then ignored).
  void fail_everything(const std::exception_ptr& e) {
    std::vector<task_ptr> inbox;
    {
      std::lock_guard lk(m_);
      inbox.swap(inbox_);
      broken_ = true;
      if (!broken_error_) broken_error_ = e;
    }
    for (auto& t : inbox) t->fail(e);
    for (auto& t : queue_) t->fail(e);
    queue_.clear();
    for (auto& [id, entry] : running_) entry.t->fail(e);
    // In-flight entries stay until their results arrive (their send buffers are in use) unless
    // the thread is going down.
  }

  void stop_workers() {
    char buf[sizeof(wire::header)];
    wire::put_header(buf, wire::kind::shutdown, 0, 0);
    for (int r : cfg_.workers) transport::send(buf, sizeof buf, r, cfg_.comm);
    for (int r : cfg_.idle_ranks) transport::send(buf, sizeof buf, r, cfg_.comm);
  }

  void release_comm() {
    if (cfg_.comm == MPI_COMM_NULL) return;
    if (cfg_.disconnect) {
      MPI_Comm_disconnect(&cfg_.comm);
    } else {
      MPI_Comm_free(&cfg_.comm);
    }
    cfg_.comm = MPI_COMM_NULL;
  }

  scheduler_config cfg_;
  std::vector<std::size_t> load_;
  std::unordered_map<int, std::size_t> index_of_rank_;
  mutable std::size_t rotate_ = 0;
  std::uint64_t next_id_ = 1;
  std::deque<task_ptr> queue_;
  std::unordered_map<std::uint64_t, in_flight_task> running_;

  std::mutex m_;
  std::condition_variable cv_;
  std::atomic<bool> has_news_{false};
  std::vector<task_ptr> inbox_;
  bool shutdown_ = false;
  bool cancel_requested_ = false;
  bool broken_ = false;
  std::exception_ptr broken_error_;

  std::mutex join_mutex_;
  std::exception_ptr thread_error_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<executor_core> make_scheduler(scheduler_config cfg) {
  return std::make_unique<scheduler>(std::move(cfg));
}

}  // namespace rankpool::detail
