// rankpool-bench: the figures of the "Performance" issue, measured on rankpool's comm_executor
// and on bare MPI baselines, printed as JSON lines (one object per measurement) on rank 0's
// stdout. Every rank runs the program; only rank 0 prints.
//
//     mpirun -n 2 rankpool-bench [--runs R] [--quick] [--variants pool,static,serial,shared,static-shared] [--grid
//     D,...] <benchmark>...
//
// --grid 200,1000 runs the granularity sweep at those task lengths (µs) only.
//
// Benchmarks (impl "rankpool" unless said):
//   latency        submit(noop).result() round trips: median and p99 in µs
//   submit         100k unchunked submit(identity, i), then wait for all: tasks/s
//   map            map(identity, 1M ints, chunksize 1000), consumed in order: tasks/s
//   bandwidth      submit(payload_size, 1 MiB vector<char>).result(), one at a time: MB/s (10^6 B)
//   idle           a pool left idle for 5 s: CPU of all ranks as % of one core; then latency again
//   scrypt         32 x EVP_PBE_scrypt(n=128, r=1024, p=8, dklen=64): pool (map, chunksize 1),
//                  static split (impl raw-mpi) and serial on rank 0 (impl serial): wall seconds
//   svd            4000 x JacobiSVD singular values of 1000x10: as scrypt, map chunksize 50; also
//                  the input placed once per node with share() and tasks that carry indices
//                  (impl rankpool-shared, with the bytes rank 0 sent of it), and the static split
//                  reading a node's MPI-3 shared window (impl raw-mpi-shared); both times
//                  include placing the input
//   memory         rank 0's RSS growth while 1M submitted futures are pending: MB (10^6 B)
//   granularity    efficiency (tasks x d / (workers x wall)) of tasks that each busy-wait d µs of
//                  CPU, d = 1..1000: unchunked submit, map (automatic chunksize) and a bare MPI
//                  farm (impl raw-mpi, 16 tasks in flight per worker); one line per d and way
//   mixed          makespan of busy-waiting tasks submitted one by one, against the greedy list
//                  schedule of the same durations in the same order: one 1 s task among many
//                  1 ms ones, and lognormal durations (median 1 ms, sigma 1)
//   gang           a mixed workload of 1-rank and 4-rank (team, submit_parallel) tasks, each
//                  holding its ranks 1 ms or 2 ms: utilisation (rank-seconds of work ÷ (workers x
//                  wall)) and makespan against the greedy list schedule that starts each task, in
//                  order, once as many workers as it needs are free
//   dag            a tree reduction of 100k leaves (2L - 1 tasks: leaf_value(i), add(left, right)),
//                  three ways: the whole tree submitted at once with futures as arguments (impl
//                  rankpool, variant futures-as-arguments), level by level with the caller
//                  waiting on each level (impl rankpool-wait-by-hand), and a bare MPI farm whose
//                  rank 0 tracks the dependencies itself (impl raw-mpi): seconds, tasks/s, and
//                  for the pool ways rank 0's peak resident memory (MB)
//   lazy           map over 1M elements in chunks of 16: with buffersize 64 over an endless input
//                  (leaving after 1M results) against the eager map: seconds and rank 0's
//                  resident memory growth (MB)
//   raw-latency    MPI_Send/MPI_Recv ping-pong of 8 bytes between ranks 0 and 1 (impl raw-mpi)
//   raw-farm       a bare rank-0 farm of 100k 16-byte tasks, 4 in flight per worker: tasks/s
//   raw-bandwidth  1 MiB MPI_Send to rank 1, 8-byte reply: MB/s (the same exchange as bandwidth)
//   raw            the three raw-* benchmarks;  all  every benchmark
//
// Every object has bench, impl, ranks, workers, median, p99, min, max, unit, runs and the
// parameters of its workload. p99 is the tail in the bad direction: the 99th-percentile
// (nearest rank) of the times; for a rate it is the rate of the 99th-percentile run, that is
// the 1st percentile of the rates. Latencies pool every round trip of every run; the other
// figures take one value per run.
//
// Fairness rules the measurements follow:
//  - Ranks that merely wait (for a barrier, for rank 0's serial run, rank 0 waiting for a static
//    split) never sit in a blocking MPI call: Open MPI polls a core at 100% there, which on an
//    oversubscribed node would take the CPU from the ranks being measured. They test and sleep.
//  - The static split uses the same compute ranks as the pool (ranks 1..P-1; rank 0 only
//    scatters and gathers), so "-n 3" compares a 2-worker pool with a 2-way split. Its inputs
//    start on rank 0, as the pool's do: svd sends every matrix from rank 0 (the time includes
//    the scatter); scrypt's inputs are a few bytes derived from their index, so each rank
//    makes its own.
//  - The raw baselines spin in blocking MPI calls: they are the floor that MPI itself allows.

#include <malloc.h>
#include <mpi.h>
#include <openssl/evp.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>

#include <Eigen/SVD>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <queue>
#include <random>
#include <ranges>
#include <rankpool/eigen.hpp>
#include <rankpool/rankpool.hpp>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "command_line.hpp"  // from examples/: the command line as svd_batch and scrypt_batch read it

namespace {

using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

void check_mpi(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw std::runtime_error(std::string("rankpool-bench: ") + what + " failed");
}

// ---- waiting without burning a core ---------------------------------------------------------

// Completes `reqs` the way rankpool's own loops pace themselves: keep testing (yielding the
// core) while requests complete, sleep with growing pauses when nothing has moved for a while.
// Rank 0 keeps large sends progressing, and an idle waiter costs next to no CPU.
void quiet_waitall(std::vector<MPI_Request>& reqs) {
  std::vector<int> done(reqs.size());
  std::size_t left = std::count_if(reqs.begin(), reqs.end(), [](MPI_Request r) { return r != MPI_REQUEST_NULL; });
  auto last_progress = steady::now();
  auto pause = 0us;
  while (left > 0) {
    int outcount = 0;
    check_mpi(MPI_Testsome(static_cast<int>(reqs.size()), reqs.data(), &outcount, done.data(), MPI_STATUSES_IGNORE),
              "MPI_Testsome");
    if (outcount == MPI_UNDEFINED) break;
    if (outcount > 0) {
      left -= static_cast<std::size_t>(outcount);
      last_progress = steady::now();
      pause = 0us;
    } else if (steady::now() - last_progress < 200us) {
      sched_yield();
    } else {
      pause = pause == 0us ? 5us : std::min<std::chrono::microseconds>(pause * 2, 1000us);
      std::this_thread::sleep_for(pause);
    }
  }
}

void quiet_wait(MPI_Request& r) {
  std::vector<MPI_Request> one{r};
  quiet_waitall(one);
  r = MPI_REQUEST_NULL;
}

void quiet_barrier() {
  MPI_Request r;
  check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &r), "MPI_Ibarrier");
  quiet_wait(r);
}

// ---- process measurements -------------------------------------------------------------------

// CPU seconds of the whole process (every thread, user and system).
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

// CPU nanoseconds of the calling thread.
double thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

// A field of /proc/self/status in bytes (VmRSS, VmHWM), 0 when absent.
double status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream s(line.substr(field.size() + 1));
      double kb = 0;
      s >> kb;
      return kb * 1024.0;
    }
  }
  return 0;
}

// Resets VmHWM to the current RSS (Linux "clear_refs" 5), so the peak seen later belongs to
// the measured phase only. False where the kernel refuses.
bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

// ---- statistics and output ------------------------------------------------------------------

struct summary {
  double median = 0, p99 = 0, min = 0, max = 0;
};

// `higher_is_better`: p99 is taken at the low end (the slow tail of a rate).
summary summarize(std::vector<double> v, bool higher_is_better) {
  summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  const auto rank99 = static_cast<std::size_t>(std::ceil(0.99 * static_cast<double>(n)));
  s.p99 = higher_is_better ? v[n - rank99] : v[rank99 - 1];
  s.min = v.front();
  s.max = v.back();
  return s;
}

std::string json_number(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
      continue;
    }
    out += ch;
  }
  return out + "\"";
}

// One JSON object, fields in insertion order.
class record {
 public:
  record(const std::string& bench, const std::string& impl, int ranks, std::size_t workers) {
    put("bench", json_string(bench));
    put("impl", json_string(impl));
    put("ranks", std::to_string(ranks));
    put("workers", std::to_string(workers));
  }
  record& num(const std::string& key, double v) { return put(key, json_number(v)); }
  record& integer(const std::string& key, std::uint64_t v) { return put(key, std::to_string(v)); }
  record& str(const std::string& key, const std::string& v) { return put(key, json_string(v)); }
  record& flag(const std::string& key, bool v) { return put(key, v ? "true" : "false"); }
  record& stats(const std::vector<double>& values, bool higher_is_better, const std::string& unit, int runs) {
    auto s = summarize(values, higher_is_better);
    num("median", s.median).num("p99", s.p99).num("min", s.min).num("max", s.max);
    str("unit", unit).integer("runs", static_cast<std::uint64_t>(runs));
    return *this;
  }
  // Rank 0 only; flushed at once so a run cut short still leaves its finished lines.
  void print() const {
    std::printf("{%s}\n", body_.c_str());
    std::fflush(stdout);
  }

 private:
  record& put(const std::string& key, const std::string& value) {
    if (!body_.empty()) body_ += ", ";
    body_ += json_string(key) + ": " + value;
    return *this;
  }
  std::string body_;
};

// ---- configuration --------------------------------------------------------------------------

struct config {
  int runs = 5;
  bool quick = false;
  std::set<std::string> variants{"pool", "static", "serial", "shared", "static-shared"};
  std::vector<std::string> benches;
  std::vector<int> grid;  // --grid: the granularity sweep's task lengths (µs) instead of the default
  int rank = 0;
  int size = 1;
  bool root() const { return rank == 0; }
  bool wants(const std::string& variant) const { return variants.count(variant) > 0; }
  // Full size, or the --quick size for the smoke test.
  std::size_t pick(std::size_t full, std::size_t quick_size) const { return quick ? quick_size : full; }
};

const std::vector<std::string> all_benches = {"latency",     "submit",   "map",           "bandwidth", "idle", "scrypt",
                                              "svd",         "memory",   "granularity",   "mixed",     "gang", "held",
                                              "raw-latency", "raw-farm", "raw-bandwidth", "shm-touch", "dag",  "lazy"};

constexpr const char* usage_text =
    "usage: rankpool-bench [--runs R] [--quick] [--variants pool,static,serial,shared,static-shared] [--grid D,...] "
    "<benchmark>...\n"
    "benchmarks: latency submit map bandwidth idle scrypt svd memory granularity mixed gang held dag lazy\n"
    "            raw-latency raw-farm raw-bandwidth shm-touch,\n"
    "            raw (the three raw-*), all\n"
    "Run under mpirun (2 ranks or more); rank 0 prints one JSON object per measurement.\n";

// `text` as a whole number from `low` to `high` (strtol: leading blanks and a sign allowed).
std::optional<int> number_in(const std::string& text, long low, long high) {
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < low || v > high) return std::nullopt;
  return static_cast<int>(v);
}

// Every rank parses the same command line, so every rank reaches the same verdict. Returns the
// message of a bad command line, an empty one for --help, nothing when the benchmarks are to run.
std::optional<std::string> parse(int argc, char** argv, config& c) {
  // An option and its value are separate words ("--runs=5" is unknown), and "--" ends nothing.
  command_line::parser<std::invalid_argument> cl({argv + 1, argv + argc},
                                                 {.long_joined = false, .double_dash_ends_options = false});
  const auto unknown = [](const std::string& word) { return "unknown benchmark or option '" + word + "'"; };
  cl.unknown(unknown);
  cl.flag("-h,--help", [] { throw CLI::CallForHelp(); });  // the rest of the command line is not read
  cl.flag("--quick", [&] { c.quick = true; });
  cl.option("--runs", [&](const std::string&, const std::string& v) {
    const std::optional<int> r = number_in(v, 1, 100000);
    if (!r) throw std::invalid_argument("--runs: '" + v + "' is not a positive integer");
    c.runs = *r;
  });
  cl.option("--grid", [&](const std::string&, const std::string& list) {
    std::istringstream s(list);
    for (std::string v; std::getline(s, v, ',');) {
      const std::optional<int> d = number_in(v, 1, 10000000);
      if (!d) throw std::invalid_argument("--grid: '" + v + "' is not a task length in µs");
      c.grid.push_back(*d);
    }
  });
  cl.option("--variants", [&](const std::string&, const std::string& list) {
    c.variants.clear();
    std::istringstream s(list);
    for (std::string v; std::getline(s, v, ',');) {
      if (v != "pool" && v != "static" && v != "serial" && v != "shared" && v != "static-shared")
        throw std::invalid_argument("--variants: unknown variant '" + v + "'");
      c.variants.insert(v);
    }
  });
  cl.operands([&](const std::string& word) {
    if (word == "all") {
      c.benches.insert(c.benches.end(), all_benches.begin(), all_benches.end());
    } else if (word == "raw") {
      for (const char* b : {"raw-latency", "raw-farm", "raw-bandwidth"}) c.benches.emplace_back(b);
    } else if (std::find(all_benches.begin(), all_benches.end(), word) != all_benches.end()) {
      c.benches.push_back(word);
    } else {
      throw std::invalid_argument(unknown(word));
    }
  });
  try {
    cl.parse();
  } catch (const CLI::CallForHelp&) {
    return std::string();
  } catch (const std::invalid_argument& e) {
    return std::string(e.what());
  }
  if (c.benches.empty()) return "no benchmark named";
  return std::nullopt;
}

// ---- task functions (free functions: rankpool finds them on the workers by address) ------

void noop() {}

int identity(int x) {
  return x;
}

// A dependent chain of `n` multiply-adds (one linear congruential step each): work the compiler
// can neither fold nor vectorise, and that reads no clock while it runs.
std::uint64_t spin_work(std::uint64_t n) {
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (std::uint64_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    asm volatile("" : "+r"(x));
  }
  return x;
}

// spin_work steps per µs of this rank's CPU, set by calibrate_work() at start.
double work_per_us = 0;

// Measures spin_work's speed on this rank: the fastest of five slices of about 2 ms, timed by
// the thread's CPU clock, so a slice that loses its core to another rank still measures the
// core's speed, not the share it got.
void calibrate_work() {
  constexpr std::uint64_t slice = 1u << 20;
  double best_ns = 0;
  for (int i = 0; i < 5; ++i) {
    const double t0 = thread_cpu_ns();
    volatile std::uint64_t sink = spin_work(slice);
    (void)sink;
    const double ns = thread_cpu_ns() - t0;
    if (best_ns == 0 || ns < best_ns) best_ns = ns;
  }
  work_per_us = static_cast<double>(slice) * 1000.0 / best_ns;
}

// Computes for `us` µs of this rank's CPU (the granularity sweep's task, as Task Bench's
// compute-bound kernel): a fixed amount of work calibrated at start, not a loop on a clock. A
// task whose core is taken by another rank takes longer, so stolen CPU shows in the efficiency
// as it does for real compute; and there is no clock to read, whose cost (a system call of
// about 1.3 µs for the thread's CPU clock on this VM) made a 2 µs task take 4.
int busy_wait(int us) {
  volatile std::uint64_t sink = spin_work(static_cast<std::uint64_t>(us * work_per_us + 0.5));
  (void)sink;
  return us;
}

// Waits `us` µs of wall time, sleeping through all but the last 100 µs (the mixed workloads'
// task): the list-schedule comparison is about where tasks are placed, and 4 workers on a
// 2-core machine can then all run their tasks as the ideal assumes.
int hold(int us) {
  const auto until = steady::now() + std::chrono::microseconds(us);
  if (us > 100) std::this_thread::sleep_until(until - 100us);
  while (steady::now() < until) std::this_thread::yield();
  return us;
}

std::uint64_t payload_size(const std::vector<char>& v) {
  return v.size();
}

// The CPU this worker rank has used since `cpu_mark` (set on every rank just before the
// idle pool was built), and which rank it is.
double cpu_mark = 0;
std::pair<int, double> cpu_since_mark(int) {
  return {world_rank(), cpu_seconds() - cpu_mark};
}

// Keeps a worker busy until rank 0 sends the release message on MPI_COMM_WORLD (rankpool talks
// on its own duplicate, so this message never meets the pool's traffic), so every future
// submitted meanwhile stays pending. Sleeps between probes: the root must have the core.
constexpr int release_tag = 7301;
void hold_until_released() {
  int flag = 0;
  MPI_Status st;
  while (true) {
    MPI_Iprobe(0, release_tag, MPI_COMM_WORLD, &flag, &st);
    if (flag) break;
    std::this_thread::sleep_for(1ms);
  }
  char byte = 0;
  MPI_Recv(&byte, 1, MPI_CHAR, 0, release_tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

// scrypt (RFC 7914) with the parameters: 16 MiB of memory per hash, 8 lanes.
constexpr std::uint64_t scrypt_n = 128, scrypt_r = 1024, scrypt_p = 8;
constexpr const char* scrypt_salt = "rankpool-bench";
struct digest {
  unsigned char bytes[64];
  friend bool operator==(const digest&, const digest&) = default;
};
std::string scrypt_password(std::size_t i) {
  return "password-" + std::to_string(i);
}
digest scrypt_hash(const std::string& password) {
  digest d{};
  // maxmem 0: OpenSSL's 32 MiB default, which fits 128*r*(n+p) = 17 MiB (as Python's hashlib).
  if (EVP_PBE_scrypt(password.data(), password.size(), reinterpret_cast<const unsigned char*>(scrypt_salt),
                     std::strlen(scrypt_salt), scrypt_n, scrypt_r, scrypt_p, 0, d.bytes, sizeof d.bytes) != 1)
    throw std::runtime_error("EVP_PBE_scrypt failed");
  return d;
}
std::string hex(const digest& d, std::size_t n) {
  std::string s;
  char buf[3];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", d.bytes[i]);
    s += buf;
  }
  return s;
}

constexpr Eigen::Index svd_rows = 1000, svd_cols = 10;
Eigen::VectorXd singular_values(const Eigen::MatrixXd& m) {
  return m.jacobiSvd().singularValues();
}

// ---- shared pieces of the pool benchmarks ----------------------------------------------------

// Round trips of submit(noop).result(), in µs.
std::vector<double> round_trips(rankpool::comm_executor& pool, std::size_t n) {
  std::vector<double> us;
  us.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto t0 = steady::now();
    pool.submit(noop).result();
    us.push_back(seconds_since(t0) * 1e6);
  }
  return us;
}

// Contiguous share [first, last) of `count` items for compute rank `k` of `parts`.
std::pair<std::size_t, std::size_t> share(std::size_t count, std::size_t k, std::size_t parts) {
  return {count * k / parts, count * (k + 1) / parts};
}

bool needs_two_ranks(const config& c, const std::string& bench) {
  if (c.size >= 2) return false;
  if (c.root()) std::fprintf(stderr, "rankpool-bench: %s skipped: it needs at least 2 ranks\n", bench.c_str());
  return true;
}

// ---- rankpool benchmarks ----------------------------------------------------------------

void bench_latency(const config& c) {
  const std::size_t iters = c.pick(20000, 2000);
  std::vector<double> us;
  std::size_t workers = 0;
  {
    rankpool::comm_executor pool;
    if (pool.is_root()) {
      workers = pool.num_workers();
      round_trips(pool, iters / 10);  // warm-up: connections, page faults, allocator
      for (int r = 0; r < c.runs; ++r) {
        auto v = round_trips(pool, iters);
        us.insert(us.end(), v.begin(), v.end());
      }
    }
  }
  if (c.root())
    record("latency", "rankpool", c.size, workers).stats(us, false, "us", c.runs).integer("iterations", iters).print();
}

void bench_submit(const config& c) {
  const std::size_t tasks = c.pick(100000, 20000);
  std::vector<double> rates, submit_phase;
  std::size_t workers = 0;
  {
    rankpool::comm_executor pool;
    if (pool.is_root()) {
      workers = pool.num_workers();
      for (int r = -1; r < c.runs; ++r) {  // run -1 warms up
        std::vector<rankpool::future<int>> fs;
        fs.reserve(tasks);
        auto t0 = steady::now();
        for (std::size_t i = 0; i < tasks; ++i) fs.push_back(pool.submit(identity, static_cast<int>(i)));
        double submitted = seconds_since(t0);
        long long sum = 0;
        for (auto& f : fs) sum += f.result();
        double total = seconds_since(t0);
        if (sum != static_cast<long long>(tasks) * static_cast<long long>(tasks - 1) / 2)
          throw std::runtime_error("submit: wrong results");
        if (r < 0) continue;
        rates.push_back(static_cast<double>(tasks) / total);
        submit_phase.push_back(submitted);
      }
    }
  }
  if (c.root())
    record("submit", "rankpool", c.size, workers)
        .stats(rates, true, "tasks/s", c.runs)
        .integer("tasks", tasks)
        .num("submit_phase_s", summarize(submit_phase, false).median)
        .print();
}

void bench_map(const config& c) {
  const std::size_t tasks = c.pick(1000000, 100000), chunksize = 1000;
  std::vector<double> rates;
  std::size_t workers = 0;
  {
    rankpool::comm_executor pool;
    if (pool.is_root()) {
      workers = pool.num_workers();
      std::vector<int> xs(tasks);
      std::iota(xs.begin(), xs.end(), 0);
      for (int r = -1; r < c.runs; ++r) {
        auto t0 = steady::now();
        long long sum = 0;
        for (int v : pool.map(identity, xs, {.chunksize = chunksize})) sum += v;
        double total = seconds_since(t0);
        if (sum != static_cast<long long>(tasks) * static_cast<long long>(tasks - 1) / 2)
          throw std::runtime_error("map: wrong results");
        if (r >= 0) rates.push_back(static_cast<double>(tasks) / total);
      }
    }
  }
  if (c.root())
    record("map", "rankpool", c.size, workers)
        .stats(rates, true, "tasks/s", c.runs)
        .integer("tasks", tasks)
        .integer("chunksize", chunksize)
        .print();
}

constexpr std::size_t mib = 1 << 20;

void bench_bandwidth(const config& c) {
  const std::size_t iters = c.pick(400, 40);
  std::vector<double> rates;
  std::size_t workers = 0;
  {
    rankpool::comm_executor pool;
    if (pool.is_root()) {
      workers = pool.num_workers();
      const std::vector<char> payload(mib, 'x');
      for (int r = -1; r < c.runs; ++r) {
        auto t0 = steady::now();
        for (std::size_t i = 0; i < iters; ++i)
          if (pool.submit(payload_size, payload).result() != mib) throw std::runtime_error("bandwidth: wrong size");
        double total = seconds_since(t0);
        if (r >= 0) rates.push_back(static_cast<double>(iters * mib) / total / 1e6);
      }
    }
  }
  if (c.root())
    record("bandwidth", "rankpool", c.size, workers)
        .stats(rates, true, "MB/s", c.runs)
        .integer("bytes", mib)
        .integer("iterations", iters)
        .str("payload", "std::vector<char>")
        .print();
}

// The CPU of an idle pool, measured twice:
//  - "idle": over exactly the idle window. Rank 0 reads its own getrusage; every worker reports
//    its getrusage through a task at the end of the window (the workers are inside the pool's
//    constructor, so a task is the only way to ask them while the pool lives).
//  - "idle_total": getrusage on every rank summed with MPI_Reduce after the pool is destroyed,
//    over the pool's whole life: construction, the idle window, the probes and the latency run
//    that follows (whose spinning is not idle, so this is an upper bound).
// Both count from just before the pool is built, on every rank.
void bench_idle(const config& c) {
  if (needs_two_ranks(c, "idle")) return;
  const double idle_s = c.quick ? 1.0 : 5.0;
  const std::size_t iters = c.pick(1000, 200);
  std::vector<double> idle_pct, root_pct, total_pct, after_us, first_us;
  std::size_t workers = 0;
  bool probes_complete = true;
  for (int r = 0; r < c.runs; ++r) {
    quiet_barrier();
    cpu_mark = cpu_seconds();
    auto t0 = steady::now();
    {
      rankpool::comm_executor pool;
      if (pool.is_root()) {
        workers = pool.num_workers();
        std::this_thread::sleep_for(std::chrono::duration<double>(idle_s));
        // One probe per worker, all in one map call so the scheduler hands them to distinct
        // idle workers; a rank missed (or seen twice) is asked again.
        std::map<int, double> worker_cpu;
        for (int attempt = 0; attempt < 10 && worker_cpu.size() < workers; ++attempt)
          for (auto [rank, cpu] : pool.map(cpu_since_mark, std::vector<int>(workers, 0))) worker_cpu[rank] = cpu;
        probes_complete = probes_complete && worker_cpu.size() == workers;
        const double root_cpu = cpu_seconds() - cpu_mark, wall = seconds_since(t0);
        double cpu = root_cpu;
        for (auto& [rank, w] : worker_cpu) cpu += w;
        idle_pct.push_back(100.0 * cpu / wall);
        root_pct.push_back(100.0 * root_cpu / wall);
        // Right after the idle window: the first round trip wakes sleeping workers.
        auto us = round_trips(pool, iters);
        first_us.push_back(us.front());
        after_us.insert(after_us.end(), us.begin(), us.end());
      }
    }
    double mine = cpu_seconds() - cpu_mark, all = 0;
    double wall = seconds_since(t0);
    MPI_Reduce(&mine, &all, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (c.root()) total_pct.push_back(100.0 * all / wall);
  }
  if (!c.root()) return;
  record("idle", "rankpool", c.size, workers)
      .stats(idle_pct, false, "% of one core", c.runs)
      .num("root_share", summarize(root_pct, false).median)
      .num("idle_s", idle_s)
      .str("method", "getrusage of every rank over the idle window (workers report through a task)")
      .flag("ok", probes_complete)
      .print();
  record("idle_total", "rankpool", c.size, workers)
      .stats(total_pct, false, "% of one core", c.runs)
      .num("idle_s", idle_s)
      .str("method", "MPI_Reduce of getrusage after the pool is destroyed, latency run after idle included")
      .print();
  record("latency_after_idle", "rankpool", c.size, workers)
      .stats(after_us, false, "us", c.runs)
      .num("first_us", summarize(first_us, false).median)
      .num("idle_s", idle_s)
      .integer("iterations", iters)
      .print();
}

// rank 0's RSS growth from just before submitting `tasks` no-op tasks to just after the last
// submit returned, while every worker is held busy, so all of them are pending. Peak (VmHWM,
// reset first) and current RSS both count: the larger is the figure.
void bench_memory(const config& c) {
  if (needs_two_ranks(c, "memory")) return;
  const std::size_t tasks = c.pick(1000000, 100000);
  std::vector<double> growth_mb, pending, rss_after_mb;
  std::size_t workers = 0;
  bool peak_reset = true;
  {
    rankpool::comm_executor pool;
    if (pool.is_root()) {
      workers = pool.num_workers();
      for (int r = 0; r < c.runs; ++r) {
        std::vector<rankpool::future<void>> holds;
        for (std::size_t w = 0; w < workers; ++w) holds.push_back(pool.submit(hold_until_released));
        // Hand the previous run's freed memory back to the kernel, or this run would grow into
        // it unseen and only the first run would count.
        malloc_trim(0);
        peak_reset = reset_peak_rss() && peak_reset;
        const double rss0 = status_bytes("VmRSS");
        std::vector<rankpool::future<int>> fs;
        fs.reserve(tasks);  // the futures are part of what holding 1M of them costs
        for (std::size_t i = 0; i < tasks; ++i) fs.push_back(pool.submit(identity, static_cast<int>(i)));
        const double grown = std::max(status_bytes("VmRSS"), status_bytes("VmHWM")) - rss0;
        growth_mb.push_back(grown / 1e6);
        pending.push_back(static_cast<double>(std::count_if(fs.begin(), fs.end(), [](auto& f) { return !f.done(); })));
        // Cancelling what has not started keeps a run short: draining 1M tasks one message
        // each is the submit benchmark's business, not this one's.
        for (auto& f : fs) f.cancel();
        char byte = 1;
        for (int w = 1; w <= static_cast<int>(workers); ++w)
          MPI_Send(&byte, 1, MPI_CHAR, w, release_tag, MPI_COMM_WORLD);
        for (auto& f : holds) f.result();
        for (auto& f : fs) f.wait();
        fs = {};
        pool.submit(noop).result();  // the queue is FIFO: the cancelled tasks are gone after this
        malloc_trim(0);              // what is still resident now is held, not cached by malloc
        rss_after_mb.push_back((status_bytes("VmRSS") - rss0) / 1e6);
      }
    }
  }
  if (c.root())
    record("memory", "rankpool", c.size, workers)
        .stats(growth_mb, false, "MB", c.runs)
        .integer("tasks", tasks)
        .num("pending_at_measure", summarize(pending, false).median)
        .num("bytes_per_future", summarize(growth_mb, false).median * 1e6 / static_cast<double>(tasks))
        .num("rss_left_after_release_mb", summarize(rss_after_mb, false).median)
        .flag("peak_reset", peak_reset)
        .print();
}

// ---- scrypt and svd: pool, static split, serial --------------------------------------------

// One batch of work done three ways. Every function runs on the ranks named and returns, on
// rank 0, the batch's results in a form that compares with ==.
template <class Result>
struct compute_variants {
  std::function<Result()> serial;                                 // rank 0 alone
  std::function<Result()> split_root;                             // rank 0: scatter and gather
  std::function<void()> split_worker;                             // ranks 1..P-1
  std::function<Result(rankpool::comm_executor&, double&)> pool;  // rank 0; sets map() call seconds
  // Optional: the input placed once per node (executor.share) and tasks that carry indices; the
  // time includes placing it.
  std::function<Result(rankpool::comm_executor&, double&)> pool_shared;
  // Optional: the static split with the input in an MPI-3 shared window the ranks read (every
  // rank; the result on rank 0). The time includes filling the window.
  std::function<Result()> split_shared;
};

struct variant_result {
  std::vector<double> seconds;
  std::vector<double> map_call_seconds;  // pool: until map() returned, before any result is read
  std::size_t workers = 0;
  bool ok = true;
};

// Runs the variants `c.runs` times, interleaved (serial, split, pool, serial, ...), so a change
// in the machine's background load during the benchmark touches every variant alike, checks
// that every run's results equal the first run's, and prints one record per variant.
template <class Result>
void run_compute(const config& c, const std::string& bench, const compute_variants<Result>& v, std::size_t chunksize,
                 const std::function<void(record&, const std::optional<Result>&)>& params) {
  variant_result serial, split, pooled, pooled_shared, split_shared;
  std::vector<double> shared_bytes;  // what rank 0 sent of the shared input, per run
  std::optional<Result> reference;
  auto take = [&](variant_result& vr, steady::time_point t0, Result got) {
    vr.seconds.push_back(seconds_since(t0));
    if (!reference) {
      reference = std::move(got);
    } else if (!(got == *reference)) {
      vr.ok = false;
    }
  };
  const bool run_serial = c.wants("serial"), run_split = c.wants("static") && c.size >= 2;
  for (int r = 0; r < c.runs; ++r) {
    if (run_serial) {
      quiet_barrier();  // the other ranks wait here, quietly, while rank 0 computes
      if (c.root()) {
        auto t0 = steady::now();
        take(serial, t0, v.serial());
      }
    }
    if (run_split) {
      quiet_barrier();
      if (c.root()) {
        auto t0 = steady::now();
        take(split, t0, v.split_root());
      } else {
        v.split_worker();
      }
    }
    auto run_pool = [&](variant_result& vr, const std::function<Result(rankpool::comm_executor&, double&)>& fn) {
      quiet_barrier();
      rankpool::comm_executor pool;
      if (pool.is_root()) {
        vr.workers = pool.num_workers();
        double call = 0;
        const auto sent = rankpool::detail::share_bytes_sent();
        auto t0 = steady::now();
        Result got = fn(pool, call);
        take(vr, t0, std::move(got));
        vr.map_call_seconds.push_back(call);
        if (&vr == &pooled_shared)
          shared_bytes.push_back(static_cast<double>(rankpool::detail::share_bytes_sent() - sent));
      }
    };
    if (c.wants("pool")) run_pool(pooled, v.pool);
    if (v.pool_shared && c.wants("shared")) run_pool(pooled_shared, v.pool_shared);
    if (v.split_shared && c.wants("static-shared") && c.size >= 2) {
      quiet_barrier();
      auto t0 = steady::now();
      Result got = v.split_shared();
      if (c.root()) take(split_shared, t0, std::move(got));
    }
  }
  quiet_barrier();
  if (!c.root()) return;
  auto emit = [&](const std::string& impl, const variant_result& vr, std::size_t workers,
                  const std::function<void(record&)>& extra) {
    if (vr.seconds.empty()) return;
    record rec(bench, impl, c.size, workers);
    rec.stats(vr.seconds, false, "s", c.runs);
    params(rec, reference);
    extra(rec);
    rec.flag("ok", vr.ok).print();
  };
  emit("serial", serial, 1, [](record& rec) { rec.str("variant", "serial on rank 0"); });
  emit("raw-mpi", split, static_cast<std::size_t>(c.size - 1),
       [](record& rec) { rec.str("variant", "static split over ranks 1..P-1"); });
  emit("rankpool", pooled, pooled.workers, [&](record& rec) {
    rec.integer("chunksize", chunksize).num("map_call_s", summarize(pooled.map_call_seconds, false).median);
  });
  emit("raw-mpi-shared", split_shared, static_cast<std::size_t>(c.size - 1),
       [](record& rec) { rec.str("variant", "static split over ranks 1..P-1 reading a node's shared window"); });
  emit("rankpool-shared", pooled_shared, pooled_shared.workers, [&](record& rec) {
    rec.integer("chunksize", chunksize).str("variant", "share() once per node, tasks carry indices");
    if (!shared_bytes.empty()) rec.num("root_sent_bytes", summarize(shared_bytes, false).median);
  });
}

void bench_scrypt(const config& c) {
  const std::size_t count = c.pick(32, 8);
  std::vector<std::string> passwords;
  for (std::size_t i = 0; i < count; ++i) passwords.push_back(scrypt_password(i));
  const auto parts = static_cast<std::size_t>(std::max(c.size - 1, 1));
  compute_variants<std::vector<digest>> v;
  v.serial = [&] {
    std::vector<digest> got;
    for (auto& pw : passwords) got.push_back(scrypt_hash(pw));
    return got;
  };
  v.split_root = [&] {
    std::vector<digest> got(count);
    std::vector<MPI_Request> reqs;
    for (std::size_t k = 0; k < parts; ++k) {
      auto [first, last] = share(count, k, parts);
      if (first == last) continue;
      reqs.emplace_back();
      MPI_Irecv(got.data() + first, static_cast<int>((last - first) * sizeof(digest)), MPI_BYTE,
                static_cast<int>(k + 1), 1, MPI_COMM_WORLD, &reqs.back());
    }
    quiet_waitall(reqs);
    return got;
  };
  v.split_worker = [&] {
    auto [first, last] = share(count, static_cast<std::size_t>(c.rank - 1), parts);
    std::vector<digest> mine;
    for (std::size_t i = first; i < last; ++i) mine.push_back(scrypt_hash(scrypt_password(i)));
    if (!mine.empty())
      MPI_Send(mine.data(), static_cast<int>(mine.size() * sizeof(digest)), MPI_BYTE, 0, 1, MPI_COMM_WORLD);
  };
  v.pool = [&](rankpool::comm_executor& pool, double& call) {
    auto t0 = steady::now();
    auto results = pool.map(scrypt_hash, passwords, {.chunksize = 1});
    call = seconds_since(t0);
    return results.to_vector();
  };
  run_compute<std::vector<digest>>(c, "scrypt", v, 1, [&](record& rec, const std::optional<std::vector<digest>>& ref) {
    rec.integer("count", count).integer("n", scrypt_n).integer("r", scrypt_r).integer("p", scrypt_p);
    rec.integer("dklen", 64).str("digest0", ref && !ref->empty() ? hex((*ref)[0], 8) : "");
  });
}

// The SVD of matrix `i` of a stack placed with share() (column-major matrices, one after another).
Eigen::VectorXd svd_of_shared(const rankpool::shared<std::vector<double>>& stack, std::size_t i) {
  const auto per = static_cast<std::size_t>(svd_rows * svd_cols);
  return singular_values(Eigen::Map<const Eigen::MatrixXd>(stack.view().data() + i * per, svd_rows, svd_cols));
}

// Tasks that carry indices only: chunks for balance, about 16 per worker (as map's automatic size).
std::size_t shared_chunksize(std::size_t count, std::size_t workers) {
  return rankpool::comm_executor::auto_chunksize(count, std::max<std::size_t>(workers, 1));
}

// The static split reading shared memory: rank 0 fills a window on its node (every rank of this
// benchmark runs on one node), ranks 1..P-1 each compute an even share of the matrices straight
// from it and send rank 0 their singular values. Returns them on rank 0.
std::vector<double> svd_split_shared(const config& c, const std::vector<Eigen::MatrixXd>& mats, std::size_t count) {
  const auto per = static_cast<std::size_t>(svd_rows * svd_cols);
  const auto cols = static_cast<std::size_t>(svd_cols);
  const auto parts = static_cast<std::size_t>(c.size - 1);
  MPI_Comm node;
  check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c.rank, MPI_INFO_NULL, &node), "split_type");
  double* base = nullptr;
  MPI_Win win;
  const MPI_Aint own = c.root() ? static_cast<MPI_Aint>(count * per * sizeof(double)) : 0;
  check_mpi(MPI_Win_allocate_shared(own, sizeof(double), MPI_INFO_NULL, node, &base, &win), "MPI_Win_allocate_shared");
  MPI_Aint size = 0;
  int unit = 0;
  check_mpi(MPI_Win_shared_query(win, 0, &size, &unit, &base), "MPI_Win_shared_query");
  if (c.root())
    for (std::size_t i = 0; i < count; ++i) std::copy_n(mats[i].data(), per, base + i * per);
  quiet_barrier();  // filled
  std::vector<double> got;
  if (c.root()) {
    got.resize(count * cols);
    std::vector<MPI_Request> reqs;
    for (std::size_t k = 0; k < parts; ++k) {
      auto [first, last] = share(count, k, parts);
      if (first == last) continue;
      reqs.emplace_back();
      MPI_Irecv(got.data() + first * cols, static_cast<int>((last - first) * cols), MPI_DOUBLE, static_cast<int>(k + 1),
                4, MPI_COMM_WORLD, &reqs.back());
    }
    quiet_waitall(reqs);
  } else {
    auto [first, last] = share(count, static_cast<std::size_t>(c.rank - 1), parts);
    std::vector<double> out;
    for (std::size_t i = first; i < last; ++i) {
      Eigen::VectorXd s = singular_values(Eigen::Map<const Eigen::MatrixXd>(base + i * per, svd_rows, svd_cols));
      out.insert(out.end(), s.data(), s.data() + s.size());
    }
    if (!out.empty()) MPI_Send(out.data(), static_cast<int>(out.size()), MPI_DOUBLE, 0, 4, MPI_COMM_WORLD);
  }
  quiet_barrier();
  MPI_Win_free(&win);
  MPI_Comm_free(&node);
  return got;
}

// What memory shared between the ranks of a node costs on this machine, which bounds the shared
// input of svd: rank 0 fills a fresh MPI-3 shared window of 160 MB (16 MB with --quick), then
// rank 1 reads all of it twice. The first read maps each page into rank 1; the second shows the
// memory's speed once mapped. Seconds per pass (impl raw-mpi); the other ranks wait.
void bench_shm_touch(const config& c) {
  const std::size_t n = c.pick(20'000'000, 2'000'000);
  std::vector<double> fill_s, first_s, second_s;
  for (int r = 0; r < c.runs; ++r) {
    MPI_Comm node;
    check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c.rank, MPI_INFO_NULL, &node), "split_type");
    double* base = nullptr;
    MPI_Win win;
    check_mpi(MPI_Win_allocate_shared(c.root() ? static_cast<MPI_Aint>(n * sizeof(double)) : 0, sizeof(double),
                                      MPI_INFO_NULL, node, &base, &win),
              "MPI_Win_allocate_shared");
    MPI_Aint size = 0;
    int unit = 0;
    check_mpi(MPI_Win_shared_query(win, 0, &size, &unit, &base), "MPI_Win_shared_query");
    if (c.root()) {
      auto t0 = steady::now();
      for (std::size_t i = 0; i < n; ++i) base[i] = static_cast<double>(i % 1000);
      fill_s.push_back(seconds_since(t0));
    }
    quiet_barrier();
    double pass[2] = {0, 0}, sum = 0;
    if (c.rank == 1) {
      for (double& p : pass) {
        auto t0 = steady::now();
        for (std::size_t i = 0; i < n; ++i) sum += base[i];
        p = seconds_since(t0);
      }
      if (sum < 0) std::printf("impossible\n");  // keeps the reads
      MPI_Send(pass, 2, MPI_DOUBLE, 0, 5, MPI_COMM_WORLD);
    } else if (c.root() && c.size > 1) {
      MPI_Request req;
      MPI_Irecv(pass, 2, MPI_DOUBLE, 1, 5, MPI_COMM_WORLD, &req);
      quiet_wait(req);
      first_s.push_back(pass[0]);
      second_s.push_back(pass[1]);
    }
    quiet_barrier();
    MPI_Win_free(&win);
    MPI_Comm_free(&node);
  }
  if (!c.root()) return;
  for (auto [what, v] : {std::pair{"fill by rank 0", &fill_s}, std::pair{"first read by rank 1", &first_s},
                         std::pair{"second read by rank 1", &second_s}}) {
    if (v->empty()) continue;
    record("shm-touch", "raw-mpi", c.size, 1)
        .stats(*v, false, "s", c.runs)
        .str("pass", what)
        .integer("bytes", n * sizeof(double))
        .print();
  }
}

void bench_svd(const config& c) {
  const std::size_t count = c.pick(4000, 400);
  // 50 matrices (4 MB, under 10 ms of work) per chunk: enough chunks (80) to balance 7 workers
  // and keep 2 in flight each, few enough that per-message costs vanish.
  const std::size_t chunksize = 50;
  const auto per = static_cast<std::size_t>(svd_rows * svd_cols);
  const auto cols = static_cast<std::size_t>(svd_cols);
  const auto parts = static_cast<std::size_t>(std::max(c.size - 1, 1));
  std::vector<Eigen::MatrixXd> mats;
  if (c.root()) {
    std::srand(12345);
    for (std::size_t i = 0; i < count; ++i) mats.push_back(Eigen::MatrixXd::Random(svd_rows, svd_cols));
  }
  auto flatten = [&](const std::vector<Eigen::VectorXd>& vs) {
    std::vector<double> out;
    out.reserve(count * cols);
    for (auto& s : vs) out.insert(out.end(), s.data(), s.data() + s.size());
    return out;
  };
  compute_variants<std::vector<double>> v;
  v.serial = [&] {
    std::vector<Eigen::VectorXd> got;
    for (auto& m : mats) got.push_back(singular_values(m));
    return flatten(got);
  };
  v.split_root = [&] {
    // Scatter (one message per matrix: no packing copy), then gather the singular values.
    std::vector<double> got(count * cols);
    std::vector<MPI_Request> reqs;
    for (std::size_t k = 0; k < parts; ++k) {
      auto [first, last] = share(count, k, parts);
      const int dest = static_cast<int>(k + 1);
      for (std::size_t i = first; i < last; ++i) {
        reqs.emplace_back();
        MPI_Isend(mats[i].data(), static_cast<int>(per), MPI_DOUBLE, dest, 2, MPI_COMM_WORLD, &reqs.back());
      }
      if (first == last) continue;
      reqs.emplace_back();
      MPI_Irecv(got.data() + first * cols, static_cast<int>((last - first) * cols), MPI_DOUBLE, dest, 3, MPI_COMM_WORLD,
                &reqs.back());
    }
    quiet_waitall(reqs);
    return got;
  };
  v.split_worker = [&] {
    // Receive the whole share first: computing between receives would leave rank 0's sends to
    // the other ranks waiting on this one.
    auto [first, last] = share(count, static_cast<std::size_t>(c.rank - 1), parts);
    std::vector<Eigen::MatrixXd> mine(last - first, Eigen::MatrixXd(svd_rows, svd_cols));
    for (auto& m : mine) MPI_Recv(m.data(), static_cast<int>(per), MPI_DOUBLE, 0, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    std::vector<double> out;
    for (auto& m : mine) {
      Eigen::VectorXd s = singular_values(m);
      out.insert(out.end(), s.data(), s.data() + s.size());
    }
    if (!out.empty()) MPI_Send(out.data(), static_cast<int>(out.size()), MPI_DOUBLE, 0, 3, MPI_COMM_WORLD);
  };
  v.pool = [&](rankpool::comm_executor& pool, double& call) {
    auto t0 = steady::now();
    auto results = pool.map(singular_values, mats, {.chunksize = chunksize});
    call = seconds_since(t0);
    return flatten(results.to_vector());
  };
  v.pool_shared = [&](rankpool::comm_executor& pool, double& call) {
    auto t0 = steady::now();
    auto stack = pool.share_array<double>(count * per, [&](std::span<double> to) {
      for (std::size_t i = 0; i < count; ++i) std::copy_n(mats[i].data(), per, to.data() + i * per);
    });
    auto results = pool.map(rankpool::partial(svd_of_shared, stack), std::views::iota(std::size_t{0}, count),
                            {.chunksize = shared_chunksize(count, pool.num_workers())});
    call = seconds_since(t0);
    return flatten(results.to_vector());
  };
  v.split_shared = [&] { return svd_split_shared(c, mats, count); };
  run_compute<std::vector<double>>(c, "svd", v, chunksize, [&](record& rec, const std::optional<std::vector<double>>&) {
    rec.integer("count", count).integer("rows", svd_rows).integer("cols", svd_cols);
  });
}

// ---- raw MPI baselines ----------------------------------------------------------------------

// Ping-pong of `bytes` from rank 0 to rank 1 and `reply` bytes back, `iters` times; round-trip
// seconds on rank 0 (empty elsewhere). Other ranks only take part in the surrounding barrier.
std::vector<double> ping_pong(const config& c, std::size_t bytes, std::size_t reply, std::size_t iters) {
  std::vector<char> out(bytes, 'x'), back(reply);
  std::vector<double> s;
  if (c.rank == 0) {
    s.reserve(iters);
    for (std::size_t i = 0; i < iters; ++i) {
      auto t0 = steady::now();
      MPI_Send(out.data(), static_cast<int>(bytes), MPI_BYTE, 1, 4, MPI_COMM_WORLD);
      MPI_Recv(back.data(), static_cast<int>(reply), MPI_BYTE, 1, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      s.push_back(seconds_since(t0));
    }
  } else if (c.rank == 1) {
    for (std::size_t i = 0; i < iters; ++i) {
      MPI_Recv(out.data(), static_cast<int>(bytes), MPI_BYTE, 0, 4, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(back.data(), static_cast<int>(reply), MPI_BYTE, 0, 5, MPI_COMM_WORLD);
    }
  }
  return s;
}

void bench_raw_latency(const config& c) {
  if (needs_two_ranks(c, "raw-latency")) return;
  const std::size_t iters = c.pick(20000, 2000);
  std::vector<double> us;
  quiet_barrier();
  ping_pong(c, 8, 8, iters / 10);
  for (int r = 0; r < c.runs; ++r) {
    quiet_barrier();
    for (double s : ping_pong(c, 8, 8, iters)) us.push_back(s * 1e6);
  }
  quiet_barrier();
  if (c.root())
    record("latency", "raw-mpi", c.size, 1)
        .stats(us, false, "us", c.runs)
        .integer("iterations", iters)
        .integer("bytes", 8)
        .print();
}

void bench_raw_bandwidth(const config& c) {
  if (needs_two_ranks(c, "raw-bandwidth")) return;
  const std::size_t iters = c.pick(400, 40);
  std::vector<double> rates;
  for (int r = -1; r < c.runs; ++r) {
    quiet_barrier();
    auto s = ping_pong(c, mib, 8, iters);
    if (r >= 0 && c.root())
      rates.push_back(static_cast<double>(iters * mib) / std::accumulate(s.begin(), s.end(), 0.0) / 1e6);
  }
  quiet_barrier();
  if (c.root())
    record("bandwidth", "raw-mpi", c.size, 1)
        .stats(rates, true, "MB/s", c.runs)
        .integer("bytes", mib)
        .integer("iterations", iters)
        .str("payload", "1 MiB MPI_Send, 8-byte reply")
        .print();
}

// A bare farm: rank 0 keeps `depth` 16-byte tasks in flight per worker, one posted Irecv per
// worker, MPI_Waitany for the next reply; a worker runs each task (identity, or busy_wait of
// `task_us` µs when that is positive) and answers with MPI_Send. Every rank takes part; the
// seconds from the first send to the last reply on rank 0 (0 elsewhere).
double farm_seconds(const config& c, std::size_t tasks, std::size_t depth, int task_us) {
  const int workers = c.size - 1;
  constexpr int task_tag = 8, stop_tag = 9, reply_tag = 10;
  quiet_barrier();
  if (!c.root()) {
    while (true) {
      std::int64_t msg[2];
      MPI_Status st;
      MPI_Recv(msg, 2, MPI_INT64_T, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
      if (st.MPI_TAG == stop_tag) return 0;
      if (task_us > 0) {
        busy_wait(task_us);
      } else {
        msg[1] = identity(static_cast<int>(msg[1]));
      }
      MPI_Send(msg, 2, MPI_INT64_T, 0, reply_tag, MPI_COMM_WORLD);
    }
  }
  auto t0 = steady::now();
  const auto nw = static_cast<std::size_t>(workers);
  std::vector<std::int64_t> reply(2 * nw);
  std::vector<MPI_Request> reqs(nw, MPI_REQUEST_NULL);
  std::vector<std::size_t> outstanding(nw, 0);
  std::size_t sent = 0, received = 0;
  long long sum = 0;
  auto send_task = [&](std::size_t w) {
    std::int64_t msg[2] = {static_cast<std::int64_t>(sent), static_cast<std::int64_t>(sent)};
    MPI_Send(msg, 2, MPI_INT64_T, static_cast<int>(w + 1), task_tag, MPI_COMM_WORLD);
    ++sent;
    ++outstanding[w];
  };
  auto post_receive = [&](std::size_t w) {
    MPI_Irecv(&reply[2 * w], 2, MPI_INT64_T, static_cast<int>(w + 1), reply_tag, MPI_COMM_WORLD, &reqs[w]);
  };
  for (std::size_t w = 0; w < nw; ++w) {
    for (std::size_t d = 0; d < depth && sent < tasks; ++d) send_task(w);
    if (outstanding[w] > 0) post_receive(w);
  }
  while (received < tasks) {
    int idx = 0;
    MPI_Waitany(workers, reqs.data(), &idx, MPI_STATUS_IGNORE);
    const auto w = static_cast<std::size_t>(idx);
    ++received;
    --outstanding[w];
    sum += reply[2 * w + 1];
    if (sent < tasks) send_task(w);
    if (outstanding[w] > 0) post_receive(w);  // replies from one worker arrive in order
  }
  double total = seconds_since(t0);
  for (int w = 1; w <= workers; ++w) MPI_Send(nullptr, 0, MPI_INT64_T, w, stop_tag, MPI_COMM_WORLD);
  if (sum != static_cast<long long>(tasks) * static_cast<long long>(tasks - 1) / 2)
    throw std::runtime_error("farm: wrong results");
  return total;
}

void bench_raw_farm(const config& c) {
  if (needs_two_ranks(c, "raw-farm")) return;
  const std::size_t tasks = c.pick(100000, 20000), depth = 4;
  std::vector<double> rates;
  for (int r = -1; r < c.runs; ++r) {
    double total = farm_seconds(c, tasks, depth, 0);
    if (r >= 0 && c.root()) rates.push_back(static_cast<double>(tasks) / total);
  }
  quiet_barrier();
  if (c.root())
    record("farm", "raw-mpi", c.size, static_cast<std::size_t>(c.size - 1))
        .stats(rates, true, "tasks/s", c.runs)
        .integer("tasks", tasks)
        .integer("in_flight", depth)
        .print();
}

// ---- granularity (METG) and mixed-length workloads --------------------------------------

// Task lengths of the granularity sweep, µs; --quick keeps three.
std::vector<int> granularity_grid(const config& c) {
  if (!c.grid.empty()) return c.grid;
  if (c.quick) return {1, 200, 1000};
  return {1, 2, 3, 5, 7, 10, 20, 30, 50, 70, 100, 200, 300, 500, 700, 1000};
}

// Tasks of one point: about 0.2 s of busy time per worker (10 ms with --quick), at least 16 per
// worker, at most 100k (2000).
std::size_t granularity_tasks(const config& c, int d_us) {
  const auto workers = static_cast<std::size_t>(c.size - 1);
  const double work_s = c.quick ? 0.01 : 0.2;
  const auto n = static_cast<std::size_t>(work_s * 1e6 / d_us) * workers;
  return std::clamp<std::size_t>(n, 16 * workers, c.pick(100000, 2000));
}

// Task Bench's efficiency: the busy time the tasks asked for over the workers' wall time.
double efficiency(std::size_t tasks, int d_us, std::size_t workers, double seconds) {
  return static_cast<double>(tasks) * d_us * 1e-6 / (static_cast<double>(workers) * seconds);
}

// Seconds to submit `tasks` tasks of busy_wait(d_us) one by one and take every result.
double submit_seconds(rankpool::comm_executor& pool, std::size_t tasks, int d_us) {
  std::vector<rankpool::future<int>> fs;
  fs.reserve(tasks);
  auto t0 = steady::now();
  for (std::size_t i = 0; i < tasks; ++i) fs.push_back(pool.submit(busy_wait, d_us));
  for (auto& f : fs)
    if (f.result() != d_us) throw std::runtime_error("granularity: wrong result");
  return seconds_since(t0);
}

// The same tasks through map with the automatic chunksize.
double map_seconds(rankpool::comm_executor& pool, std::size_t tasks, int d_us) {
  const std::vector<int> ds(tasks, d_us);
  auto t0 = steady::now();
  std::size_t n = 0;
  for (int v : pool.map(busy_wait, ds, {.chunksize = 0})) n += v == d_us ? 1 : 0;
  if (n != tasks) throw std::runtime_error("granularity: wrong map results");
  return seconds_since(t0);
}

// Efficiencies by task length, one per run.
using sweep = std::map<int, std::vector<double>>;

void bench_granularity(const config& c) {
  if (needs_two_ranks(c, "granularity")) return;
  const auto grid = granularity_grid(c);
  const auto workers = static_cast<std::size_t>(c.size - 1);
  constexpr std::size_t farm_depth = 16;
  sweep farm, submitted, mapped;
  // Each run sweeps the farm, then the pool, so a change in the machine's load touches both.
  for (int r = 0; r < c.runs; ++r) {
    for (int d : grid) {
      const auto n = granularity_tasks(c, d);
      farm_seconds(c, n / 10 + 1, farm_depth, d);  // warm-up
      const double s = farm_seconds(c, n, farm_depth, d);
      if (c.root()) farm[d].push_back(efficiency(n, d, workers, s));
    }
    quiet_barrier();
    rankpool::comm_executor pool;
    if (!pool.is_root()) continue;
    for (int d : grid) {
      const auto n = granularity_tasks(c, d);
      // Warm-ups: the in-flight window adapts to the task time the workers report.
      submit_seconds(pool, n / 10 + 1, d);
      submitted[d].push_back(efficiency(n, d, workers, submit_seconds(pool, n, d)));
      map_seconds(pool, n / 10 + 1, d);
      mapped[d].push_back(efficiency(n, d, workers, map_seconds(pool, n, d)));
    }
  }
  quiet_barrier();
  if (!c.root()) return;
  auto emit = [&](const char* impl, const char* api, const sweep& s) {
    for (const auto& [d, effs] : s) {
      record rec("granularity", impl, c.size, workers);
      rec.stats(effs, true, "efficiency", c.runs).str("api", api).integer("d_us", static_cast<std::uint64_t>(d));
      rec.integer("tasks", granularity_tasks(c, d));
      if (std::string(api) == "farm") rec.integer("in_flight", farm_depth);
      rec.print();
    }
  };
  emit("raw-mpi", "farm", farm);
  emit("rankpool", "submit", submitted);
  emit("rankpool", "map", mapped);
}

// The greedy list schedule of `us` on `workers`: each task, in order, starts on the worker that
// is free first. Its makespan in seconds is the ideal a dynamic scheduler is held to.
double list_schedule(const std::vector<int>& us, std::size_t workers) {
  std::priority_queue<double, std::vector<double>, std::greater<>> free_at;
  for (std::size_t w = 0; w < workers; ++w) free_at.push(0.0);
  double makespan = 0;
  for (int d : us) {
    const double end = free_at.top() + d * 1e-6;
    free_at.pop();
    free_at.push(end);
    makespan = std::max(makespan, end);
  }
  return makespan;
}

// The mixed workloads, 1000 tasks per worker (50 with --quick): "one-long" is 1 ms tasks with
// one 1 s task (50 ms) in the middle; "lognormal" has durations of median 1 ms, sigma 1, seeded.
std::vector<int> mixed_durations(const config& c, const std::string& workload, std::size_t workers) {
  const std::size_t n = c.pick(1000, 50) * workers;
  if (workload == "one-long") {
    std::vector<int> us(n, 1000);
    us.insert(us.begin() + static_cast<std::ptrdiff_t>(n / 2), c.quick ? 50000 : 1000000);
    return us;
  }
  std::mt19937_64 gen(20261127);
  std::lognormal_distribution<double> dist(std::log(1000.0), 1.0);
  std::vector<int> us(n);
  for (int& d : us) d = static_cast<int>(std::clamp(std::lround(dist(gen)), 1L, 1000000L));
  return us;
}

void bench_mixed(const config& c) {
  if (needs_two_ranks(c, "mixed")) return;
  const auto workers = static_cast<std::size_t>(c.size - 1);
  const std::vector<std::string> workloads = {"one-long", "lognormal"};
  std::map<std::string, std::vector<double>> ratios, seconds;
  {
    rankpool::comm_executor pool;
    if (pool.is_root()) {
      std::vector<rankpool::future<int>> warm_up;
      for (std::size_t i = 0; i < 100 * workers; ++i) warm_up.push_back(pool.submit(hold, 1000));
      for (auto& f : warm_up) f.result();
      for (int r = 0; r < c.runs; ++r) {
        for (const auto& w : workloads) {
          const auto us = mixed_durations(c, w, workers);
          std::vector<rankpool::future<int>> fs;
          fs.reserve(us.size());
          auto t0 = steady::now();
          for (int d : us) fs.push_back(pool.submit(hold, d));
          for (auto& f : fs) f.result();
          const double s = seconds_since(t0);
          seconds[w].push_back(s);
          ratios[w].push_back(s / list_schedule(us, workers));
        }
      }
    }
  }
  if (!c.root()) return;
  for (const auto& w : workloads) {
    const auto us = mixed_durations(c, w, workers);
    record("mixed", "rankpool", c.size, workers)
        .stats(ratios[w], false, "ratio", c.runs)
        .str("workload", w)
        .str("api", "submit")
        .integer("tasks", us.size())
        .num("list_schedule_s", list_schedule(us, workers))
        .num("seconds", summarize(seconds[w], false).median)
        .print();
  }
}

// A task of the gang workload: `ranks` workers for `us` µs.
struct gang_task {
  std::size_t ranks;
  int us;
};

// The greedy list schedule of gang tasks: each, in order, starts when as many workers as it
// needs are free (the latest of the earliest free ones) and holds them all to its end.
double gang_list_schedule(const std::vector<gang_task>& tasks, std::size_t workers) {
  std::vector<double> free_at(workers, 0.0);
  double makespan = 0;
  for (const auto& t : tasks) {
    std::sort(free_at.begin(), free_at.end());
    const double start = free_at[t.ranks - 1];
    for (std::size_t i = 0; i < t.ranks; ++i) free_at[i] = start + t.us * 1e-6;
    makespan = std::max(makespan, start + t.us * 1e-6);
  }
  return makespan;
}

// Every member of the team holds its rank for `us` µs; team rank 0's value is the result.
int team_hold(MPI_Comm, int us) {
  return hold(us);
}

// 200 tasks per worker (20 with --quick): 1 ms one-rank tasks, and every eighth task a team of
// min(4, workers) ranks holding them 2 ms, submitted one by one in that order.
std::vector<gang_task> gang_workload(const config& c, std::size_t workers) {
  std::vector<gang_task> tasks;
  const std::size_t n = c.pick(200, 20) * workers;
  for (std::size_t i = 0; i < n; ++i)
    tasks.push_back(i % 8 == 7 ? gang_task{std::min<std::size_t>(4, workers), 2000} : gang_task{1, 1000});
  return tasks;
}

void bench_gang(const config& c) {
  if (needs_two_ranks(c, "gang")) return;
  const auto workers = static_cast<std::size_t>(c.size - 1);
  const auto tasks = gang_workload(c, workers);
  double work = 0;  // rank-seconds
  for (const auto& t : tasks) work += static_cast<double>(t.ranks) * t.us * 1e-6;
  const double ideal = gang_list_schedule(tasks, workers);
  std::vector<double> ratios, utilisation, seconds;
  {
    rankpool::comm_executor pool;
    if (pool.is_root()) {
      std::vector<rankpool::future<int>> warm_up;
      for (std::size_t i = 0; i < 50 * workers; ++i) warm_up.push_back(pool.submit(hold, 1000));
      for (auto& f : warm_up) f.result();
      for (int r = 0; r < c.runs; ++r) {
        std::vector<rankpool::future<int>> fs;
        fs.reserve(tasks.size());
        auto t0 = steady::now();
        for (const auto& t : tasks)
          fs.push_back(t.ranks == 1 ? pool.submit(hold, t.us) : pool.submit_parallel(t.ranks, team_hold, t.us));
        for (auto& f : fs) f.result();
        const double s = seconds_since(t0);
        seconds.push_back(s);
        ratios.push_back(s / ideal);
        utilisation.push_back(work / (static_cast<double>(workers) * s));
      }
    }
  }
  if (!c.root()) return;
  record("gang", "rankpool", c.size, workers)
      .stats(ratios, false, "ratio", c.runs)
      .str("api", "submit_parallel")
      .integer("tasks", tasks.size())
      .integer("team_ranks", std::min<std::size_t>(4, workers))
      .num("list_schedule_s", ideal)
      .num("list_schedule_utilisation", work / (static_cast<double>(workers) * ideal))
      .num("utilisation", summarize(utilisation, true).median)
      .num("seconds", summarize(seconds, false).median)
      .print();
}

// When the task ended, on the node's monotonic clock (shared by the processes of one node).
std::int64_t end_stamp() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch()).count();
}

// How long a finished result takes to reach the caller when its worker goes on with a long task
// (the scheduler issue's "results leave a worker as they finish", target p99 <= 1 ms): one
// worker, warmed up with tiny tasks so its window is wide; then, each round, a quick task and a
// 5 ms task right behind it; the figure is from the quick task's end to result() returning.
void bench_held(const config& c) {
  if (needs_two_ranks(c, "held")) return;
  const int rounds = static_cast<int>(c.pick(100, 10));
  std::vector<double> us;
  {
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.max_workers = 1});
    if (pool.is_root()) {
      std::vector<rankpool::future<int>> warm;
      for (int i = 0; i < 5000; ++i) warm.push_back(pool.submit(identity, i));
      for (auto& f : warm) f.result();
      for (int r = 0; r < c.runs * rounds; ++r) {
        auto quick = pool.submit(end_stamp);
        auto slow = pool.submit(hold, 5000);
        const std::int64_t ended = quick.result();
        us.push_back(static_cast<double>(end_stamp() - ended) / 1e3);
        slow.result();
      }
    }
  }
  if (c.root()) record("held", "rankpool", c.size, 1).stats(us, false, "us", c.runs).integer("rounds", rounds).print();
}

// ---- dag: a tree reduction whose dependencies are futures -----------------------------------

// The tree's tasks: leaf i gives i; an inner node adds its two children's values.
std::int64_t leaf_value(std::int64_t i) {
  return i;
}
std::int64_t add(std::int64_t a, std::int64_t b) {
  return a + b;
}

// The tree, the same for every way: level 0 holds the leaves in order; level l + 1 pairs the
// nodes of level l in order (an odd one out moves up unchanged) until one node is left. L leaves
// make L - 1 inner nodes, 2L - 1 tasks; the sum is L(L - 1)/2.

// (a) futures-as-arguments: the whole tree submitted at once, each inner node with its
// children's futures as arguments. No thread waits until the root's result is taken.
std::int64_t dag_futures(rankpool::comm_executor& pool, std::size_t leaves) {
  std::vector<rankpool::future<std::int64_t>> level;
  level.reserve(leaves);
  for (std::size_t i = 0; i < leaves; ++i) level.push_back(pool.submit(leaf_value, static_cast<std::int64_t>(i)));
  while (level.size() > 1) {
    std::vector<rankpool::future<std::int64_t>> up;
    up.reserve((level.size() + 1) / 2);
    for (std::size_t j = 0; j + 1 < level.size(); j += 2) up.push_back(pool.submit(add, level[j], level[j + 1]));
    if (level.size() % 2) up.push_back(level.back());
    level = std::move(up);
  }
  return level[0].result();
}

// (b) wait-by-hand: the same tree level by level; this thread waits for a whole level
// (rankpool::wait) before it submits the next with the values, as code without dependencies
// must.
std::int64_t dag_by_hand(rankpool::comm_executor& pool, std::size_t leaves) {
  std::vector<rankpool::future<std::int64_t>> level;
  level.reserve(leaves);
  for (std::size_t i = 0; i < leaves; ++i) level.push_back(pool.submit(leaf_value, static_cast<std::int64_t>(i)));
  while (level.size() > 1) {
    rankpool::wait(level);
    std::vector<rankpool::future<std::int64_t>> up;
    up.reserve((level.size() + 1) / 2);
    for (std::size_t j = 0; j + 1 < level.size(); j += 2)
      up.push_back(pool.submit(add, level[j].result(), level[j + 1].result()));
    if (level.size() % 2) up.push_back(level.back());
    level = std::move(up);
  }
  return level[0].result();
}

// (c) raw-mpi: the same tree on bare MPI. Rank 0 tracks the dependencies itself: it keeps up to
// `depth` tasks in flight per worker (ranks 1..P-1, one posted Irecv each, MPI_Waitany for the
// next reply) and makes a node ready once both its children are back. A task is three int64
// (node, a, b), a reply two (node, value). Every rank takes part; returns the seconds from
// building the tree to the root's value on rank 0 (0 elsewhere), and the sum in `sum`.
double dag_raw_seconds(const config& c, std::size_t leaves, std::size_t depth, std::int64_t& sum) {
  constexpr int task_tag = 11, stop_tag = 12, reply_tag = 13;
  quiet_barrier();
  if (!c.root()) {
    while (true) {
      std::int64_t msg[3];
      MPI_Status st;
      MPI_Recv(msg, 3, MPI_INT64_T, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
      if (st.MPI_TAG == stop_tag) return 0;
      const bool leaf = static_cast<std::size_t>(msg[0]) < leaves;
      std::int64_t reply[2] = {msg[0], leaf ? leaf_value(msg[1]) : add(msg[1], msg[2])};
      MPI_Send(reply, 2, MPI_INT64_T, 0, reply_tag, MPI_COMM_WORLD);
    }
  }
  auto t0 = steady::now();
  // Nodes 0..L-1 are the leaves, L.. the inner nodes in the order they are made.
  constexpr std::size_t none = static_cast<std::size_t>(-1);
  const std::size_t nodes = 2 * leaves - 1;
  std::vector<std::size_t> parent(nodes, none);
  std::vector<std::array<std::size_t, 2>> children;  // of inner node L + k, at k
  children.reserve(leaves - 1);
  std::vector<std::size_t> level(leaves);
  std::iota(level.begin(), level.end(), std::size_t{0});
  while (level.size() > 1) {
    std::vector<std::size_t> up;
    up.reserve((level.size() + 1) / 2);
    for (std::size_t j = 0; j + 1 < level.size(); j += 2) {
      const std::size_t n = leaves + children.size();
      parent[level[j]] = parent[level[j + 1]] = n;
      children.push_back({level[j], level[j + 1]});
      up.push_back(n);
    }
    if (level.size() % 2) up.push_back(level.back());
    level = std::move(up);
  }
  const std::size_t root = level[0];
  std::vector<std::int64_t> value(nodes, 0);
  std::vector<std::uint8_t> missing(leaves - 1, 2);  // children not yet back, per inner node
  // The nodes whose inputs are known, to be sent: the leaves first.
  std::deque<std::size_t> ready(leaves);
  std::iota(ready.begin(), ready.end(), std::size_t{0});

  const auto nw = static_cast<std::size_t>(c.size - 1);
  std::vector<std::int64_t> reply(2 * nw);
  std::vector<MPI_Request> reqs(nw, MPI_REQUEST_NULL);
  std::vector<std::size_t> outstanding(nw, 0);
  auto send_task = [&](std::size_t w) {
    const std::size_t n = ready.front();
    ready.pop_front();
    std::int64_t msg[3] = {static_cast<std::int64_t>(n), static_cast<std::int64_t>(n), 0};
    if (n >= leaves) {
      const auto& ch = children[n - leaves];
      msg[1] = value[ch[0]];
      msg[2] = value[ch[1]];
    }
    MPI_Send(msg, 3, MPI_INT64_T, static_cast<int>(w + 1), task_tag, MPI_COMM_WORLD);
    // Replies from one worker arrive in order: one posted receive per worker is enough.
    if (outstanding[w]++ == 0)
      MPI_Irecv(&reply[2 * w], 2, MPI_INT64_T, static_cast<int>(w + 1), reply_tag, MPI_COMM_WORLD, &reqs[w]);
  };
  // One task per worker per round, so that a short ready list is spread over the workers.
  auto fill = [&] {
    for (bool sent = true; sent && !ready.empty();) {
      sent = false;
      for (std::size_t w = 0; w < nw && !ready.empty(); ++w) {
        if (outstanding[w] < depth) {
          send_task(w);
          sent = true;
        }
      }
    }
  };
  fill();
  while (true) {
    int idx = 0;
    MPI_Waitany(static_cast<int>(nw), reqs.data(), &idx, MPI_STATUS_IGNORE);
    const auto w = static_cast<std::size_t>(idx);
    const auto n = static_cast<std::size_t>(reply[2 * w]);
    value[n] = reply[2 * w + 1];
    if (--outstanding[w] > 0)
      MPI_Irecv(&reply[2 * w], 2, MPI_INT64_T, static_cast<int>(w + 1), reply_tag, MPI_COMM_WORLD, &reqs[w]);
    if (n == root) break;  // every other node is below the root, so nothing is in flight now
    const std::size_t p = parent[n];
    if (--missing[p - leaves] == 0) ready.push_back(p);
    fill();
  }
  const double total = seconds_since(t0);
  for (int r = 1; r < c.size; ++r) MPI_Send(nullptr, 0, MPI_INT64_T, r, stop_tag, MPI_COMM_WORLD);
  sum = value[root];
  return total;
}

// The tree reduction three ways: (a) futures-as-arguments (impl rankpool) and (b) wait-by-hand
// (impl rankpool-wait-by-hand), interleaved in one pool, then (c) a bare MPI farm that tracks the
// dependencies itself (impl raw-mpi; the workers are inside the pool's constructor while it
// lives). Seconds per run from the first submit to the root's value, after a warm-up run. For
// the pool ways also rank 0's peak resident memory during the run (VmHWM, reset first) and its
// growth over the resident memory just before.
void bench_dag(const config& c) {
  if (needs_two_ranks(c, "dag")) return;
  const std::size_t leaves = c.pick(100000, 10000), tasks = 2 * leaves - 1, depth = 16;
  const auto expected = static_cast<std::int64_t>(leaves) * static_cast<std::int64_t>(leaves - 1) / 2;
  struct way {
    std::vector<double> seconds, peak_mb, growth_mb;
    std::size_t workers = 0;
    std::int64_t sum = 0;
    bool ok = true;
  };
  way futures, by_hand, raw;
  bool peak_reset = true;
  // One pool for both pool ways, their runs interleaved, so that both meet the same warmed-up
  // pool (its window adapts to the task time) and a change in the machine's load touches both.
  {
    rankpool::comm_executor pool;
    if (pool.is_root()) {
      auto run_pool = [&](way& w, std::int64_t (*fn)(rankpool::comm_executor&, std::size_t), bool keep) {
        w.workers = pool.num_workers();
        // Hand the previous run's freed memory back to the kernel, or this run would grow into it
        // unseen (as in the memory benchmark).
        malloc_trim(0);
        peak_reset = reset_peak_rss() && peak_reset;
        const double rss0 = status_bytes("VmRSS");
        auto t0 = steady::now();
        w.sum = fn(pool, leaves);
        const double s = seconds_since(t0);
        const double peak = status_bytes("VmHWM");
        w.ok = w.ok && w.sum == expected;
        if (!keep) return;
        w.seconds.push_back(s);
        w.peak_mb.push_back(peak / 1e6);
        w.growth_mb.push_back((peak - rss0) / 1e6);
      };
      for (int r = -1; r < c.runs; ++r) {  // run -1 warms up
        run_pool(futures, dag_futures, r >= 0);
        run_pool(by_hand, dag_by_hand, r >= 0);
      }
    }
  }
  for (int r = -1; r < c.runs; ++r) {
    std::int64_t sum = 0;
    const double s = dag_raw_seconds(c, leaves, depth, sum);
    if (c.root()) {
      raw.sum = sum;
      raw.ok = raw.ok && sum == expected;
      if (r >= 0) raw.seconds.push_back(s);
    }
  }
  quiet_barrier();
  if (!c.root()) return;
  auto emit = [&](const std::string& impl, const way& w, std::size_t workers, const std::string& variant, bool memory) {
    record rec("dag", impl, c.size, workers);
    rec.stats(w.seconds, false, "s", c.runs).str("variant", variant).integer("leaves", leaves).integer("tasks", tasks);
    rec.num("tasks_per_s", static_cast<double>(tasks) / summarize(w.seconds, false).median);
    rec.integer("sum", static_cast<std::uint64_t>(w.sum));
    if (memory) {
      rec.num("root_peak_rss_mb", summarize(w.peak_mb, false).median);
      rec.num("root_rss_growth_mb", summarize(w.growth_mb, false).median).flag("peak_reset", peak_reset);
    } else {
      rec.integer("in_flight", depth);
    }
    rec.flag("ok", w.ok).print();
  };
  emit("rankpool", futures, futures.workers, "futures-as-arguments", true);
  emit("rankpool-wait-by-hand", by_hand, by_hand.workers, "wait-by-hand", true);
  emit("raw-mpi", raw, static_cast<std::size_t>(c.size - 1), "bare MPI farm, rank 0 tracks the dependencies", false);
}

// ---- lazy: map with buffersize over an endless input, against the eager map -----------------

double lazy_element(std::int64_t i) {
  return static_cast<double>(i % 1000) * 0.5;
}

// map over N elements in chunks of 16 two ways, interleaved in one pool: (a) bounded
// (map_options::buffersize 64) over the endless std::views::iota(0), leaving the loop after N
// results; (b) eager, over iota(0, N), every chunk submitted by the map call. Seconds per run
// and rank 0's peak resident memory over the resident memory just before (VmHWM, reset first):
// the bounded map's should not grow with N, the eager one's does.
void bench_lazy(const config& c) {
  if (needs_two_ranks(c, "lazy")) return;
  const std::size_t n = c.pick(1'000'000, 100'000), chunk = 16, buffer = 64;
  struct way {
    std::vector<double> seconds, growth_mb;
    double sum = 0;
  };
  way bounded, eager;
  bool peak_reset = true;
  std::size_t workers = 0;
  {
    rankpool::comm_executor pool;
    if (!pool.is_root()) return quiet_barrier();
    workers = pool.num_workers();
    auto measure = [&](way& w, bool keep, auto&& body) {
      malloc_trim(0);
      peak_reset = reset_peak_rss() && peak_reset;
      const double rss0 = status_bytes("VmRSS");
      auto t0 = steady::now();
      w.sum = body();
      const double s = seconds_since(t0);
      if (!keep) return;
      w.seconds.push_back(s);
      w.growth_mb.push_back((status_bytes("VmHWM") - rss0) / 1e6);
    };
    for (int r = -1; r < c.runs; ++r) {  // run -1 warms up
      measure(bounded, r >= 0, [&] {
        rankpool::map_options o;
        o.chunksize = chunk;
        o.buffersize = buffer;
        double sum = 0;
        std::size_t taken = 0;
        for (double v : pool.map(lazy_element, std::views::iota(std::int64_t{0}), o)) {
          sum += v;
          if (++taken == n) break;
        }
        return sum;
      });
      measure(eager, r >= 0, [&] {
        double sum = 0;
        for (double v : pool.map(lazy_element, std::views::iota(std::int64_t{0}, static_cast<std::int64_t>(n)),
                                 {.chunksize = chunk}))
          sum += v;
        return sum;
      });
    }
  }
  quiet_barrier();
  auto emit = [&](const std::string& impl, const way& w, const std::string& variant) {
    record rec("lazy", impl, c.size, workers);
    rec.stats(w.seconds, false, "s", c.runs).str("variant", variant).integer("elements", n).integer("chunksize", chunk);
    rec.num("root_rss_growth_mb", summarize(w.growth_mb, false).median).flag("peak_reset", peak_reset);
    rec.flag("ok", w.sum == bounded.sum).print();
  };
  emit("rankpool-buffersize", bounded, "buffersize 64 over an endless input");
  emit("rankpool", eager, "eager map over the whole input");
}

void run(const config& c, const std::string& bench) {
  static const std::map<std::string, void (*)(const config&)> table = {
      {"latency", bench_latency},   {"submit", bench_submit},
      {"map", bench_map},           {"bandwidth", bench_bandwidth},
      {"idle", bench_idle},         {"scrypt", bench_scrypt},
      {"svd", bench_svd},           {"shm-touch", bench_shm_touch},
      {"memory", bench_memory},     {"granularity", bench_granularity},
      {"mixed", bench_mixed},       {"gang", bench_gang},
      {"held", bench_held},         {"raw-latency", bench_raw_latency},
      {"raw-farm", bench_raw_farm}, {"raw-bandwidth", bench_raw_bandwidth},
      {"dag", bench_dag},           {"lazy", bench_lazy}};
  table.at(bench)(c);
}

}  // namespace

int main(int argc, char** argv) {
  rankpool::environment env(argc, argv);
  config c;
  c.rank = world_rank();
  c.size = world_size();
  if (auto err = parse(argc, argv, c)) {
    if (c.root()) {
      if (!err->empty()) std::fprintf(stderr, "rankpool-bench: %s\n", err->c_str());
      std::fputs(usage_text, err->empty() ? stdout : stderr);
    }
    return err->empty() ? 0 : 2;
  }
  calibrate_work();
  try {
    for (const auto& b : c.benches) {
      run(c, b);
      quiet_barrier();
    }
  } catch (const std::exception& e) {
    // The other ranks wait in a pool or a barrier for this one: take the whole job down.
    std::fprintf(stderr, "rankpool-bench: rank %d: %s\n", c.rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return 0;
}
