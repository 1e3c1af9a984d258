// Isolated task runs (see isolation.hpp): the forked child's loop over a socketpair, and the
// parent's side that turns a dead child into task_crashed and forks a fresh one.

#include "worker/isolation.hpp"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <rankpool/detail/log.hpp>
#include <rankpool/this_task.hpp>
#include <string>
#include <vector>

#include "common/worker_identity.hpp"
#include "worker/crash.hpp"
#include "worker/run_task.hpp"

namespace rankpool::detail {
namespace {

// Whole-buffer I/O on the socket to the child; false when the other side is gone.
bool send_all(int fd, const void* p, std::size_t n) {
  auto* c = static_cast<const char*>(p);
  while (n > 0) {
    auto k = ::send(fd, c, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    c += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}
bool recv_all(int fd, void* p, std::size_t n) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    auto k = ::recv(fd, c, n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    c += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

std::atomic<bool> child_stop{false};
extern "C" void on_stop_signal(int) {
  child_stop.store(true, std::memory_order_relaxed);
}

// In the child, exit() must not run the parent's exit handlers (MPI's among them): this one,
// registered last, runs first and leaves at once with the task's status.
void leave_now(int status, void*) {
  _exit(status);
}

}  // namespace

isolated_runner::isolated_runner(std::size_t max_tasks_per_child, bool capture_output)
    : max_tasks_(max_tasks_per_child) {
  if (capture_output) capture_.emplace();
  start();
}
isolated_runner::~isolated_runner() {
  stop();
}

void isolated_runner::start() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    throw error(std::string("rankpool: socketpair for an isolated task runner failed: ") + std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw error(std::string("rankpool: fork of an isolated task runner failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::close(fds[0]);
    if (capture_) capture_->redirect_for_good();
    child_loop(fds[1]);
  }
  ::close(fds[1]);
  pid_ = pid;
  fd_ = fds[0];
  child_tasks_ = 0;
}

void isolated_runner::stop() noexcept {
  if (fd_ >= 0) ::close(fd_);  // the child sees end-of-file and leaves
  fd_ = -1;
  if (pid_ > 0) {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
}

void isolated_runner::child_loop(int fd) {
  on_exit(leave_now, nullptr);
  this_worker().forked_child = true;
  // A dying child is reported by its parent, as task_crashed: no crash report or MPI backtrace
  // handler of the parent's should speak for it.
  crash::uninstall();
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) signal(sig, SIG_DFL);
  signal(SIGUSR1, on_stop_signal);
  std::vector<char> body;
  writer out;
  while (true) {
    std::uint64_t head[3];  // id, length, deadline in ns (0 = none)
    if (!recv_all(fd, head, sizeof head)) _exit(0);
    body.resize(static_cast<std::size_t>(head[1]));
    if (!recv_all(fd, body.data(), body.size())) _exit(0);
    out.reset_archive();
    out.raw().truncate(0);
    child_stop.store(false);
    task_context ctx;
    ctx.stop = &child_stop;
    if (head[2]) ctx.deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(head[2]);
    task_context_scope scope(ctx);
    run_body(head[0], body.data(), body.size(), out);
    flush_standard_streams();  // the parent reads the output once the answer is there
    out.reset_archive();
    std::uint64_t len = out.raw().size();
    if (!send_all(fd, &len, sizeof len) || !send_all(fd, out.raw().bytes().data(), len)) _exit(0);
  }
}

bool isolated_runner::await_answer(std::chrono::steady_clock::time_point t0, std::uint64_t deadline_ns,
                                   const std::function<int()>& stop_signal) {
  int sent = 0;  // the last signal sent; a stop can turn into a terminate later
  while (true) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 1);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return true;  // the read that follows finds out what went wrong
    if (const int sig = stop_signal ? stop_signal() : 0; sig != 0 && sig != sent) {
      ::kill(pid_, sig);
      sent = sig;
    }
    auto elapsed = std::chrono::steady_clock::now() - t0;
    if (deadline_ns && elapsed > std::chrono::nanoseconds(deadline_ns) + std::chrono::seconds(1)) {
      ::kill(pid_, SIGKILL);
      return false;
    }
  }
}

void isolated_runner::report_lost_child(writer& out, bool killed_for_time, std::uint64_t deadline_ns) {
  ::close(fd_);
  fd_ = -1;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (killed_for_time) {
    RANKPOOL_LOG(warn, "killed an isolated task that ran past its deadline; starting a fresh process");
    write_exception(out, overran(deadline_ns, true));
    return;
  }
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
  std::string how = sig ? "was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")"
                        : "exited with status " + std::to_string(code);
  RANKPOOL_LOG(warn, "an isolated task's process %s; starting a fresh one", how.c_str());
  write_exception(out, std::make_exception_ptr(task_crashed("rankpool: the task's process " + how + " (worker rank " +
                                                                std::to_string(this_worker().rank) + " on " +
                                                                this_worker().host + ")",
                                                            sig, code, this_worker().rank, this_worker().host)));
}

void isolated_runner::run(std::uint64_t id, const char* body, std::size_t n, writer& out, std::uint64_t deadline_ns,
                          const std::function<int()>& stop_signal) {
  try {
    // A child that ran its share of tasks leaves (end of file on its socket) for a fresh fork,
    // so memory a leaky library holds goes back with it.
    if (max_tasks_ && child_tasks_ >= max_tasks_) stop();
    if (pid_ <= 0) start();
    ++child_tasks_;
    if (capture_) capture_->clear();  // whatever came between tasks is no task's
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t head[3] = {id, n, deadline_ns};
    const bool sent = send_all(fd_, head, sizeof head) && send_all(fd_, body, n);
    const bool killed_for_time = sent && !await_answer(t0, deadline_ns, stop_signal);
    std::uint64_t len = 0;
    std::vector<char> result;
    if (sent && !killed_for_time && recv_all(fd_, &len, sizeof len)) {
      result.resize(static_cast<std::size_t>(len));
      if (recv_all(fd_, result.data(), result.size())) {
        if (deadline_ns && std::chrono::steady_clock::now() - t0 > std::chrono::nanoseconds(deadline_ns)) {
          write_exception(out, overran(deadline_ns));
        } else {
          out.raw().put(result.data(), result.size());
        }
        if (capture_) output_ = capture_->take();
        return;
      }
    }
    report_lost_child(out, killed_for_time, deadline_ns);
    if (capture_) output_ = capture_->take();  // what the task wrote before it died
    start();
  } catch (...) {
    write_exception(out, std::current_exception());
  }
}

}  // namespace rankpool::detail
