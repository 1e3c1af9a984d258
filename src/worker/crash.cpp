// A crashing worker's last words (see crash.hpp): fatal-signal handlers and an exit hook that
// name the rank, host, signal and running task with write(2) only, then let the job end.

#include "worker/crash.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/worker_identity.hpp"

namespace rankpool::detail::crash {
namespace {

thread_local std::uint64_t current_id = 0;
thread_local const char* current_name = nullptr;
int my_rank = -1;
char host[128] = {};

void put(const char* s) {
  auto n = std::strlen(s);
  while (n > 0) {
    auto k = ::write(STDERR_FILENO, s, n);
    if (k <= 0) return;
    s += k;
    n -= static_cast<std::size_t>(k);
  }
}

void put_number(long long v) {
  char buf[32];
  int i = 31;
  buf[i] = '\0';
  bool neg = v < 0;
  unsigned long long u = neg ? static_cast<unsigned long long>(-(v + 1)) + 1 : static_cast<unsigned long long>(v);
  do {
    buf[--i] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u && i > 1);
  if (neg) buf[--i] = '-';
  put(buf + i);
}

struct sigaction previous[65];

void report(const char* what, long long code, bool with_code) {
  put("rankpool: worker rank ");
  put_number(my_rank);
  put(" on ");
  put(host);
  put(" ");
  put(what);
  if (with_code) put_number(code);
  if (current_name) {
    put(" while running task ");
    put_number(static_cast<long long>(current_id));
    put(" (");
    put(current_name);
    put(")");
  } else {
    put(" outside any task");
  }
  put("; the job cannot go on without it (RANKPOOL_ISOLATE=1 confines a crash to its task)\n");
}

extern "C" void on_fatal_signal(int sig) {
  report("died of signal ", sig, true);
  // Hand the signal to whoever had it before (the default action, or a sanitizer's report), so
  // the launcher sees the real cause and ends the job.
  sigaction(sig, &previous[sig], nullptr);
  raise(sig);
}

void on_exit_during_task() {
  if (current_name) report("called exit()", 0, false);
  current_name = nullptr;  // a signal raised later during exit must not report the task again
}

}  // namespace

void install(int rank) {
  static std::atomic<bool> done{false};
  my_rank = rank;
  std::snprintf(host, sizeof host, "%s", this_worker().host.c_str());
  if (done.exchange(true)) return;
  for (auto& p : previous) p.sa_handler = SIG_DFL;
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(sig, &sa, &previous[sig]);
  std::atexit(on_exit_during_task);
}

void uninstall() noexcept {
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(sig, &previous[sig], nullptr);
  current_name = nullptr;
}

void set_current(std::uint64_t id, const char* name) noexcept {
  current_id = id;
  current_name = name;
}

}  // namespace rankpool::detail::crash
