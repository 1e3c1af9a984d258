// The progress display of map and as_completed: forced plain lines on a captured stderr, silence
// by default when stderr is not a terminal, unknown totals, RANKPOOL_PROGRESS parsing, and the
// line format. The terminal mode is driven under a pseudo-terminal by progress_tty.py, which runs
// this executable with `--demo slow|fast`; `--demo mpi` is the check under mpirun.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <ranges>
#include <rankpool/rankpool.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using rankpool::detail::progress;

// Sends fd 2 to a temporary file while alive; text() restores stderr and returns what was written.
class captured_stderr {
 public:
  captured_stderr() {
    std::fflush(stderr);
    file_ = std::tmpfile();
    saved_ = ::dup(2);
    ::dup2(::fileno(file_), 2);
  }
  ~captured_stderr() {
    restore();
    std::fclose(file_);
  }
  std::string text() {
    restore();
    std::string out;
    std::rewind(file_);
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::FILE* file_;
  int saved_ = -1;
};

// Sets (or, with null, unsets) an environment variable for a scope.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~scoped_env() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

int square(int x) {
  return x * x;
}
int slow_square(int x) {
  std::this_thread::sleep_for(50ms);
  return x * x;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

class progress_test : public ::testing::Test {
 protected:
  // Every test starts from the default resolution.
  scoped_env switch_{"RANKPOOL_PROGRESS", nullptr};
  scoped_env interval_{"RANKPOOL_PROGRESS_INTERVAL", nullptr};
};

TEST_F(progress_test, ForcedPlainModeWritesAFinalLineWithTheRunsCounts) {
  rankpool::thread_executor pool(2);
  std::vector<int> xs(200);
  for (int i = 0; i < 200; ++i) xs[i] = i;
  std::string out;
  {
    captured_stderr cap;
    long sum = 0;
    {
      auto r = pool.map(square, xs, {.chunksize = 7, .progress = true});
      for (int v : r) sum += v;
    }
    out = cap.text();
    EXPECT_EQ(sum, 2646700);
  }
  // A quick map: only the final line (forced mode), plain, no escape codes.
  EXPECT_EQ(out.find('\r'), std::string::npos) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
  ASSERT_EQ(lines_of(out).size(), 1u) << out;
  EXPECT_TRUE(std::regex_match(lines_of(out)[0], std::regex(R"(rankpool: map 200/200 \(100%\) \S+/s elapsed \S+s)")))
      << out;
  EXPECT_EQ(out.back(), '\n');
}

TEST_F(progress_test, PlainLinesEveryIntervalThenTheFinalOne) {
  scoped_env on("RANKPOOL_PROGRESS", "1");
  scoped_env every("RANKPOOL_PROGRESS_INTERVAL", "0.2");
  rankpool::thread_executor pool(2);
  std::vector<int> xs(40, 3);  // 40 x 50 ms on 2 threads: about 1 s
  std::string out;
  {
    captured_stderr cap;
    auto r = pool.map(slow_square, xs).to_vector();
    EXPECT_EQ(r.size(), 40u);
    // The final line comes from the drawing thread when the last chunk completes, or when the
    // range is destroyed: the range is gone here (to_vector consumed a temporary).
    out = cap.text();
  }
  const auto lines = lines_of(out);
  ASSERT_GE(lines.size(), 3u) << out;  // at 0.5 s, 0.7 s, ... and the final line
  std::size_t last_done = 0;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(
        lines[i], m, std::regex(R"(rankpool: map (\d+)/40 \(\d+%\) \S+/s elapsed \S+s( ETA \S+s)? busy [0-2]/2)")))
        << lines[i];
    const std::size_t done = std::stoul(m[1]);
    EXPECT_GE(done, last_done);
    EXPECT_LE(done, 40u);  // a line may catch the last count just before the end is noticed
    last_done = done;
  }
  EXPECT_TRUE(std::regex_match(lines.back(), std::regex(R"(rankpool: map 40/40 \(100%\) \S+/s elapsed \S+s)")))
      << lines.back();
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
}

TEST_F(progress_test, BarValueDrawsInPlaceEvenWithoutATerminal) {
  // What a rank under mpirun sees: stderr is a pipe, but the launcher shows it on a terminal.
  scoped_env bar("RANKPOOL_PROGRESS", "bar");
  rankpool::thread_executor pool(2);
  std::vector<int> xs(24, 3);  // 24 x 50 ms on 2 threads: about 0.6 s, past the first draw
  std::string out;
  {
    captured_stderr cap;
    auto r = pool.map(slow_square, xs).to_vector();
    EXPECT_EQ(r.size(), 24u);
    out = cap.text();
  }
  EXPECT_NE(out.find('\r'), std::string::npos) << out;
  EXPECT_NE(out.find("\x1b[K"), std::string::npos) << out;
  EXPECT_NE(out.find("24/24"), std::string::npos) << out;
  EXPECT_EQ(out.find("rankpool: map"), std::string::npos) << out;  // not the plain lines
}

TEST_F(progress_test, SilentByDefaultWhenStderrIsNotATerminal) {
  rankpool::thread_executor pool(2);
  std::string out;
  {
    captured_stderr cap;  // a file: not a terminal
    std::vector<int> quick(1000, 2);
    for (int v : pool.map(square, quick, {.chunksize = 10})) EXPECT_EQ(v, 4);
    std::vector<int> slow(16, 2);  // 0.4 s: long enough to draw, if it were on
    for (int v : pool.map(slow_square, slow)) EXPECT_EQ(v, 4);
    for (const auto& f : rankpool::as_completed(std::vector{pool.submit(slow_square, 1)})) EXPECT_EQ(f.result(), 1);
    out = cap.text();
  }
  EXPECT_EQ(out, "");
}

TEST_F(progress_test, SwitchesResolveOptionThenEnvironmentThenTerminal) {
  {
    scoped_env off("RANKPOOL_PROGRESS", "off");
    EXPECT_FALSE(progress::enabled(std::nullopt));
    EXPECT_TRUE(progress::enabled(true));  // the option wins
  }
  for (const char* v : {"1", "true", "YES", " on "}) {
    scoped_env on("RANKPOOL_PROGRESS", v);
    EXPECT_EQ(progress::env_switch(), std::optional<bool>(true)) << v;
    EXPECT_TRUE(progress::enabled(std::nullopt)) << v;
    EXPECT_FALSE(progress::enabled(false)) << v;
  }
  for (const char* v : {"0", "false", "No", "OFF"}) {
    scoped_env off("RANKPOOL_PROGRESS", v);
    EXPECT_EQ(progress::env_switch(), std::optional<bool>(false)) << v;
  }
  {
    scoped_env empty("RANKPOOL_PROGRESS", "");
    EXPECT_EQ(progress::env_switch(), std::nullopt);
  }
  EXPECT_EQ(progress::env_switch(), std::nullopt);
  EXPECT_EQ(progress::enabled(std::nullopt), ::isatty(2) == 1);

  rankpool::thread_executor pool(1);
  std::string out;
  {
    scoped_env off("RANKPOOL_PROGRESS", "0");
    captured_stderr cap;
    for (int v : pool.map(square, std::vector<int>{1, 2, 3}, {.progress = true})) (void)v;
    for (int v : pool.map(square, std::vector<int>{1, 2, 3})) (void)v;
    out = cap.text();
  }
  EXPECT_EQ(lines_of(out).size(), 1u) << out;  // only the map whose option forced it on
  EXPECT_NE(out.find("rankpool: map 3/3 (100%)"), std::string::npos) << out;
}

TEST_F(progress_test, BadEnvironmentValuesAreIgnoredWithAWarningOnce) {
  rankpool::thread_executor pool(1);
  std::string out;
  {
    scoped_env bad("RANKPOOL_PROGRESS", "maybe");
    captured_stderr cap;
    for (int v : pool.map(square, std::vector<int>{1, 2})) (void)v;
    for (int v : pool.map(square, std::vector<int>{1, 2})) (void)v;
    out = cap.text();
  }
  // Warned once, and then the default resolution (stderr is a file: off).
  EXPECT_EQ(out, "rankpool: ignoring RANKPOOL_PROGRESS='maybe' (expected 1/true/yes/on, 0/false/no/off, or bar)\n");

  {
    scoped_env on("RANKPOOL_PROGRESS", "1");
    scoped_env bad("RANKPOOL_PROGRESS_INTERVAL", "soon");
    captured_stderr cap;
    EXPECT_EQ(progress::env_interval(), std::chrono::duration<double>(10.0));
    out = cap.text();
  }
  EXPECT_NE(out.find("rankpool: ignoring RANKPOOL_PROGRESS_INTERVAL='soon' (expected a positive number of seconds)"),
            std::string::npos)
      << out;
  {
    scoped_env every("RANKPOOL_PROGRESS_INTERVAL", "0.25");
    EXPECT_EQ(progress::env_interval(), std::chrono::duration<double>(0.25));
  }
  {
    captured_stderr cap;
    scoped_env neg("RANKPOOL_PROGRESS_INTERVAL", "-1");
    EXPECT_EQ(progress::env_interval(), std::chrono::duration<double>(10.0));
    EXPECT_NE(cap.text().find("RANKPOOL_PROGRESS_INTERVAL='-1'"), std::string::npos);
  }
}

TEST_F(progress_test, UnknownTotalIsALowerBoundUntilTheInputEnds) {
  scoped_env on("RANKPOOL_PROGRESS", "1");
  scoped_env every("RANKPOOL_PROGRESS_INTERVAL", "0.2");
  rankpool::thread_executor pool(2);
  // An unsized input that yields an element every 40 ms: the total grows while the map runs.
  auto slow_input = std::views::iota(0, 25) | std::views::filter([](int) {
                      std::this_thread::sleep_for(40ms);
                      return true;
                    });
  static_assert(!std::ranges::sized_range<decltype(slow_input)>);
  std::string out;
  {
    captured_stderr cap;
    long sum = 0;
    for (int v : pool.map(square, slow_input, {.chunksize = 2})) sum += v;
    EXPECT_EQ(sum, 4900);
    out = cap.text();
  }
  const auto lines = lines_of(out);
  ASSERT_GE(lines.size(), 2u) << out;
  // Drawn while the input was still being read: "done/submitted+", no percentage, no ETA.
  EXPECT_TRUE(std::regex_match(lines[0], std::regex(R"(rankpool: map \d+/\d+\+ \S+/s elapsed \S+s busy \d/2)")))
      << lines[0];
  EXPECT_TRUE(std::regex_match(lines.back(), std::regex(R"(rankpool: map 25/25 \(100%\) \S+/s elapsed \S+s)")))
      << lines.back();

  progress::snapshot s{.label = "map", .done = 5, .total = 64, .total_known = false, .elapsed_s = 2, .rate = 2.5};
  EXPECT_EQ(progress::render(s, progress::mode::plain), "rankpool: map 5/64+ 2.50/s elapsed 2.0s");
  EXPECT_EQ(progress::render(s, progress::mode::terminal, 80), "map  5/64+  2.50/s  elapsed 0:02");
}

TEST_F(progress_test, LineFormatFitsTheTerminalWidth) {
  progress::snapshot s{.label = "map",
                       .done = 4521,
                       .total = 10000,
                       .total_known = true,
                       .elapsed_s = 3.7,
                       .rate = 1234,
                       .has_workers = true,
                       .busy = 7,
                       .workers = 7};
  EXPECT_EQ(progress::render(s, progress::mode::terminal, 120),
            "map  [#############.................]  4521/10000  45%  1.2k/s  elapsed 0:03  ETA 0:04  busy 7/7");
  EXPECT_EQ(progress::render(s, progress::mode::plain),
            "rankpool: map 4521/10000 (45%) 1.2k/s elapsed 3.7s ETA 4.4s busy 7/7");
  for (std::size_t w : {100u, 80u, 60u, 40u, 20u, 1u}) {
    const auto line = progress::render(s, progress::mode::terminal, w);
    EXPECT_LE(line.size(), std::max<std::size_t>(w - 1, 1)) << w << ": " << line;
  }
  EXPECT_EQ(progress::render(s, progress::mode::terminal, 70).find('['), std::string::npos);  // no room for a bar
  s.final = true;
  s.rate = 1300;
  s.done = s.total;
  s.elapsed_s = 3725;
  EXPECT_EQ(progress::render(s, progress::mode::plain), "rankpool: map 10000/10000 (100%) 1.3k/s elapsed 1h02m05s");
  EXPECT_EQ(progress::render(s, progress::mode::terminal, 80),
            "map  [############################]  10000/10000  100%  1.3k/s  elapsed 1:02:05");  // 79 columns
  s.rate = 3.4e6;
  EXPECT_NE(progress::render(s, progress::mode::plain).find(" 3.4M/s "), std::string::npos);
}

TEST_F(progress_test, AsCompletedCountsFuturesAsTheyFinish) {
  rankpool::thread_executor pool(2);
  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 6; ++i) fs.push_back(pool.submit(slow_square, i));
  fs.push_back(rankpool::make_ready_future<int>(49));  // done before as_completed: counted at once
  std::string out;
  {
    captured_stderr cap;
    {
      auto range = rankpool::as_completed(fs, {}, true);
      // Finished while nobody iterates: the display still reaches the end by itself.
      for (auto& f : fs) f.wait();
      std::this_thread::sleep_for(50ms);
      int n = 0;
      for (const auto& f : range) n += f.done();
      EXPECT_EQ(n, 7);
    }
    out = cap.text();
  }
  EXPECT_TRUE(std::regex_match(out, std::regex(R"(rankpool: as_completed 7/7 \(100%\) \S+/s elapsed \S+s\n)"))) << out;

  // Forced off beats RANKPOOL_PROGRESS=1; a plain as_completed under RANKPOOL_PROGRESS=1 draws.
  {
    scoped_env on("RANKPOOL_PROGRESS", "1");
    captured_stderr cap;
    for (const auto& f : rankpool::as_completed(fs, {}, false)) (void)f;
    for (const auto& f : rankpool::as_completed(fs)) (void)f;
    out = cap.text();
  }
  EXPECT_EQ(lines_of(out).size(), 1u) << out;
  EXPECT_NE(out.find("rankpool: as_completed 7/7"), std::string::npos) << out;
}

TEST_F(progress_test, UnorderedMapDrawsOneDisplay) {
  rankpool::thread_executor pool(2);
  std::vector<int> xs(50, 1);
  std::string out;
  {
    captured_stderr cap;
    for (int v : pool.map(square, xs, {.chunksize = 3, .unordered = true, .progress = true})) EXPECT_EQ(v, 1);
    out = cap.text();
  }
  EXPECT_EQ(lines_of(out).size(), 1u) << out;  // not a second one from the internal as_completed
  EXPECT_NE(out.find("rankpool: map 50/50 (100%)"), std::string::npos) << out;
}

TEST_F(progress_test, EarlyBreakEndsTheLineAndLateCompletionsAreSafe) {
  std::string out;
  {
    rankpool::thread_executor pool(2);
    std::vector<int> xs(20, 2);
    captured_stderr cap;
    {
      auto r = pool.map(slow_square, xs, {.progress = true});
      for (int v : r) {
        EXPECT_EQ(v, 4);
        break;
      }
    }  // unstarted chunks cancelled; running ones complete later and call back into the display
    pool.shutdown(true);
    out = cap.text();
  }
  const auto lines = lines_of(out);
  ASSERT_EQ(lines.size(), 1u) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_match(lines[0], m, std::regex(R"(rankpool: map (\d+)/20 \(\d+%\) .*)"))) << out;
  EXPECT_LT(std::stoul(m[1]), 20u);
}

TEST_F(progress_test, RangeMayOutliveItsExecutor) {
  std::optional<rankpool::map_range<int>> r;
  std::string out;
  {
    captured_stderr cap;
    {
      rankpool::thread_executor pool(2);
      std::vector<int> xs(12, 3);
      r.emplace(pool.map(slow_square, xs, {.progress = true}));
    }  // shutdown(wait): every chunk completed before the executor went
    EXPECT_EQ(r->to_vector(), std::vector<int>(12, 9));
    r.reset();
    out = cap.text();
  }
  EXPECT_NE(out.find("rankpool: map 12/12 (100%)"), std::string::npos) << out;
}

TEST_F(progress_test, EmptyInputForcedOn) {
  rankpool::thread_executor pool(1);
  std::string out;
  {
    captured_stderr cap;
    for (int v : pool.map(square, std::vector<int>{}, {.progress = true})) (void)v;
    out = cap.text();
  }
  EXPECT_TRUE(std::regex_match(out, std::regex(R"(rankpool: map 0/0 \(100%\) \S+/s elapsed \S+s\n)"))) << out;
}

// ---- demo programs, run by progress_tty.py (under a pseudo-terminal) and the MPI test ----------

int demo_task(int x) {
  std::this_thread::sleep_for(100ms);
  return x + 1;
}
int demo_mpi_task(int x) {
  std::this_thread::sleep_for(30ms);
  return x + 1;
}

int demo(const std::string& what, int argc, char** argv) {
  if (what == "slow" || what == "fast") {
    // Default resolution: a terminal shows the bar. slow: 30 x 100 ms on 2 threads, ~1.5 s.
    rankpool::thread_executor pool(2);
    std::vector<int> xs(30);
    for (int i = 0; i < 30; ++i) xs[i] = i;
    long sum = 0;
    if (what == "slow") {
      for (int v : pool.map(demo_task, xs)) sum += v;
    } else {
      for (int v : pool.map([](int x) { return x + 1; }, xs)) sum += v;
    }
    std::printf("demo done: sum=%ld\n", sum);
    return sum == 465 ? 0 : 1;
  }
  if (what == "mpi") {
    rankpool::environment env(argc, argv);
    rankpool::comm_executor pool;
    if (!pool.is_root()) return 0;
    std::vector<int> xs(40);
    for (int i = 0; i < 40; ++i) xs[i] = i;
    long sum = 0;
    for (int v : pool.map(demo_mpi_task, xs, {.chunksize = 1, .progress = true})) sum += v;
    std::printf("demo done: sum=%ld workers=%zu\n", sum, pool.num_workers());
    return sum == 820 ? 0 : 1;
  }
  std::fprintf(stderr, "unknown demo '%s'\n", what.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "--demo") return demo(argv[2], argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
