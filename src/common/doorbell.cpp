// A node's doorbells (doorbell.hpp): futex words in POSIX shared memory.

#include "common/doorbell.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <rankpool/detail/log.hpp>
#include <rankpool/detail/spin.hpp>

#include "common/cpu_share.hpp"
#include "wire/mpi_call.hpp"

namespace rankpool::detail {
namespace {

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value, const timespec* timeout) noexcept {
  // Not FUTEX_PRIVATE: the word is shared between processes. A lock-free std::atomic<uint32_t>
  // has the layout of the uint32_t the kernel reads.
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, timeout, nullptr, 0);
}

// Maps `bytes` of the shared memory object `name`; nullptr when it cannot.
void* map_object(const char* name, std::size_t bytes, bool create) noexcept {
  const int fd = create ? ::shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600) : ::shm_open(name, O_RDWR, 0);
  if (fd < 0) return nullptr;
  void* p = MAP_FAILED;
  if (!create || ::ftruncate(fd, static_cast<off_t>(bytes)) == 0)
    p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);                                        // the mapping stays
  if (p == MAP_FAILED && create) ::shm_unlink(name);  // nobody learns the name: it would stay in /dev/shm
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

std::shared_ptr<node_bells> node_bells::open(MPI_Comm node, MPI_Comm pool) {
  int own = 0, ranks = 0;
  mpi::call("MPI_Comm_rank", MPI_Comm_rank, node, &own);
  mpi::call("MPI_Comm_size", MPI_Comm_size, node, &ranks);
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t bytes = (static_cast<std::size_t>(ranks) * sizeof(bell) + page - 1) / page * page;
  // Rank 0 of the node names and creates the object; the name goes to the others.
  char name[64] = {};
  void* mem = nullptr;
  if (own == 0 && cpu_share::parse_bool(std::getenv("RANKPOOL_DOORBELL")).value_or(true)) {
    static std::atomic<unsigned> made{0};
    std::snprintf(name, sizeof name, "/rankpool-bells-%ld-%u-%lld", static_cast<long>(::getpid()), made++,
                  static_cast<long long>(std::chrono::steady_clock::now().time_since_epoch().count()));
    mem = map_object(name, bytes, true);
    if (mem == nullptr) {
      RANKPOOL_LOG(debug, "no doorbells on this node (shm_open %s: %s): idle workers poll", name, std::strerror(errno));
      name[0] = '\0';
    }
  }
  mpi::call("MPI_Bcast", MPI_Bcast, name, static_cast<int>(sizeof name), MPI_CHAR, 0, node);
  if (own != 0 && name[0] != '\0') mem = map_object(name, bytes, false);
  int mapped = mem != nullptr ? 1 : 0, everywhere = 0;
  mpi::call("MPI_Allreduce", MPI_Allreduce, &mapped, &everywhere, 1, MPI_INT, MPI_MIN, node);
  if (own == 0 && name[0] != '\0') ::shm_unlink(name);  // every rank has mapped it (or given up)
  if (!everywhere) {
    if (mem != nullptr) ::munmap(mem, bytes);
    return nullptr;
  }
  // Which bell each pool rank has: the node's ranks in the pool's numbering.
  MPI_Group pool_group = MPI_GROUP_NULL, node_group = MPI_GROUP_NULL;
  mpi::call("MPI_Comm_group", MPI_Comm_group, pool, &pool_group);
  mpi::call("MPI_Comm_group", MPI_Comm_group, node, &node_group);
  int pool_size = 0;
  mpi::call("MPI_Group_size", MPI_Group_size, pool_group, &pool_size);
  std::vector<int> all(static_cast<std::size_t>(pool_size)), slot_of(all.size());
  for (int r = 0; r < pool_size; ++r) all[static_cast<std::size_t>(r)] = r;
  mpi::call("MPI_Group_translate_ranks", MPI_Group_translate_ranks, pool_group, pool_size, all.data(), node_group,
            slot_of.data());
  mpi::try_call("MPI_Group_free", MPI_Group_free, &pool_group);
  mpi::try_call("MPI_Group_free", MPI_Group_free, &node_group);
  for (int& s : slot_of)
    if (s == MPI_UNDEFINED) s = -1;
  // The object is zero-filled, which is every bell's initial state.
  return std::shared_ptr<node_bells>(new node_bells(static_cast<bell*>(mem), bytes, own, std::move(slot_of)));
}

node_bells::~node_bells() {
  ::munmap(bells_, bytes_);
}

std::uint32_t node_bells::ticket() const noexcept {
  return bells_[own_].word.load();
}

void node_bells::sleep(std::uint32_t ticket, std::chrono::microseconds most) noexcept {
  bell& b = bells_[own_];
  // Sequentially consistent with ring(): either the ringer sees `asleep` and wakes this rank, or
  // this rank sees the new word and does not sleep.
  b.asleep.fetch_add(1);
  if (b.word.load() == ticket) {
    const auto us = std::max<std::int64_t>(most.count(), 1);
    const timespec t{static_cast<time_t>(us / 1'000'000), static_cast<long>(us % 1'000'000) * 1000};
    futex(b.word, FUTEX_WAIT, ticket, &t);  // returns at once if the word moved meanwhile
  }
  b.asleep.fetch_sub(1, std::memory_order_relaxed);
}

void node_bells::ring(int rank) noexcept {
  if (rank < 0 || static_cast<std::size_t>(rank) >= slot_of_.size()) return;
  const int slot = slot_of_[static_cast<std::size_t>(rank)];
  if (slot >= 0) ring_slot(slot);
}

void node_bells::ring_slot(int slot) noexcept {
  // Where ranks have cores of their own (spin_allowed) a busy rank polls without sleeping, and a
  // ring would only write to a cache line the polling rank reads: unchunked submit at -n 2 went
  // at 1.45-1.49 against 1.45-1.77 M/s with rings. There the bells stay silent.
  if (spin_allowed()) return;
  bell& b = bells_[slot];
  b.word.fetch_add(1);
  if (b.asleep.load()) futex(b.word, FUTEX_WAKE, INT_MAX, nullptr);
}

void node_bells::shift_ranks(int by) {
  slot_of_.erase(slot_of_.begin(), slot_of_.begin() + std::min<std::ptrdiff_t>(by, std::ssize(slot_of_)));
}

}  // namespace rankpool::detail
