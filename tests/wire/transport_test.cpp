// The transport's parts (src/wire/transport.hpp): where a rank has no core of its own, a message of
// 4 to 64 KiB leaves in parts short enough to go eagerly, so its receiver has it whole while the
// sender makes no MPI call (a worker in a task); longer messages, and every message of a rank with
// a core, keep the largest parts. A first part of another length that claims more parts is refused.

#include "wire/transport.hpp"

#include <gtest/gtest.h>
#include <mpi.h>

#include <chrono>
#include <cstring>
#include <rankpool/detail/buffer.hpp>
#include <rankpool/detail/spin.hpp>
#include <thread>
#include <vector>

#include "support/world.hpp"
#include "wire/framing.hpp"

namespace {

namespace transport = rankpool::detail::transport;
namespace wire = rankpool::detail::wire;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;
using rankpool_test::world_rank;
using rankpool_test::world_size;

// A well-formed message of `n` bytes: a header whose body is the rest, then bytes that depend on
// their position, so a part out of place or missing shows.
std::vector<char> message_of(std::size_t n) {
  std::vector<char> m(n);
  for (std::size_t i = sizeof(wire::header); i < n; ++i) m[i] = static_cast<char>(i * 131 + i / 4000);
  wire::put_header(m.data(), wire::kind::result_batch, 1, n - sizeof(wire::header));
  return m;
}

// Restores the process-wide spin switch after a test that sets it.
class transport_parts : public ::testing::Test {
 protected:
  void TearDown() override { rankpool::detail::set_spin_allowed(true); }
};

TEST_F(transport_parts, OnlyMessagesOfFourTo64KiBOfARankWithoutACoreGoInShortParts) {
  const std::size_t most = transport::max_part_bytes();
  rankpool::detail::set_spin_allowed(false);
  EXPECT_EQ(transport::part_bytes_for(100), most);
  EXPECT_EQ(transport::part_bytes_for(3968), most) << "a message that goes eagerly whole is not split";
  const std::size_t short_part = transport::part_bytes_for(6088);
  EXPECT_LE(short_part, 4096u - 64u) << "a part must stay under Open MPI's 4 KiB eager limit";
  EXPECT_GE(short_part, 3968u) << "no more parts than needed";
  EXPECT_EQ(transport::part_bytes_for(64 * 1024), short_part);
  EXPECT_EQ(transport::part_bytes_for(64 * 1024 + 1), most) << "long messages keep the largest parts";
  rankpool::detail::set_spin_allowed(true);
  EXPECT_EQ(transport::part_bytes_for(6088), most) << "a rank with a core of its own sends whole";
}

// The sender starts a 20 KB message and then makes no MPI call for 3 s, as a worker whose task
// runs: the receiver has all of it long before. Sent whole it would go by rendezvous (over Open
// MPI's 4 KiB shared-memory eager limit), and, without single-copy transfers (CMA), the receiver
// would wait for the sender's next MPI call.
TEST_F(transport_parts, AReceiverGetsAMessageWhileItsSenderMakesNoMpiCall) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  rankpool::detail::set_spin_allowed(false);
  const std::size_t n = 20'000;
  const auto quiet = 3s;
  if (world_rank() == 1) {
    const auto m = message_of(n);
    transport::outgoing out;
    out.start(m.data(), m.size(), 0, MPI_COMM_WORLD);
    std::this_thread::sleep_for(quiet);  // no MPI call meanwhile
    out.wait();
  } else if (world_rank() == 0) {
    const auto t0 = clock_type::now();
    transport::incoming got;
    while (!transport::try_receive(1, MPI_COMM_WORLD, got)) {
      ASSERT_LT(clock_type::now() - t0, 30s) << "no message";
      std::this_thread::sleep_for(100us);
    }
    const auto took = clock_type::now() - t0;
    EXPECT_LT(took, quiet - 1s) << "the receive waited for the sender's next MPI call";
    EXPECT_EQ(got.source, 1);
    EXPECT_EQ(got.bytes, message_of(n));
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

// A short message whose header claims a body beyond it, sent as one part of a length no sender
// uses for a first part, is refused rather than waited on.
TEST_F(transport_parts, AFirstPartOfAnotherLengthThatClaimsMoreIsRefused) {
  if (world_size() < 2) GTEST_SKIP() << "needs 2 ranks";
  if (world_rank() == 1) {
    std::vector<char> m(200);
    wire::put_header(m.data(), wire::kind::result_batch, 1, 10'000);
    MPI_Send(m.data(), static_cast<int>(m.size()), MPI_BYTE, 0, transport::tag_message, MPI_COMM_WORLD);
  } else if (world_rank() == 0) {
    MPI_Status st;
    MPI_Probe(1, transport::tag_message, MPI_COMM_WORLD, &st);
    transport::incoming got;
    EXPECT_THROW(transport::try_receive(1, MPI_COMM_WORLD, got), rankpool::detail::decode_error);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

}  // namespace
