// Tasks that kill their process. `crash_test isolated` (RANKPOOL_ISOLATE semantics through the
// option): each crash fails only its own future with task_crashed and the pool goes on; exits 0
// when so. `crash_test segv|abort|exit`: no isolation; the worker dies and the job must end with
// a message naming the rank and the task (the ctest checks the message and the time).

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <rankpool/rankpool.hpp>
#include <string>

namespace {
int crash_by_segv(int x) {
  if (x >= 0) std::raise(SIGSEGV);
  return x;
}
int crash_by_abort(int x) {
  if (x >= 0) std::abort();
  return x;
}
int crash_by_exit(int x) {
  if (x >= 0) std::exit(3);
  return x;
}
int fine(int x) {
  return x + 1;
}

int check(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "crash_test: FAILED: %s\n", what);
  return ok ? 0 : 1;
}

int isolated() {
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.isolate = true});
  if (!pool.is_root()) return 0;
  int failures = 0;
  auto expect_crash = [&](rankpool::future<int> f, int sig, int code, const char* what) {
    try {
      f.result();
      failures += check(false, what);
    } catch (const rankpool::task_crashed& e) {
      std::printf("%s -> task_crashed: %s\n", what, e.what());
      failures += check(e.signal() == sig && (sig != 0 || e.exit_code() == code), what);
      failures += check(e.rank() >= 1 && !e.host().empty(), "crash names rank and host");
    }
  };
  for (int round = 0; round < 2; ++round) {
    expect_crash(pool.submit(crash_by_segv, 1), SIGSEGV, 0, "segfault");
    failures += check(pool.submit(fine, 1).result() == 2, "a task after a segfault runs");
    expect_crash(pool.submit(crash_by_abort, 1), SIGABRT, 0, "abort");
    expect_crash(pool.submit(crash_by_exit, 1), 0, 3, "exit(3)");
  }
  int sum = 0;
  for (int v : pool.map(fine, std::vector<int>(200, 1), {.chunksize = 7})) sum += v;
  failures += check(sum == 400, "the pool goes on after crashes");
  if (!failures) std::printf("crash_test: isolated crashes confined to their tasks\n");
  return failures;
}

int unisolated(const std::string& how) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return 0;
  auto fn = how == "segv" ? crash_by_segv : how == "abort" ? crash_by_abort : crash_by_exit;
  pool.submit(fn, 1).result();
  std::fprintf(stderr, "crash_test: the job went on after a worker died\n");
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  rankpool::environment env(argc, argv);
  std::string mode = argc > 1 ? argv[1] : "isolated";
  try {
    return mode == "isolated" ? isolated() : unisolated(mode);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crash_test: unexpected %s\n", e.what());
    return 1;
  }
}
