// spawn_executor: workers started with MPI_Comm_spawn run tasks and exit; the program's own
// logic runs once (the spawned copies serve inside rankpool::environment).

#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <rankpool/rankpool.hpp>
#include <set>
#include <stdexcept>
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
std::string working_dir(int) {
  return std::filesystem::current_path().string();
}
std::string host_of(int) {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}
// Whether this process's command line holds `arg` as one argument.
bool has_arg(std::string arg) {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  for (std::string a; std::getline(in, a, '\0');)
    if (a == arg) return true;
  return false;
}

// Whether this MPI can spawn at all, asked once with a pool of one worker. Debian 12's MPICH
// (4.0.2, ch4:ucx) cannot: MPI_Comm_spawn fails inside MPICH ("Error in spawn call") before it
// reaches the process manager, a bare C program the same. The tests that spawn then skip,
// saying why, and the refusal itself must be an mpi_error, never an abort.
const std::string& spawn_refusal() {
  static const std::string why = [] {
    try {
      rankpool::spawn_executor probe({.max_workers = 1});
      return probe.submit(square, 3).result() == 9 ? std::string() : std::string("the probe task's result was wrong");
    } catch (const rankpool::mpi_error& e) {
      return std::string(e.what());
    }
  }();
  return why;
}
}  // namespace

// Skips a test that spawns where the MPI cannot spawn (see spawn_refusal).
#define REQUIRE_SPAWN()                                                                         \
  do {                                                                                          \
    if (!spawn_refusal().empty()) GTEST_SKIP() << "this MPI cannot spawn: " << spawn_refusal(); \
  } while (0)

TEST(spawn_executor, shares_values_with_spawned_workers) {
  REQUIRE_SPAWN();
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
  REQUIRE_SPAWN();
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
  REQUIRE_SPAWN();
  rankpool::spawn_executor pool({.max_workers = 2, .initializer = set_flag});
  for (int v : pool.map(read_flag, std::vector<int>(20, 0))) EXPECT_EQ(v, 42);
}

TEST(spawn_executor, failing_initializer_breaks_it) {
  REQUIRE_SPAWN();
  rankpool::spawn_executor pool({.max_workers = 1, .initializer = failing_init});
  EXPECT_THROW(pool.submit(square, 3).result(), rankpool::broken_executor);
}

TEST(spawn_executor, initializer_must_be_a_function_pointer) {
  int captured = 1;
  EXPECT_THROW(rankpool::spawn_executor({.max_workers = 1, .initializer = [captured] { (void)captured; }}),
               std::invalid_argument);
}

TEST(spawn_executor, spawn_info_and_spawn_args_reach_mpi_comm_spawn) {
  REQUIRE_SPAWN();
  const auto dir = std::filesystem::temp_directory_path() / ("rankpool_wdir_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  rankpool::executor_options o;
  o.max_workers = 1;
  o.spawn_info = {{"wdir", dir.string()}};
  o.spawn_args = {"--my-flag", "value with spaces"};
  {
    rankpool::spawn_executor pool(o);
    EXPECT_EQ(pool.submit(working_dir, 0).result(), std::filesystem::canonical(dir).string());
    EXPECT_TRUE(pool.submit(has_arg, std::string("--my-flag")).result());
    EXPECT_TRUE(pool.submit(has_arg, std::string("value with spaces")).result());
    EXPECT_FALSE(pool.submit(has_arg, std::string("--not-given")).result());
  }
  std::filesystem::remove_all(dir);
}

TEST(spawn_executor, bad_spawn_info_is_refused_before_anything_starts) {
  rankpool::executor_options o;
  o.max_workers = 1;
  o.spawn_info = {{"", "x"}};
  EXPECT_THROW(rankpool::spawn_executor{o}, std::invalid_argument);
  o.spawn_info = {{std::string(MPI_MAX_INFO_KEY + 1, 'k'), "x"}};
  EXPECT_THROW(rankpool::spawn_executor{o}, std::invalid_argument);
}

int talks(int x) {
  std::printf("spawned task %d\n", x);
  return x;
}

// The option travels to the spawned workers in their hello.
TEST(spawn_executor, captures_the_output_of_spawned_workers) {
  REQUIRE_SPAWN();
  rankpool::executor_options o;
  o.max_workers = 1;
  o.capture_output = true;
  rankpool::spawn_executor pool(o);
  auto f = pool.submit(talks, 4);
  EXPECT_EQ(f.result(), 4);
  EXPECT_EQ(f.output(), "spawned task 4\n");
}

// mpi4py#631: a second spawn after the first pool closed.
TEST(spawn_executor, a_second_pool_spawns_after_the_first_shut_down) {
  REQUIRE_SPAWN();
  for (int i = 2; i < 4; ++i) {
    rankpool::spawn_executor pool({.max_workers = 1});
    EXPECT_EQ(pool.submit(square, i).result(), i * i);
    pool.shutdown();
    EXPECT_EQ(pool.num_workers(), 0u);
  }
  rankpool::spawn_executor a({.max_workers = 1});
  a.shutdown();  // the first one shut down but still alive while the next spawns
  rankpool::spawn_executor b({.max_workers = 2});
  EXPECT_EQ(b.submit(square, 5).result(), 25);
}

// Run by cluster.netns.spawn_placement: RANKPOOL_TEST_SPAWN_HOST names a node of the job's
// allocation other than the parent's (the harness's hostfile names its hosts by address) and
// RANKPOOL_TEST_SPAWN_HOSTNAME the hostname the workers must then report.
TEST(spawn_executor, spawns_onto_the_host_named_in_spawn_info) {
  const char* host = std::getenv("RANKPOOL_TEST_SPAWN_HOST");
  const char* expect = std::getenv("RANKPOOL_TEST_SPAWN_HOSTNAME");
  if (!host || !*host || !expect || !*expect)
    GTEST_SKIP() << "RANKPOOL_TEST_SPAWN_HOST(NAME) are not set (cluster.netns.spawn_placement sets them)";
  rankpool::executor_options o;
  o.max_workers = 2;
  o.spawn_info = {{"host", host}};
  rankpool::spawn_executor pool(o);
  EXPECT_NE(host_of(0), expect) << "the parent already runs on the named host";
  for (const std::string& h : pool.map(host_of, std::vector<int>(8, 0))) EXPECT_EQ(h, expect);
}
