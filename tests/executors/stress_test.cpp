// Randomized shutdown and cancellation under stress (seeded; the seed is printed and can be
// replayed with RANKPOOL_STRESS_SEED). Several user threads interleave submit, map, cancel,
// wait, as_completed and shutdown(wait, cancel_futures) against one pool per round, then the
// pool is destroyed. Afterwards every future must be done or cancelled, with a consistent
// outcome, and nothing may hang (the ctest timeout catches a hang).

#include <gtest/gtest.h>
#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>
#include <rankpool/rankpool.hpp>
#include <thread>
#include <vector>

namespace {

int work(int us) {
  if (us > 0) std::this_thread::sleep_for(std::chrono::microseconds(us));
  return us + 1;
}

unsigned seed_for_run() {
  unsigned seed = static_cast<unsigned>(std::random_device{}());
  if (const char* s = std::getenv("RANKPOOL_STRESS_SEED")) seed = static_cast<unsigned>(std::strtoul(s, nullptr, 10));
  MPI_Bcast(&seed, 1, MPI_UNSIGNED, 0, MPI_COMM_WORLD);  // every rank agrees (only the root uses it)
  return seed;
}

int rounds() {
  const char* s = std::getenv("RANKPOOL_STRESS_ROUNDS");
  return s ? std::atoi(s) : 400;
}

// One round on the root: user threads hammer `pool`; returns the futures they made.
template <class Pool>
std::vector<rankpool::future<int>> hammer(Pool& pool, std::mt19937& rng_root, bool& shut) {
  std::mutex m;
  std::vector<rankpool::future<int>> all;
  std::atomic<bool> shutdown_done{false};
  const int threads = 3;
  std::vector<unsigned> seeds;
  for (int t = 0; t < threads; ++t) seeds.push_back(static_cast<unsigned>(rng_root()));
  const int shutdown_thread = static_cast<int>(rng_root() % threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(seeds[static_cast<std::size_t>(t)]);
      std::vector<rankpool::future<int>> mine;
      const int ops = 20 + static_cast<int>(rng() % 30);
      for (int op = 0; op < ops; ++op) {
        try {
          switch (rng() % 7) {
            case 0:
            case 1:
              mine.push_back(pool.submit(work, static_cast<int>(rng() % 3) * 300));
              break;
            case 2: {
              std::vector<int> xs(rng() % 20, 0);
              auto r = pool.map(work, xs, {.chunksize = 1 + rng() % 4});
              if (rng() % 2) {
                try {
                  for (int v : r) EXPECT_EQ(v, 1);
                } catch (const rankpool::cancelled_error&) {
                  // shutdown(cancel_futures = true) from another thread cancelled the rest
                  EXPECT_TRUE(shutdown_done.load()) << "a map element was cancelled without a shutdown";
                }
              }  // else: dropping the range cancels what has not started
              break;
            }
            case 3:
              if (!mine.empty()) mine[rng() % mine.size()].cancel();
              break;
            case 4:
              if (!mine.empty()) {
                auto how = static_cast<rankpool::return_when>(rng() % 3);
                rankpool::wait(mine, std::chrono::duration<double>(0.001 * static_cast<double>(rng() % 3)), how);
              }
              break;
            case 5:
              if (!mine.empty()) {
                try {
                  for (auto& f : rankpool::as_completed(mine, std::chrono::duration<double>(0.002))) (void)f;
                } catch (const rankpool::timeout_error&) {
                }
              }
              break;
            case 6:
              if (t == shutdown_thread && !shutdown_done.exchange(true)) pool.shutdown(rng() % 2, rng() % 2);
              break;
          }
        } catch (const rankpool::invalid_state_error&) {
          EXPECT_TRUE(shutdown_done.load()) << "invalid_state_error before any shutdown";
        }
      }
      std::lock_guard lk(m);
      all.insert(all.end(), mine.begin(), mine.end());
    });
  }
  for (auto& th : ts) th.join();
  shut = shutdown_done.load();
  return all;
}

void check_all_settled(const std::vector<rankpool::future<int>>& fs) {
  for (const auto& f : fs) {
    ASSERT_TRUE(f.done()) << "a future neither finished nor cancelled after the pool ended";
    if (f.cancelled()) {
      EXPECT_THROW(f.result(), rankpool::cancelled_error);
    } else {
      int v = f.result();  // no exception: work() never throws
      EXPECT_TRUE(v == 1 || v == 301 || v == 601) << v;
    }
  }
}

}  // namespace

TEST(stress, comm_executor_random_interleavings) {
  const unsigned seed = seed_for_run();
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) std::printf("stress seed %u (replay with RANKPOOL_STRESS_SEED=%u)\n", seed, seed);
  std::mt19937 rng(seed);
  const int n = rounds();
  std::size_t futures = 0;
  for (int round = 0; round < n; ++round) {
    std::vector<rankpool::future<int>> all;
    {
      rankpool::comm_executor pool;
      if (pool.is_root()) {
        bool shut = false;
        all = hammer(pool, rng, shut);
        if (rng() % 2) pool.shutdown(true, rng() % 2);
      }
    }  // destruction: shutdown(wait = true)
    check_all_settled(all);
    futures += all.size();
    if (HasFatalFailure()) return;
  }
  if (rank == 0) std::printf("stress: %d rounds, %zu futures settled\n", n, futures);
}

TEST(stress, thread_executor_random_interleavings) {
  const unsigned seed = seed_for_run();
  std::mt19937 rng(seed ^ 0x9e3779b9u);
  for (int round = 0; round < rounds(); ++round) {
    std::vector<rankpool::future<int>> all;
    {
      rankpool::thread_executor pool(1 + rng() % 3);
      bool shut = false;
      all = hammer(pool, rng, shut);
    }
    check_all_settled(all);
    if (HasFatalFailure()) return;
  }
}
