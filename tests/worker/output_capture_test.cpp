// executor_options::capture_output on a comm_executor: each task's stdout and stderr (C stdio,
// C++ streams, a child process) come back with its result in future::output(), a failed task's
// message ends with them, an isolated task that crashes keeps what it wrote, a long output keeps
// its end, and the combinations where tasks would share a process's descriptors are refused.
// Runs at 1 rank (only the refusal there) and at 2 and 3 ranks.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <rankpool/comm_executor.hpp>
#include <rankpool/detail/log.hpp>
#include <rankpool/errors.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/world.hpp"

namespace {

using rankpool_test::world_size;

rankpool::executor_options capturing() {
  rankpool::executor_options o;
  o.capture_output = true;
  return o;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Writes a marker of `i` through each way a task can write.
int chatty(int i) {
  const std::string tag = std::to_string(i);
  std::printf("<printf %s>\n", tag.c_str());
  std::fprintf(stderr, "<stderr %s>\n", tag.c_str());
  std::cout << "<cout " << tag << ">" << std::endl;
  const std::string cmd = "echo '<child " + tag + ">'";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("echo failed");
  return i * 2;
}

int fails_after_talking(int) {
  std::cout << "about to fail" << std::endl;
  throw std::runtime_error("boom");
}

int crashes_after_talking(int) {
  std::fprintf(stderr, "about to abort\n");  // stderr is unbuffered: it is out before the crash
  std::abort();
}

int writes_a_lot(int megabytes) {
  const std::string line(1023, 'x');
  for (int i = 0; i < megabytes * 1024; ++i) std::printf("%s\n", line.c_str());
  std::printf("THE END\n");
  return megabytes;
}

int quiet(int i) {
  return i + 1;
}

TEST(output_capture, each_task_gets_its_own_output) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks (a one-rank pool refuses capture_output)";
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, capturing());
  if (!pool.is_root()) return;
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 12; ++i) fs.push_back(pool.submit(chatty, i));
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(fs[i].result(), 2 * i);
    const std::string out = fs[i].output();
    const std::string tag = std::to_string(i);
    for (const char* how : {"printf", "stderr", "cout", "child"})
      EXPECT_TRUE(contains(out, std::string("<") + how + " " + tag + ">")) << "task " << i << " output: " << out;
    for (int j = 0; j < 12; ++j) {
      if (j != i) {
        EXPECT_FALSE(contains(out, " " + std::to_string(j) + ">")) << "task " << i << " has task " << j;
      }
    }
  }
  // map chunks carry their output too, and their values still decode.
  std::vector<int> in(100);
  for (int i = 0; i < 100; ++i) in[i] = i;
  int k = 0;
  for (int v : pool.map(quiet, in)) EXPECT_EQ(v, ++k);
  EXPECT_EQ(pool.submit(quiet, 1).output(), "");
}

TEST(output_capture, a_failed_tasks_message_ends_with_its_output) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, capturing());
  if (!pool.is_root()) return;
  auto f = pool.submit(fails_after_talking, 0);
  try {
    f.result();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_TRUE(contains(what, "boom")) << what;
    const std::string tail = "about to fail\n";
    ASSERT_GE(what.size(), tail.size());
    EXPECT_EQ(what.substr(what.size() - tail.size()), tail) << what;
  }
  EXPECT_EQ(f.output(), "about to fail\n");
}

TEST(output_capture, an_isolated_crash_keeps_what_the_task_wrote) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  rankpool::executor_options o = capturing();
  o.isolate = true;
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, o);
  if (!pool.is_root()) return;
  auto f = pool.submit(crashes_after_talking, 0);
  EXPECT_THROW(f.result(), rankpool::task_crashed);
  EXPECT_EQ(f.output(), "about to abort\n");
  try {
    f.result();
  } catch (const rankpool::task_crashed& e) {
    EXPECT_TRUE(contains(e.what(), "--- output of the task ---\nabout to abort\n")) << e.what();
  }
  // The fresh child captures as well, and tasks do not see each other's output.
  auto g = pool.submit(chatty, 5);
  EXPECT_EQ(g.result(), 10);
  EXPECT_TRUE(contains(g.output(), "<child 5>")) << g.output();
  EXPECT_FALSE(contains(g.output(), "abort")) << g.output();
}

TEST(output_capture, a_long_output_keeps_its_end) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, capturing());
  if (!pool.is_root()) return;
  auto f = pool.submit(writes_a_lot, 3);
  EXPECT_EQ(f.result(), 3);
  const std::string out = f.output();
  EXPECT_LE(out.size(), (std::size_t{1} << 20) + 100);
  EXPECT_EQ(out.rfind("[rankpool: the first ", 0), 0u) << out.substr(0, 80);
  EXPECT_EQ(out.substr(out.size() - 8), "THE END\n");
}

TEST(output_capture, without_it_output_is_empty) {
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {});
  if (!pool.is_root()) return;
  EXPECT_EQ(pool.submit(quiet, 1).output(), "");
}

TEST(output_capture, the_environment_turns_it_on) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  ::setenv("RANKPOOL_CAPTURE_OUTPUT", "1", 1);
  {
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {});
    ::unsetenv("RANKPOOL_CAPTURE_OUTPUT");
    if (!pool.is_root()) return;
    EXPECT_TRUE(contains(pool.submit(chatty, 3).output(), "<cout 3>"));
  }
}

int says_its_line(int i) {
  std::printf("line of task %d\n", i);
  std::fprintf(stderr, "error line of task %d\n", i);
  return i;
}

// Without capture, RANKPOOL_LOG=prefix puts "[rank@host] " before each line a worker prints.
// Each worker rank points its stdout and stderr at a file of its own for the pool's life and
// checks every line there; the root counts the task lines of all of them.
TEST(output_capture, prefix_marks_every_worker_line) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  namespace log = rankpool::detail::log;
  log::set_prefix_output(true);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const std::string path = "/tmp/rankpool_prefix_" + std::to_string(::getpid()) + "_" + std::to_string(rank);
  const int saved_out = ::dup(1), saved_err = ::dup(2);
  if (rank != 0) {
    std::fflush(nullptr);
    const int f = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_APPEND, 0600);
    ASSERT_GE(f, 0);
    ::dup2(f, 1);
    ::dup2(f, 2);
    ::close(f);
  }
  constexpr int tasks = 20;
  {
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {});
    if (pool.is_root()) {
      std::vector<int> in(tasks);
      for (int i = 0; i < tasks; ++i) in[i] = i;
      for (int v : pool.map(says_its_line, in)) (void)v;
    }
  }
  log::set_prefix_output(false);
  long lines = 0;
  if (rank != 0) {
    std::fflush(nullptr);
    ::dup2(saved_out, 1);
    ::dup2(saved_err, 2);
    std::FILE* f = std::fopen(path.c_str(), "r");
    ASSERT_NE(f, nullptr);
    const std::string prefix = "[" + log::origin() + "] ";
    char buf[512];
    while (std::fgets(buf, sizeof buf, f)) {
      const std::string line = buf;
      EXPECT_EQ(line.rfind(prefix, 0), 0u) << "rank " << rank << " printed without its prefix: " << line;
      if (contains(line, "line of task ")) ++lines;
    }
    std::fclose(f);
    std::remove(path.c_str());
  }
  ::close(saved_out);
  ::close(saved_err);
  long total = 0;
  MPI_Reduce(&lines, &total, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    EXPECT_EQ(total, 2 * tasks);
  }
}

// Every rank refuses before the pool's first collective, so none is left waiting.
TEST(output_capture, sharing_a_process_is_refused) {
  rankpool::executor_options threads = capturing();
  threads.threads_per_worker = 2;
  EXPECT_THROW(rankpool::comm_executor(MPI_COMM_WORLD, 0, threads), std::invalid_argument);
  rankpool::executor_options root = capturing();
  root.root_computes = true;
  EXPECT_THROW(rankpool::comm_executor(MPI_COMM_WORLD, 0, root), std::invalid_argument);
  if (world_size() == 1) {
    EXPECT_THROW(rankpool::comm_executor(MPI_COMM_WORLD, 0, capturing()), std::invalid_argument);
  }
}

}  // namespace
