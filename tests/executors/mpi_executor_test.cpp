// comm_executor behaviour that only an MPI pool has: roots and workers, remote errors with
// their rank and host, decode failures confined to one future, broken initializers, payloads
// split over several messages, every kind of callable, phases on one communicator.

#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <Eigen/SVD>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <numeric>
#include <random>
#include <rankpool/eigen.hpp>
#include <rankpool/rankpool.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/world.hpp"

namespace {

using rankpool_test::cpus_of_one_node;
using rankpool_test::world_rank;
using rankpool_test::world_size;

int add(int a, int b) {
  return a + b;
}
int my_world_rank(int) {
  return world_rank();
}
double sum(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0);
}
std::vector<double> echo(std::vector<double> v) {
  return v;
}
Eigen::VectorXd singular_values(const Eigen::MatrixXd& m) {
  return m.jacobiSvd().singularValues();
}

struct user_error : std::exception {
  const char* what() const noexcept override { return "user error text"; }
};
void throw_user(int) {
  throw user_error();
}
void throw_out_of_range(int) {
  throw std::out_of_range("index 7 out of range");
}

// A function object with state that travels through its serialize member.
struct scaler {
  double factor = 1.0;
  double operator()(double x) const { return factor * x; }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& factor;
  }
};
// Default-constructible, stateless: the type alone identifies it.
struct negate {
  int operator()(int x) const { return -x; }
};

// Serializes fine but refuses to load: decoding fails on whichever side receives it.
struct undecodable {
  int v = 0;
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& v;
    if constexpr (Archive::is_loading::value) throw std::runtime_error("undecodable by design");
  }
};
undecodable make_undecodable(int v) {
  return undecodable{v};
}
int take_undecodable(undecodable u) {
  return u.v;
}

void failing_initializer() {
  throw std::runtime_error("initializer failed on purpose");
}

// Fails on the last rank only, and late: the pool has shut down before its word arrives.
void late_failing_initializer() {
  if (world_rank() != world_size() - 1) return;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  throw std::runtime_error("initializer failed late on purpose");
}

}  // namespace

TEST(comm_executor, exactly_one_root_and_worker_count) {
  bool root = false;
  {
    rankpool::comm_executor pool;
    root = pool.is_root();
    if (!root) {
      EXPECT_THROW(pool.submit(add, 1, 2), rankpool::invalid_state_error);
    } else {
      EXPECT_GE(pool.num_workers(), 1u);
      if (world_size() > 1) {
        EXPECT_EQ(pool.num_workers(), static_cast<std::size_t>(world_size() - 1));
      }
    }
  }  // workers leave the constructor only when the root's pool shuts down: count roots after
  EXPECT_EQ(root, world_rank() == 0);
  int roots = root ? 1 : 0, total = 0;
  MPI_Allreduce(&roots, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_EQ(total, 1);
}

TEST(comm_executor, tasks_run_on_worker_ranks_and_every_worker_gets_work) {
  if (world_size() < 2) GTEST_SKIP() << "needs at least 2 ranks (a one-rank pool runs on local threads)";
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  std::vector<int> xs(400, 0);
  std::vector<int> seen(static_cast<std::size_t>(world_size()), 0);
  for (int r : pool.map(my_world_rank, xs)) ++seen.at(static_cast<std::size_t>(r));
  EXPECT_EQ(seen[0], 0) << "the root must not run tasks by default";
  for (int r = 1; r < world_size(); ++r) EXPECT_GT(seen[static_cast<std::size_t>(r)], 0) << "worker " << r << " idle";
}

TEST(comm_executor, every_kind_of_callable) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  EXPECT_EQ(pool.submit(add, 20, 22).result(), 42);                               // free function
  EXPECT_EQ(pool.submit(&add, 1, 2).result(), 3);                                 // function pointer
  EXPECT_EQ(pool.submit([](int a, int b) { return a * b; }, 6, 7).result(), 42);  // capture-less lambda
  EXPECT_EQ(pool.submit(negate{}, 5).result(), -5);                               // stateless functor
  EXPECT_DOUBLE_EQ(pool.submit(scaler{2.5}, 4.0).result(), 10.0);                 // stateful, serialize()
  EXPECT_EQ(pool.submit(
                    +[](std::string s) { return s + "!"; }, std::string("hi"))
                .result(),
            "hi!");
  std::vector<double> scaled = pool.map(scaler{-1.0}, std::vector<double>{1, 2, 3}).to_vector();
  EXPECT_EQ(scaled, (std::vector<double>{-1, -2, -3}));
}

TEST(comm_executor, eigen_results_equal_serial) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  std::srand(7);
  std::vector<Eigen::MatrixXd> ms;
  for (int i = 0; i < 50; ++i) ms.push_back(Eigen::MatrixXd::Random(12, 5));
  std::size_t i = 0;
  for (const Eigen::VectorXd& s : pool.map(singular_values, ms, {.chunksize = 7})) {
    Eigen::VectorXd serial = singular_values(ms[i++]);
    ASSERT_EQ(s.size(), serial.size());
    EXPECT_EQ((s - serial).cwiseAbs().maxCoeff(), 0.0);
  }
  EXPECT_EQ(i, ms.size());
}

TEST(comm_executor, remote_errors_carry_type_rank_and_host) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  try {
    pool.submit(throw_out_of_range, 0).result();
    FAIL() << "no exception";
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "index 7 out of range");
    const auto* ctx = rankpool::remote_context_of(e);
    if (world_size() > 1) {
      ASSERT_NE(ctx, nullptr);
      EXPECT_EQ(ctx->type_name(), "std::out_of_range");
      EXPECT_GE(ctx->rank(), 1);
      EXPECT_FALSE(ctx->host().empty());
    }
  }
  if (world_size() > 1) {
    try {
      pool.submit(throw_user, 0).result();
      FAIL() << "no exception";
    } catch (const rankpool::remote_error& e) {
      EXPECT_NE(e.type_name().find("user_error"), std::string::npos) << e.type_name();
      EXPECT_STREQ(e.what(), "user error text");
      EXPECT_GE(e.rank(), 1);
    }
  }
}

TEST(comm_executor, decode_failure_fails_only_that_future) {
  if (world_size() < 2) GTEST_SKIP() << "needs at least 2 ranks (nothing is decoded in a one-rank pool)";
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  auto bad_result = pool.submit(make_undecodable, 3);
  auto bad_argument = pool.submit(take_undecodable, undecodable{4});
  auto good = pool.submit(add, 1, 1);
  EXPECT_THROW(bad_result.result(), rankpool::error);
  try {
    bad_argument.result();
    FAIL() << "argument decode failure not reported";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("undecodable by design"), std::string::npos) << e.what();
  }
  EXPECT_EQ(good.result(), 2);
  EXPECT_EQ(pool.submit(add, 2, 2).result(), 4) << "the pool must go on after a decode failure";
}

TEST(comm_executor, initializer_failure_breaks_the_executor) {
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.initializer = failing_initializer});
  if (!pool.is_root()) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(pool.submit(add, i, i));
  for (auto& f : fs) EXPECT_THROW(f.result(), rankpool::broken_executor);
  EXPECT_THROW(pool.submit(add, 1, 1).result(), rankpool::broken_executor);
}

TEST(comm_executor, a_late_initializer_failure_does_not_reach_the_next_pool) {
  // The first pool ends before its last worker's initializer fails; that worker's word must not
  // be left on the freed communicator, where the next pool's would pick it up (MPI implementations
  // reuse context ids, and Open MPI keeps messages for a communicator not yet created).
  if (world_size() < 2) GTEST_SKIP() << "needs at least 2 ranks (a worker with an initializer)";
  { rankpool::comm_executor first(MPI_COMM_WORLD, 0, {.initializer = late_failing_initializer}); }
  rankpool::comm_executor next;
  if (!next.is_root()) return;
  EXPECT_EQ(next.submit(add, 1, 2).result(), 3);
}

TEST(comm_executor, payloads_round_trip_bitwise) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{1000}, std::size_t{1} << 20}) {
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i) * 0.5 - 3.0;
    EXPECT_EQ(pool.submit(echo, v).result(), v) << n;
    EXPECT_DOUBLE_EQ(pool.submit(sum, v).result(), sum(v));
  }
}

TEST(comm_executor, max_workers_limits_the_pool_and_phases_reuse_the_ranks) {
  for (int phase = 0; phase < 3; ++phase) {
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.max_workers = 1});
    if (!pool.is_root()) continue;
    EXPECT_EQ(pool.num_workers(), 1u);
    std::vector<int> xs(50, 0);
    for (int r : pool.map(my_world_rank, xs)) EXPECT_EQ(r, world_size() > 1 ? 1 : 0);
  }
}

TEST(comm_executor, another_root) {
  const int root = world_size() - 1;
  rankpool::comm_executor pool(MPI_COMM_WORLD, root);
  EXPECT_EQ(pool.is_root(), world_rank() == root);
  if (!pool.is_root()) return;
  std::vector<int> xs(40, 0);
  for (int r : pool.map(my_world_rank, xs)) {
    if (world_size() > 1) {
      EXPECT_NE(r, root);
    }
  }
}

TEST(comm_executor, max_workers_below_one_is_rejected_on_every_rank) {
  // As concurrent.futures (ValueError); checked before any collective, so no rank waits.
  EXPECT_THROW(rankpool::comm_executor(MPI_COMM_WORLD, 0, {.max_workers = 0}), std::invalid_argument);
  for (const char* v : {"0", "-2"}) {
    ::setenv("RANKPOOL_MAX_WORKERS", v, 1);
    EXPECT_THROW(rankpool::comm_executor(MPI_COMM_WORLD), std::invalid_argument) << "RANKPOOL_MAX_WORKERS=" << v;
  }
  ::unsetenv("RANKPOOL_MAX_WORKERS");
}

TEST(comm_executor, bad_root_is_rejected_on_every_rank) {
  EXPECT_THROW(rankpool::comm_executor(MPI_COMM_WORLD, world_size()), std::invalid_argument);
  EXPECT_THROW(rankpool::comm_executor(MPI_COMM_WORLD, -1), std::invalid_argument);
}

namespace {
std::pair<int, std::size_t> where_and_which_thread(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return {world_rank(), std::hash<std::thread::id>{}(std::this_thread::get_id())};
}
}  // namespace

TEST(comm_executor, root_computes_adds_the_root_as_a_worker) {
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.root_computes = true});
  if (!pool.is_root()) return;
  if (world_size() == 1) return;  // a one-rank pool is local threads either way
  EXPECT_EQ(pool.num_workers(), static_cast<std::size_t>(world_size()));
  std::set<int> ranks;
  for (auto [r, t] : pool.map(where_and_which_thread, std::vector<int>(static_cast<std::size_t>(20 * world_size()), 5)))
    ranks.insert(r);
  EXPECT_EQ(ranks.size(), static_cast<std::size_t>(world_size())) << "every rank, the root included, ran tasks";
}

TEST(comm_executor, threads_per_worker_run_tasks_side_by_side) {
  if (world_size() < 2) GTEST_SKIP() << "needs at least 2 ranks (worker threads live in worker ranks)";
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.threads_per_worker = 3});
  if (!pool.is_root()) return;
  EXPECT_EQ(pool.num_workers(), 3u * static_cast<std::size_t>(world_size() - 1));
  std::map<int, std::set<std::size_t>> threads;
  for (auto [r, t] :
       pool.map(where_and_which_thread, std::vector<int>(static_cast<std::size_t>(30 * world_size()), 10)))
    threads[r].insert(t);
  for (int r = 1; r < world_size(); ++r) EXPECT_EQ(threads[r].size(), 3u) << "rank " << r;
  EXPECT_EQ(threads.count(0), 0u);
}

namespace {
// The ranks that ran a map of 5 ms tasks, 20 per rank of the world (enough for every worker).
std::set<int> ranks_that_run(rankpool::comm_executor& pool) {
  std::set<int> ranks;
  for (auto [r, t] : pool.map(where_and_which_thread, std::vector<int>(static_cast<std::size_t>(20 * world_size()), 5)))
    ranks.insert(r);
  return ranks;
}

// Ranks first to first + n - 1.
std::set<int> rank_range(int first, std::size_t n) {
  std::set<int> out;
  for (std::size_t i = 0; i < n; ++i) out.insert(first + static_cast<int>(i));
  return out;
}
}  // namespace

TEST(comm_executor, fit_cores_runs_tasks_on_one_worker_rank_per_cpu_and_idles_the_rest) {
  if (world_size() < 2) GTEST_SKIP() << "needs at least 2 ranks (a one-rank pool runs on local threads)";
  const std::size_t cpus = cpus_of_one_node();
  if (cpus == 0) GTEST_SKIP() << "the ranks span several nodes; this test counts one node's CPUs";
  const auto others = static_cast<std::size_t>(world_size() - 1);
  {
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.fit_cores = true});
    if (pool.is_root()) {
      const std::size_t fit = std::min(others, cpus);
      EXPECT_EQ(pool.num_workers(), fit) << cpus << " CPUs";
      // The first ranks after the root work; ranks beyond the CPUs run nothing.
      EXPECT_EQ(ranks_that_run(pool), rank_range(1, fit));
    }
  }
  {  // max_workers still caps, and a computing root takes one CPU of its node
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.max_workers = 1, .fit_cores = true});
    if (pool.is_root()) {
      EXPECT_EQ(pool.num_workers(), 1u);
      EXPECT_EQ(ranks_that_run(pool), rank_range(1, 1));
    }
  }
  {
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.root_computes = true, .fit_cores = true});
    if (pool.is_root()) {
      const std::size_t fit = std::min(others, std::max<std::size_t>(1, cpus - 1));
      EXPECT_EQ(pool.num_workers(), fit + 1) << cpus << " CPUs, the root computing";
      EXPECT_EQ(ranks_that_run(pool), rank_range(0, fit + 1));
    }
  }
  {  // off (the default): every rank works, as in mpi4py.futures
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.fit_cores = false});
    if (pool.is_root()) {
      EXPECT_EQ(pool.num_workers(), others);
    }
  }
}

TEST(comm_executor, fit_cores_from_the_environment) {
  ::setenv("RANKPOOL_FIT_CORES", "maybe", 1);
  // Read before any collective: every rank throws, none waits for the others.
  EXPECT_THROW(rankpool::comm_executor(MPI_COMM_WORLD), rankpool::error);
  ::setenv("RANKPOOL_FIT_CORES", "1", 1);
  const std::size_t cpus = cpus_of_one_node();
  {
    rankpool::comm_executor pool;
    if (pool.is_root() && world_size() > 1 && cpus > 0) {
      EXPECT_EQ(pool.num_workers(), std::min<std::size_t>(static_cast<std::size_t>(world_size() - 1), cpus));
    }
  }
  ::unsetenv("RANKPOOL_FIT_CORES");
}

namespace {
// Works until asked to stop (or 20 s, so a lost stop request fails the test instead of hanging).
int until_stopped(int result) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!rankpool::stop_requested()) {
    if (std::chrono::steady_clock::now() > give_up) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return result;
}
int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
}  // namespace

TEST(comm_executor, request_stop_reaches_a_running_task) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  EXPECT_FALSE(rankpool::stop_requested()) << "outside a task";
  auto f = pool.submit(until_stopped, 7);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let it start
  EXPECT_TRUE(f.request_stop());
  EXPECT_EQ(f.result(std::chrono::seconds(30)), 7);
  EXPECT_FALSE(f.request_stop()) << "a finished task cannot be asked to stop";
  EXPECT_EQ(pool.submit(until_stopped, 1).request_stop() ? 1 : 0, 1);
}

TEST(comm_executor, request_stop_of_a_queued_task_cancels_it) {
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.in_flight = 1});
  if (!pool.is_root()) return;
  std::vector<rankpool::future<int>> busy;
  for (std::size_t i = 0; i < pool.num_workers(); ++i) busy.push_back(pool.submit(sleep_ms, 300));
  auto queued = pool.submit(sleep_ms, 1);
  EXPECT_TRUE(queued.request_stop());
  EXPECT_TRUE(queued.cancelled());
  for (auto& b : busy) EXPECT_EQ(b.result(), 300);
}

TEST(comm_executor, task_deadline_fails_overrunning_tasks) {
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.task_deadline = std::chrono::duration<double>(0.2)});
  if (!pool.is_root()) return;
  EXPECT_EQ(pool.submit(sleep_ms, 1).result(), 1);
  EXPECT_THROW(pool.submit(sleep_ms, 600).result(), rankpool::timeout_error);
  // A cooperative task sees stop_requested() at the deadline and returns, but it overran.
  EXPECT_THROW(pool.submit(until_stopped, 3).result(), rankpool::timeout_error);
  EXPECT_EQ(pool.submit(sleep_ms, 2).result(), 2) << "the pool goes on";
}

TEST(comm_executor, isolation_kills_a_task_stuck_past_its_deadline_and_forwards_stops) {
  if (world_size() < 2) GTEST_SKIP() << "needs at least 2 ranks (isolation is for worker ranks)";
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0,
                               {.isolate = true, .task_deadline = std::chrono::duration<double>(0.3)});
  if (!pool.is_root()) return;
  EXPECT_THROW(pool.submit(sleep_ms, 60000).result(std::chrono::seconds(30)), rankpool::timeout_error);
  EXPECT_EQ(pool.submit(sleep_ms, 5).result(), 5) << "a fresh child runs the next task";
  auto f = pool.submit(until_stopped, 9);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  f.request_stop();
  EXPECT_EQ(f.result(std::chrono::seconds(30)), 9);
}

namespace {
long task_pid(int) {
  return static_cast<long>(getpid());
}
}  // namespace

TEST(comm_executor, isolation_replaces_the_child_after_max_tasks_per_child) {
  if (world_size() < 2) GTEST_SKIP() << "needs at least 2 ranks (isolation is for worker ranks)";
  rankpool::executor_options o;
  o.max_workers = 1;  // one worker, one task at a time: the pids come in the order of the tasks
  o.in_flight = 1;
  o.isolate = true;
  o.max_tasks_per_child = 3;
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, o);
  if (!pool.is_root()) return;
  std::vector<long> pids;
  for (int i = 0; i < 9; ++i) pids.push_back(pool.submit(task_pid, i).result());
  for (std::size_t i = 0; i < pids.size(); ++i) EXPECT_EQ(pids[i], pids[i - i % 3]) << "task " << i;
  EXPECT_NE(pids[0], pids[3]);
  EXPECT_NE(pids[3], pids[6]);
  EXPECT_NE(pids[0], pids[6]);
}

TEST(comm_executor, max_tasks_per_child_without_isolation_is_refused) {
  EXPECT_THROW(rankpool::comm_executor(MPI_COMM_WORLD, 0, {.max_tasks_per_child = 2}), std::invalid_argument);
}

TEST(comm_executor, terminate_and_kill_workers_end_isolated_tasks_at_once) {
  if (world_size() < 2) GTEST_SKIP() << "needs at least 2 ranks (isolation is for worker ranks)";
  for (bool kill : {false, true}) {
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.isolate = true});
    if (!pool.is_root()) continue;
    std::vector<rankpool::future<int>> fs;
    for (std::size_t i = 0; i < 2 * pool.num_workers(); ++i) fs.push_back(pool.submit(sleep_ms, 60000));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the first ones have started
    const auto t0 = std::chrono::steady_clock::now();
    kill ? pool.kill_workers() : pool.terminate_workers();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20)) << "it waited for the tasks";
    for (auto& f : fs) EXPECT_THROW(f.result(std::chrono::seconds(5)), rankpool::broken_executor);
    EXPECT_EQ(pool.num_workers(), 0u);
    EXPECT_THROW(pool.submit(sleep_ms, 1), rankpool::invalid_state_error);
  }
}

TEST(comm_executor, terminate_workers_asks_unisolated_tasks_to_stop) {
  for (bool root_computes : {false, true}) {  // with the root's own compute slot too
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.root_computes = root_computes});
    if (!pool.is_root()) continue;
    auto running = pool.submit(until_stopped, 4);
    std::vector<rankpool::future<int>> queued;
    for (int i = 0; i < 20; ++i) queued.push_back(pool.submit(sleep_ms, 200));
    auto waiting = pool.submit(until_stopped, running);  // waits for an input: cancelled
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    pool.terminate_workers();
    EXPECT_THROW(running.result(std::chrono::seconds(30)), rankpool::broken_executor);
    for (auto& f : queued) {  // some may have run before
      if (auto e = f.exception(std::chrono::seconds(30))) {
        EXPECT_THROW(std::rethrow_exception(e), rankpool::broken_executor);
      }
    }
    EXPECT_TRUE(waiting.cancelled());
    EXPECT_EQ(pool.num_workers(), 0u);
    EXPECT_THROW(pool.submit(sleep_ms, 1), rankpool::invalid_state_error);
    pool.terminate_workers();  // idempotent
  }
}

namespace {
unsigned fresh_random(int) {
  return std::random_device{}();
}
}  // namespace

TEST(comm_executor, journal_replays_finished_tasks_and_reruns_failed_ones) {
  const std::string path = "mpi_executor_test.journal." + std::to_string(world_size());
  std::remove(path.c_str());
  std::vector<unsigned> first, second;
  for (int run = 0; run < 2; ++run) {
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.journal = path});
    if (!pool.is_root()) continue;
    auto& out = run == 0 ? first : second;
    out.push_back(pool.submit(fresh_random, 1).result());
    for (unsigned v : pool.map(fresh_random, std::vector<int>{1, 2, 3, 4, 5}, {.chunksize = 2})) out.push_back(v);
    EXPECT_THROW(pool.submit(throw_out_of_range, 0).result(), std::out_of_range) << "failures are never replayed";
  }
  if (world_rank() == 0) {
    EXPECT_EQ(first, second) << "the second run must take every result from the journal";
  }
  std::remove(path.c_str());
}
