// A task argument and a result over 2 GiB (MPI's int count limit) travel intact: the transport
// splits them into parts. Needs about 12 GiB of free memory; skips itself visibly otherwise.

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdint>
#include <fstream>
#include <rankpool/rankpool.hpp>
#include <string>
#include <vector>

namespace {

std::uint64_t available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

// A checksum that sees every byte and its position.
std::uint64_t digest(const std::vector<unsigned char>& v) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < v.size(); i += 4093) h = (h ^ v[i]) * 1099511628211ull;
  return h ^ v.size() ^ v.back();
}
std::uint64_t digest_of(const std::vector<unsigned char>& v) {
  return digest(v);
}
std::vector<unsigned char> make_big(std::uint64_t n) {
  std::vector<unsigned char> v(n);
  for (std::uint64_t i = 0; i < n; i += 4093) v[i] = static_cast<unsigned char>(i * 7);
  v.back() = 0x5a;
  return v;
}

}  // namespace

TEST(large_payload, argument_and_result_over_2_GiB) {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::uint64_t n = (std::uint64_t{1} << 31) + 12345;
  std::uint64_t avail = available_bytes();
  MPI_Bcast(&avail, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  if (size < 2) GTEST_SKIP() << "needs 2 ranks (a one-rank pool sends nothing)";
  if (avail < 12 * (std::uint64_t{1} << 30))
    GTEST_SKIP() << "needs ~12 GiB of free memory, have " << (avail >> 20) << " MiB";
  rankpool::comm_executor pool;
  if (!pool.is_root()) return;
  {
    auto big = make_big(n);
    const auto expect = digest(big);
    EXPECT_EQ(pool.submit(digest_of, std::move(big)).result(), expect) << "argument over 2 GiB";
  }
  auto back = pool.submit(make_big, n).result();
  ASSERT_EQ(back.size(), n);
  EXPECT_EQ(digest(back), digest(make_big(n))) << "result over 2 GiB";
}
