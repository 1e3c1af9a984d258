#pragma once
// Internal: a doorbell per rank of a node, so that a rank that sleeps while idle wakes as soon as
// another process of its node sends it something: the root rings a worker after sending it work,
// a worker rings the root after sending results. Ranks without a core of their own sleep instead
// of spinning (they must not take the core a task needs), growing their pauses to 1 ms (5 ms after
// 200 ms idle; transport::backoff), and a message used to wait for the receiver's next poll: the
// round trip at -n 3 on 2 cores was 170-188 µs, and is 134-143 µs with the bells. MPI has no way
// to wake a process, so each bell is a futex word in memory the node's processes share: POSIX
// shared memory, unlinked as soon as every rank of the node has mapped it, so nothing is left
// behind if the job dies. Where that cannot be had (no /dev/shm, RANKPOOL_DOORBELL=0) there are
// no bells and the ranks poll as before; where ranks have cores of their own the bells stay
// silent (see ring_slot).

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace rankpool::detail {

class node_bells {
 public:
  /// Collective over `node` (the ranks of `pool` that share memory): maps one bell per rank of
  /// the node, or returns nullptr on every rank of the node when any of them cannot.
  static std::shared_ptr<node_bells> open(MPI_Comm node, MPI_Comm pool);
  ~node_bells();
  node_bells(const node_bells&) = delete;
  node_bells& operator=(const node_bells&) = delete;

  /// This rank's bell as it stands: read it before looking for work, and pass it to sleep().
  std::uint32_t ticket() const noexcept;
  /// Sleeps for up to `most`, or not at all if this rank's bell rang since `ticket` was read.
  /// Several threads of the rank may sleep on it at once; a ring wakes them all.
  void sleep(std::uint32_t ticket, std::chrono::microseconds most) noexcept;
  /// Rings this rank's own bell (news from another thread of the process).
  void ring_own() noexcept { ring_slot(own_); }
  /// Rings the bell of `rank` (a rank of the pool's communicator; nothing for one on another
  /// node): it wakes if it sleeps. Costs a system call only when it sleeps.
  void ring(int rank) noexcept;
  /// Pool ranks as the root addresses them start `by` later (a spawned pool: the children's
  /// ranks in the intercommunicator are their ranks in the merged one, less one).
  void shift_ranks(int by);

 private:
  void ring_slot(int slot) noexcept;
  struct alignas(64) bell {
    std::atomic<std::uint32_t> word{0};    // rings so far: the futex word
    std::atomic<std::uint32_t> asleep{0};  // threads of its rank that sleep on the word now
  };
  node_bells(bell* bells, std::size_t bytes, int own, std::vector<int> slot_of)
      : bells_(bells), bytes_(bytes), own_(own), slot_of_(std::move(slot_of)) {}

  bell* bells_;
  std::size_t bytes_;         // the mapping's length
  int own_;                   // this rank's bell (its rank in the node)
  std::vector<int> slot_of_;  // pool rank -> its bell, or -1 on another node
};

}  // namespace rankpool::detail
