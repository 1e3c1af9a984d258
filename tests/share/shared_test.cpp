// Shared values (executor.share, rankpool::partial): placed once per node and read by tasks on
// every worker, for contiguous values (vectors, trivially copyable types, Eigen matrices) and
// for any other sendable type; released when the last handle is gone (the workers' count of
// values drops to zero, the root's memory returns); the root sends one copy per other node.
// Run at 1, 2, 4 and 5 ranks and over the namespace hosts of cluster/ (3 nodes); with a
// thread_executor the value is not copied at all.

#include <gtest/gtest.h>
#include <mpi.h>
#include <unistd.h>

#include <Eigen/Dense>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <numeric>
#include <rankpool/eigen.hpp>
#include <rankpool/rankpool.hpp>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "support/world.hpp"

namespace {

using namespace std::chrono_literals;
using rankpool_test::world_size;
using vec = std::vector<double>;

// Sum of elements [i, i + n) of a shared vector, read in place.
double slice_sum(const rankpool::shared<vec>& h, std::size_t i, std::size_t n) {
  auto all = h.view();
  if (i + n > all.size()) throw std::out_of_range("slice past the end");
  return std::accumulate(all.begin() + static_cast<std::ptrdiff_t>(i), all.begin() + static_cast<std::ptrdiff_t>(i + n),
                         0.0);
}

// The same through *h (a vector built from the window once per rank).
double whole_sum(const rankpool::shared<vec>& h) {
  return std::accumulate(h->begin(), h->end(), 0.0);
}

// Element i of the shared vector: map over indices with partial.
double element(const rankpool::shared<vec>& h, std::size_t i) {
  return h.view()[i];
}

struct params {
  double scale;
  int offset;
  std::int64_t table[16];
};

double apply_params(const rankpool::shared<params>& p, int x) {
  return p->scale * x + p->offset + static_cast<double>(p->table[x % 16]);
}

double column_norm(const rankpool::shared<Eigen::MatrixXd>& m, Eigen::Index c) {
  return m.view().col(c).norm();
}

double trace_of(const rankpool::shared<Eigen::MatrixXd>& m) {
  return m->trace();
}

int lookup(const rankpool::shared<std::map<std::string, int>>& m, std::string key) {
  return m->at(key);
}

std::size_t held_here(int) {
  return rankpool::detail::shared_values_held();
}

int nap(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

int add3(int a, int b, int c) {
  return a * 100 + b * 10 + c;
}

vec ramp(std::size_t n) {
  vec v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i % 1000) * 0.5;
  return v;
}

// ThreadSanitizer's shadow memory grows with every page the test touches, so resident memory
// says nothing about the value's copies there (AddressSanitizer's is an eighth and still fits).
#if defined(__SANITIZE_THREAD__)
constexpr bool rss_is_meaningful = false;
#else
constexpr bool rss_is_meaningful = true;
#endif

// AddressSanitizer keeps one shadow byte for every 8 bytes of memory its checked accesses touch,
// and a value's window becomes resident with its shadow: 302 MB for a 268 MB value measured on
// a Linux 6.18 machine (a second copy would be 537 MB).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool asan_shadow = true;
#else
constexpr bool asan_shadow = false;
#endif

// Resident memory of this process, from /proc/self/statm (pages).
std::size_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Polls every worker (a task each, twice over) until none holds a shared value, or gives up.
template <class Pool>
bool workers_hold_nothing(Pool& pool, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    std::size_t held = 0;
    std::vector<int> probe(2 * pool.num_workers(), 0);
    for (std::size_t n : pool.map(held_here, probe, {.chunksize = 1})) held += n;
    if (held == 0) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

TEST(partial, binds_the_first_arguments_locally_and_on_workers) {
  auto p = rankpool::partial(add3, 1, 2);
  EXPECT_EQ(p(3), 123);
  rankpool::thread_executor local(2);
  EXPECT_EQ(local.submit(rankpool::partial(add3, 4), 5, 6).result(), 456);
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  EXPECT_EQ(pool.submit(rankpool::partial(add3, 7, 8), 9).result(), 789);
  auto lambda = rankpool::partial([](int a, int b) { return a - b; }, 10);
  std::vector<int> xs{1, 2, 3};
  EXPECT_EQ(pool.map(lambda, xs).to_vector(), (std::vector<int>{9, 8, 7}));
}

TEST(shared, a_vector_is_read_in_place_by_every_task) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  const vec v = ramp(100'000);
  const double expect = std::accumulate(v.begin(), v.end(), 0.0);
  auto h = pool.share(v);
  EXPECT_EQ(h.view().size(), v.size());
  std::vector<rankpool::future<double>> parts;
  for (std::size_t i = 0; i < v.size(); i += 10'000) parts.push_back(pool.submit(slice_sum, h, i, 10'000));
  double sum = 0;
  for (auto& f : parts) sum += f.result();
  EXPECT_DOUBLE_EQ(sum, expect);
  EXPECT_DOUBLE_EQ(pool.submit(whole_sum, h).result(), expect);
  EXPECT_DOUBLE_EQ(whole_sum(h), expect);  // on the root too
  std::vector<std::size_t> idx{0, 1, 999, 1000, 99'999};
  auto got = pool.map(rankpool::partial(element, h), idx).to_vector();
  for (std::size_t k = 0; k < idx.size(); ++k) EXPECT_EQ(got[k], v[idx[k]]);
  EXPECT_THROW(pool.submit(slice_sum, h, v.size() - 5, 10).result(), std::out_of_range);
}

// The nodes of MPI_COMM_WORLD (ranks that share memory), counted on every rank (collective).
int node_count() {
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int node_rank = 0, leaders = 0;
  MPI_Comm_rank(node, &node_rank);
  const int leader = node_rank == 0 ? 1 : 0;
  MPI_Allreduce(&leader, &leaders, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Comm_free(&node);
  return leaders;
}

TEST(shared, the_root_sends_one_copy_per_other_node) {
  const int nodes = node_count();
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  if (world_size() < 2) GTEST_SKIP() << "needs a worker rank";
  const auto before = rankpool::detail::share_bytes_sent();
  const vec v = ramp(1 << 20);  // 8 MiB
  auto h = pool.share(v);
  // One copy per node other than the root's (none on one machine), never one per worker.
  EXPECT_EQ(rankpool::detail::share_bytes_sent() - before,
            static_cast<std::uint64_t>(nodes - 1) * v.size() * sizeof(double))
      << nodes << " nodes";
  std::vector<rankpool::future<double>> sums;
  for (std::size_t i = 0; i < 4 * pool.num_workers(); ++i) sums.push_back(pool.submit(slice_sum, h, i * 1000, 1000));
  for (std::size_t i = 0; i < sums.size(); ++i)
    EXPECT_DOUBLE_EQ(sums[i].result(), std::accumulate(v.begin() + static_cast<std::ptrdiff_t>(i * 1000),
                                                       v.begin() + static_cast<std::ptrdiff_t>(i * 1000 + 1000), 0.0));
}

TEST(shared, trivially_copyable_eigen_and_other_values) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  params p{2.5, 3, {}};
  for (int i = 0; i < 16; ++i) p.table[i] = i * i;
  auto hp = pool.share(p);
  EXPECT_DOUBLE_EQ(pool.submit(apply_params, hp, 7).result(), 2.5 * 7 + 3 + 49);

  Eigen::MatrixXd m = Eigen::MatrixXd::Random(50, 7);
  auto hm = pool.share(m);
  auto norms = pool.map(rankpool::partial(column_norm, hm), std::vector<Eigen::Index>{0, 3, 6}).to_vector();
  EXPECT_DOUBLE_EQ(norms[0], m.col(0).norm());
  EXPECT_DOUBLE_EQ(norms[1], m.col(3).norm());
  EXPECT_DOUBLE_EQ(norms[2], m.col(6).norm());
  EXPECT_DOUBLE_EQ(pool.submit(trace_of, hm).result(), m.trace());
  EXPECT_EQ(hm.view().rows(), 50);

  std::map<std::string, int> dict{{"one", 1}, {"two", 2}, {"three", 3}};
  auto hd = pool.share(dict);
  EXPECT_EQ(pool.submit(lookup, hd, std::string("three")).result(), 3);
  EXPECT_EQ(lookup(hd, "two"), 2);
  EXPECT_THROW(pool.submit(lookup, hd, std::string("four")).result(), std::out_of_range);
}

TEST(shared, released_when_the_last_handle_and_task_are_gone) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  if (world_size() < 2) GTEST_SKIP() << "needs a worker rank (a local pool keeps the value itself)";
  ASSERT_TRUE(workers_hold_nothing(pool, 5s)) << "values of earlier tests are still held";
  constexpr std::size_t n = 32u << 20;  // 256 MiB of doubles
  const std::size_t before = resident_bytes();
  {
    auto h = pool.share_array<double>(n, [](std::span<double> s) {
      for (std::size_t i = 0; i < s.size(); ++i) s[i] = 1.0;
    });
    const std::size_t placed = resident_bytes();
    // The root holds the value once: in its node's window, never as a second copy.
    if (rss_is_meaningful) {
      const std::size_t bytes = n * sizeof(double);
      EXPECT_LT(placed - before, bytes * 11 / 10 + (asan_shadow ? bytes / 8 : 0));
    } else {
      std::printf("(resident memory not checked under ThreadSanitizer)\n");
    }
    auto f = pool.submit(slice_sum, h, n - 1000, 1000);
    EXPECT_DOUBLE_EQ(f.result(), 1000.0);
    // A task still holding a copy of the handle keeps the value: it is not released here.
    auto g = pool.submit(slice_sum, h, 0, 10);
    h = {};
    EXPECT_DOUBLE_EQ(g.result(), 10.0);
  }
  EXPECT_TRUE(workers_hold_nothing(pool, 10s)) << "the workers still hold the value after its last handle went";
  if (!rss_is_meaningful) return;
  const auto end = std::chrono::steady_clock::now() + 10s;
  while (resident_bytes() > before + (64u << 20) && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(20ms);
  EXPECT_LT(resident_bytes(), before + (64u << 20)) << "the root's node window was not freed";
}

TEST(shared, many_values_come_and_go_while_tasks_run) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  std::vector<rankpool::future<double>> fs;
  std::vector<double> expect;
  for (int round = 0; round < 30; ++round) {
    auto h = pool.share(ramp(1000 + static_cast<std::size_t>(round)));
    fs.push_back(pool.submit(whole_sum, h));
    expect.push_back(whole_sum(h));
  }
  for (std::size_t i = 0; i < fs.size(); ++i) EXPECT_DOUBLE_EQ(fs[i].result(), expect[i]);
  if (world_size() > 1) {
    EXPECT_TRUE(workers_hold_nothing(pool, 10s));
  }
}

TEST(shared, after_shutdown_sharing_and_reading_throw) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  auto h = pool.share(ramp(100));
  EXPECT_DOUBLE_EQ(pool.submit(whole_sum, h).result(), whole_sum(h));
  pool.shutdown();
  EXPECT_THROW(pool.share(ramp(10)), rankpool::invalid_state_error);
  if (world_size() > 1) {
    EXPECT_THROW(h.view(), rankpool::invalid_state_error);
  }
}

TEST(shared, a_done_callback_cannot_share) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  if (world_size() < 2) GTEST_SKIP() << "a local pool runs callbacks where sharing cannot block anything";
  std::atomic<int> outcome{0};  // 1: refused with invalid_state_error, 2: placed
  auto g = pool.submit(nap, 300);
  ASSERT_FALSE(g.done());  // so the callback runs when the result arrives, on the progress thread
  g.add_done_callback([&](const rankpool::future<int>&) {
    try {
      auto h = pool.share(ramp(10));
      outcome = 2;
    } catch (const rankpool::invalid_state_error&) {
      outcome = 1;
    }
  });
  g.result();
  const auto end = std::chrono::steady_clock::now() + 5s;
  while (outcome == 0 && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(outcome.load(), 1) << "share() in a done callback on the progress thread must be refused";
  auto h = pool.share(ramp(10));  // the pool still works
  EXPECT_DOUBLE_EQ(pool.submit(whole_sum, h).result(), whole_sum(h));
}

TEST(shared, works_with_idle_ranks_root_computing_teams_and_isolation) {
  const std::vector<rankpool::executor_options> setups{
      {.max_workers = 1}, {.root_computes = true}, {.threads_per_worker = 2}, {.isolate = true}};
  for (const auto& o : setups) {
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, o);
    if (!pool.is_root()) continue;
    const vec v = ramp(20'000);
    auto h = pool.share(v);
    std::vector<std::size_t> idx(200);
    std::iota(idx.begin(), idx.end(), 0);
    for (bool contiguous : {false, true}) {  // map_options::contiguous: same results
      auto got = pool.map(rankpool::partial(element, h), idx, {.chunksize = 3, .contiguous = contiguous}).to_vector();
      for (std::size_t k = 0; k < idx.size(); ++k) ASSERT_EQ(got[k], v[idx[k]]) << contiguous;
    }
    auto h2 = pool.share(ramp(10));  // a second value after tasks ran (an isolated child re-forks)
    EXPECT_DOUBLE_EQ(pool.submit(whole_sum, h2).result(), whole_sum(h2));
  }
}

// The rank a map element ran on and the element it read; the first `slow` elements take 300 ms.
std::pair<int, double> read_where(const rankpool::shared<vec>& h, std::size_t slow, std::size_t i) {
  if (i < slow) std::this_thread::sleep_for(300ms);
  return {rankpool_test::world_rank(), h.view()[i]};
}

// map_options::contiguous: each worker starts on its own stretch of the input (the first element
// of stretch i runs on worker i, before anything is taken back), and a worker with nothing left
// takes the last chunks of a slow stretch. (Its results with idle ranks, the root computing and
// threads inside the workers: the test above.)
TEST(shared, a_contiguous_map_gives_each_worker_its_stretch_and_lets_idle_ones_help) {
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  const std::size_t ranks = static_cast<std::size_t>(world_size()) - 1;
  if (ranks < 2) GTEST_SKIP() << "stretches need 2 worker ranks or more";
  const vec v = ramp(1000);
  auto h = pool.share(v);
  // Four elements per stretch (chunks of 1), the first stretch slow: its worker starts two (its
  // window before any task has finished), the others run their own and then take its last ones.
  std::vector<std::size_t> idx(4 * ranks);
  std::iota(idx.begin(), idx.end(), 0);
  auto got = pool.map(rankpool::partial(read_where, h, std::size_t{4}), idx, {.contiguous = true}).to_vector();
  ASSERT_EQ(got.size(), idx.size());
  // Worker i of the n is rank i + 1 here (the rank order, root 0): stretch i's first element
  // starts there. Dealt out in order instead, element 4 would go to the third worker.
  for (std::size_t j = 0; j < ranks; ++j)
    EXPECT_EQ(got[4 * j].first, static_cast<int>(j) + 1) << "stretch " << j << " must start on its own worker";
  EXPECT_NE(got[3].first, got[0].first) << "an idle worker must take the slow stretch's last element";
  for (std::size_t i = 0; i < idx.size(); ++i) EXPECT_EQ(got[i].second, v[i]);
}

// Which pages of [first, first + bytes) this process has mapped: /proc/self/pagemap's present
// bit (bit 63) per page, readable without privileges. Reads no page itself.
std::vector<bool> pages_present(const void* first, std::size_t bytes) {
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(first) / page;
  const auto end = (reinterpret_cast<std::uintptr_t>(first) + bytes + page - 1) / page;
  std::vector<std::uint64_t> entries(end - begin);
  std::ifstream map("/proc/self/pagemap", std::ios::binary);
  map.seekg(static_cast<std::streamoff>(begin * sizeof(std::uint64_t)));
  map.read(reinterpret_cast<char*>(entries.data()),
           static_cast<std::streamsize>(entries.size() * sizeof(std::uint64_t)));
  if (!map) throw std::runtime_error("cannot read /proc/self/pagemap");
  std::vector<bool> present(entries.size());
  for (std::size_t p = 0; p < entries.size(); ++p) present[p] = (entries[p] >> 63) != 0;
  return present;
}

// What share of stretch `i` of `n` of a shared vector this worker has mapped (its own, waited for
// up to 20 s while its page toucher maps it, and with `whole` the rest too), and what share of the
// rest: (rank, own, rest). The task reads none of the value's pages itself.
std::tuple<int, double, double> stretch_mapped(const rankpool::shared<vec>& h, std::size_t n, bool whole,
                                               std::size_t i) {
  const auto all = h.view();
  const std::size_t pages = pages_present(all.data(), all.size_bytes()).size();
  // Pages wholly inside the stretch (its ends may share a page with the neighbours').
  const std::size_t from = (pages * i + n - 1) / n, to = pages * (i + 1) / n;
  double own = 0, rest = 0;
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  do {
    const std::vector<bool> present = pages_present(all.data(), all.size_bytes());
    std::size_t in = 0, out = 0;
    for (std::size_t p = 0; p < pages; ++p) (p >= from && p < to ? in : out) += present[p] ? 1 : 0;
    own = static_cast<double>(in) / static_cast<double>(to - from);
    const std::size_t others = pages - (to - from);
    rest = others > 0 ? static_cast<double>(out) / static_cast<double>(others) : 1.0;  // one stretch: no rest
    if (own == 1.0 && (!whole || rest == 1.0)) break;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < give_up);
  return {rankpool_test::world_rank(), own, rest};
}

// share_open tells each worker its slot i of n, and its page toucher maps stretch i of the
// value first: one task per stretch (a contiguous map, so stretch i's task runs on worker i, rank
// i + 1) finds its stretch mapped in its own process. Where the node's workers outnumber its
// CPUs the toucher maps nothing more, and where they fit them (all masks together: under
// `--bind-to core` each worker's own mask has one CPU, shared_test.bound_stretches) it maps the
// rest as well (checked on one node only: each node decides for itself).
TEST(shared, each_worker_maps_its_own_stretch_of_a_value) {
  const std::size_t cpus = rankpool_test::cpus_of_one_node();  // 0: several nodes
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  if (world_size() < 2) GTEST_SKIP() << "page touchers run on worker ranks";
  if (const char* e = std::getenv("RANKPOOL_PREFAULT"); e && std::string(e) == "0")
    GTEST_SKIP() << "RANKPOOL_PREFAULT=0: no page toucher";
  const std::size_t n = pool.num_workers();
  auto h = pool.share(vec(std::size_t{1} << 19, 1.0));  // 4 MiB: 1024 pages
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  const bool stretch_only = cpus > 0 && n > cpus, whole = cpus > 0 && n <= cpus;
  auto got =
      pool.map(rankpool::partial(stretch_mapped, h, n, whole), idx, {.chunksize = 1, .contiguous = true}).to_vector();
  for (std::size_t i = 0; i < n; ++i) {
    const auto [rank, own, rest] = got[i];
    EXPECT_EQ(rank, static_cast<int>(i) + 1) << "stretch " << i << " runs on its own worker";
    EXPECT_EQ(own, 1.0) << "worker " << i << " has not mapped its own stretch after 20 s";
    if (stretch_only) {
      EXPECT_LT(rest, 0.05) << "worker " << i << " mapped more than its stretch on a node with more workers than CPUs";
    }
    if (whole) {
      EXPECT_EQ(rest, 1.0) << "worker " << i << " has not mapped the rest after 20 s, its workers fitting the node's "
                           << cpus << " CPUs";
    }
  }
}

// executor_options::fit_cores leaves ranks beyond a node's CPUs idle: they still take part in
// placing and freeing each value on their node, and only the working ranks read it. (Which ranks
// work: mpi_executor_test.)
TEST(shared, a_pool_that_fits_its_cores_shares_values_with_idle_ranks_on_the_node) {
  rankpool::comm_executor pool(MPI_COMM_WORLD, 0, {.fit_cores = true});
  if (!pool.is_root()) return;
  for (std::size_t round = 0; round < 2; ++round) {  // a second value after the first is gone
    const vec v = ramp(2000 + round);
    auto h = pool.share(v);
    std::vector<std::size_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), 0);
    auto got = pool.map(rankpool::partial(read_where, h, std::size_t{0}), idx, {.chunksize = 50, .contiguous = true})
                   .to_vector();
    ASSERT_EQ(got.size(), v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
      EXPECT_EQ(got[i].second, v[i]) << i;
      if (world_size() > 1) {
        EXPECT_GE(got[i].first, 1) << "the root does not compute here";
        EXPECT_LE(got[i].first, static_cast<int>(pool.num_workers())) << "an idle rank ran element " << i;
      }
    }
  }
}

TEST(shared, a_thread_executor_keeps_the_value_itself) {
  rankpool::thread_executor pool(2);
  vec v = ramp(1000);
  const double* where = v.data();
  auto h = pool.share(std::move(v));
  EXPECT_EQ(h.view().data(), where);
  EXPECT_EQ(h->data(), where) << "*h must be the moved-in vector itself, not a copy";
  EXPECT_EQ(pool.submit([](const rankpool::shared<vec>& s) { return s.view().data(); }, h).result(), where);
  auto picked = pool.map(rankpool::partial(element, h), std::vector<std::size_t>{0, 501}).to_vector();
  EXPECT_EQ(picked, (std::vector<double>{0.0, 250.5}));
  EXPECT_EQ(pool.submit(whole_sum, h).result(), whole_sum(h));
  rankpool::shared<vec> empty;
  EXPECT_FALSE(empty);
  EXPECT_THROW(empty.get(), rankpool::invalid_state_error);
}

}  // namespace
