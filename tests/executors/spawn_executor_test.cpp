// spawn_executor: workers started with MPI_Comm_spawn run tasks and exit; the program's own
// logic runs once (the spawned copies serve inside rankpool::environment).

#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <rankpool/rankpool.hpp>
#include <set>
#include <string>
#include <vector>

namespace {
int square(int x) {
  return x * x;
}
long my_pid(int) {
  return static_cast<long>(getpid());
}
int initialized_flag = 0;
void set_flag() {
  initialized_flag = 42;
}
int read_flag(int) {
  return initialized_flag;
}
void throw_range(int) {
  throw std::range_error("spawned range error");
}
void failing_init() {
  throw std::runtime_error("nope");
}
double element_of(const rankpool::shared<std::vector<double>>& v, std::size_t i) {
  return v.view()[i];
}
std::size_t size_of(const rankpool::shared<std::vector<std::string>>& v) {
  return v->size();
}
}  // namespace

TEST(spawn_executor, shares_values_with_spawned_workers) {
  rankpool::spawn_executor pool({.max_workers = 2});
  std::vector<double> v(100'000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * 0.25;
  const auto sent = rankpool::detail::share_bytes_sent();
  auto h = pool.share(v);
  // Parent and children run on this machine: one node, whose window the parent fills itself.
  EXPECT_EQ(rankpool::detail::share_bytes_sent() - sent, 0u);
  std::vector<std::size_t> idx{0, 7, 99'999};
  EXPECT_EQ(pool.map(rankpool::partial(element_of, h), idx).to_vector(), (std::vector<double>{0.0, 1.75, 24999.75}));
  auto words = pool.share(std::vector<std::string>{"a", "bb", "ccc"});  // not contiguous: one copy per child
  EXPECT_EQ(pool.submit(size_of, words).result(), 3u);
}

TEST(spawn_executor, runs_tasks_in_spawned_processes) {
  rankpool::spawn_executor pool({.max_workers = 2});
  EXPECT_EQ(pool.num_workers(), 2u);
  std::vector<int> xs{1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<int> expect{1, 4, 9, 16, 25, 36, 49, 64};
  EXPECT_EQ(pool.map(square, xs).to_vector(), expect);
  std::set<long> pids;
  for (long p : pool.map(my_pid, std::vector<int>(40, 0))) pids.insert(p);
  EXPECT_EQ(pids.count(static_cast<long>(getpid())), 0u) << "tasks must not run in the parent";
  EXPECT_GE(pids.size(), 1u);
  EXPECT_LE(pids.size(), 2u);
  EXPECT_THROW(pool.submit(throw_range, 0).result(), std::range_error);
}

TEST(spawn_executor, initializer_runs_in_every_worker) {
  rankpool::spawn_executor pool({.max_workers = 2, .initializer = set_flag});
  for (int v : pool.map(read_flag, std::vector<int>(20, 0))) EXPECT_EQ(v, 42);
}

TEST(spawn_executor, failing_initializer_breaks_it) {
  rankpool::spawn_executor pool({.max_workers = 1, .initializer = failing_init});
  EXPECT_THROW(pool.submit(square, 3).result(), rankpool::broken_executor);
}

TEST(spawn_executor, initializer_must_be_a_function_pointer) {
  int captured = 1;
  EXPECT_THROW(rankpool::spawn_executor({.max_workers = 1, .initializer = [captured] { (void)captured; }}),
               std::invalid_argument);
}
