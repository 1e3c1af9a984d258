// A small workload for the trace, summary and logging tests (tests/telemetry_check.py): N
// submitted tasks and a chunked map, under comm_executor or thread_executor; the root prints
// what it ran so the checker can compare the trace and summary with it.
//   telemetry_probe comm|comm-options|thread|thread-twice|thread-killed <tasks> <map elements> <chunksize> [trace]
// comm-options sets trace and summary through executor_options instead of the environment;
// thread-killed kills itself with SIGKILL after the work, before the pool shuts down.

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <rankpool/rankpool.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

int probe_square(int x) {
  // Long enough that tasks spread over every worker and show up as visible slices.
  std::this_thread::sleep_for(std::chrono::microseconds(300));
  return x * x;
}

int probe_twice(int x) {
  return 2 * x;
}

template <class Pool>
long long run(Pool& pool, int tasks, int elements, std::size_t chunksize) {
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < tasks; ++i) fs.push_back(pool.submit(probe_square, i));
  long long sum = 0;
  for (auto& f : fs) sum += f.result();
  std::vector<int> xs(static_cast<std::size_t>(elements));
  for (int i = 0; i < elements; ++i) xs[static_cast<std::size_t>(i)] = i;
  rankpool::map_options mo;
  mo.chunksize = chunksize;
  for (int v : pool.map(probe_twice, xs, mo)) sum += v;
  return sum;
}

}  // namespace

int probe_main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(
        stderr,
        "usage: telemetry_probe comm|comm-options|thread|thread-twice|thread-killed <tasks> <elements> <chunksize> "
        "[trace]\n");
    return 2;
  }
  const std::string mode = argv[1];
  const int tasks = std::atoi(argv[2]), elements = std::atoi(argv[3]);
  const auto chunksize = static_cast<std::size_t>(std::atoi(argv[4]));
  const std::size_t chunks = (static_cast<std::size_t>(elements) + chunksize - 1) / chunksize;
  long long sum = 0;
  std::size_t workers = 0;
  if (mode == "thread-killed") {
    // As a job killed by its scheduler: the trace is never finished, only streamed.
    rankpool::thread_executor pool(3);
    sum = run(pool, tasks, elements, chunksize);
    std::printf("probe: workers=%zu tasks=%d elements=%d chunks=%zu sum=%lld\n", pool.num_workers(), tasks, elements,
                chunks, sum);
    std::fflush(stdout);
    // The writer streams every 100 ms: after this every task is on disk.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::raise(SIGKILL);
  }
  if (mode == "thread" || mode == "thread-twice") {
    // thread-twice: a second pool after the first, which must get a trace file of its own.
    for (int round = 0; round < (mode == "thread" ? 1 : 2); ++round) {
      rankpool::thread_executor pool(3);
      workers = pool.num_workers();
      sum = run(pool, tasks, elements, chunksize);
      pool.shutdown();
    }
  } else {
    rankpool::environment env(argc, argv);
    rankpool::executor_options o;
    if (mode == "comm-options") {
      o.summary = true;
      if (argc > 5) o.trace = argv[5];
    }
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, o);
    if (!pool.is_root()) return 0;
    workers = pool.num_workers();
    sum = run(pool, tasks, elements, chunksize);
    pool.shutdown();
  }
  std::printf("probe: workers=%zu tasks=%d elements=%d chunks=%zu sum=%lld\n", workers, tasks, elements, chunks, sum);
  return 0;
}

int main(int argc, char** argv) {
  try {
    return probe_main(argc, argv);
  } catch (const std::exception& e) {
    // A bad trace path and the like: the message and a failing status, as a program would.
    std::fprintf(stderr, "telemetry_probe: %s\n", e.what());
    return 1;
  }
}
