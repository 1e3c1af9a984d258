#pragma once
// The only code that calls MPI point-to-point for the executors: tags, byte
// messages of any size (split into parts under MPI's int count), probing with idle backoff.

#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <rankpool/errors.hpp>
#include <string>
#include <vector>

namespace rankpool::detail::transport {

inline constexpr int tag_message = 0x5250;       // first part of every message
inline constexpr int tag_continuation = 0x5251;  // further parts of a message over the limit
inline constexpr int tag_control = 0x5252;       // stop requests, read even while a task runs
inline constexpr int tag_share = 0x5253;         // a shared value's bytes (share_open says how many)

/// Largest part sent in one MPI call: just under 2 GiB, or RANKPOOL_MAX_MESSAGE bytes when set
/// (so tests can exercise the split path with small payloads).
std::size_t max_part_bytes();

/// The parts a message of `n` bytes is sent in: max_part_bytes(), or, where this rank has no core
/// of its own (spin_allowed false), parts short enough to go eagerly for a message of 4 to 64 KiB,
/// so that its receiver need not wait for this rank's next MPI call. The receiver takes the
/// first part's length for every part but the last.
std::size_t part_bytes_for(std::size_t n);

/// A message sent with nonblocking calls; the buffer must outlive it until complete().
class outgoing {
 public:
  outgoing() = default;
  outgoing(outgoing&&) noexcept;
  outgoing& operator=(outgoing&&) noexcept;
  outgoing(const outgoing&) = delete;
  outgoing& operator=(const outgoing&) = delete;
  ~outgoing();
  /// Starts sending `n` bytes at `data` to `dest` (first part on tag_message, rest on continuation).
  void start(const char* data, std::size_t n, int dest, MPI_Comm comm);
  /// True once every part has gone (tests without blocking).
  bool test();
  /// Blocks until every part has gone.
  void wait();
  bool active() const noexcept { return !requests_.empty(); }

 private:
  std::vector<MPI_Request> requests_;
};

/// Sends `n` bytes to `dest` and blocks until the buffer may be reused.
void send(const char* data, std::size_t n, int dest, MPI_Comm comm);

/// Blocks until a message of exactly `n` bytes (at most max_part_bytes) arrives from `source` on
/// tag_message and copies it to `into`; for handshakes. Throws decode_error for another size.
void receive_small(char* into, std::size_t n, int source, MPI_Comm comm);

/// Waits for `reqs` with growing sleeps between tests: a large transfer or a collective that
/// waits for busy ranks takes long enough that a blocking wait would spin a core that the ranks
/// computing beside it need.
void wait_sleeping(std::vector<MPI_Request>& reqs);
/// The same for `n` requests at `reqs`, sleeping at most `max_sleep` between tests, with their
/// statuses in `statuses` when given.
void wait_sleeping(MPI_Request* reqs, int n, std::chrono::microseconds max_sleep, MPI_Status* statuses = nullptr);

/// Sends `n` bytes of a shared value on tag_share (in parts under MPI's int count) and blocks
/// until they have gone. Only the root's share service sends on this tag, one value at a time.
void send_bulk(const char* data, std::size_t n, int dest, MPI_Comm comm);

/// Receives the `n` bytes send_bulk sends from `source` into `into`, sleeping (not spinning)
/// while they are on their way.
void receive_bulk(char* into, std::size_t n, int source, MPI_Comm comm);

/// Sends a small control message (tag_control) and blocks until the buffer may be reused.
void send_control(const char* data, std::size_t n, int dest, MPI_Comm comm);

/// Polls for a control message from `source`; true and fills `header_out` (24 bytes) when one
/// arrived and is well-formed.
bool try_receive_control(int source, MPI_Comm comm, char* header_out);

/// A received message: its source and all of its bytes (header included).
struct incoming {
  int source = -1;
  std::vector<char> bytes;
};

/// Receives the message matched by `msg` (from MPI_Improbe with status `st`) into `into`,
/// with its continuation parts, after validating its header (throws decode_error).
void receive_matched(MPI_Message& msg, const MPI_Status& st, MPI_Comm comm, incoming& into);

/// Polls for the next message from `source` (or MPI_ANY_SOURCE) on `comm`; true and fills
/// `into` when one arrived.
bool try_receive(int source, MPI_Comm comm, incoming& into);

/// Whether a message of any tag from `source` waits on `comm`; true and sets `tag` to the tag of
/// the first one (the one sent first). Reads nothing. A probe sees only what MPI had taken in
/// before it: one that finds nothing has made progress, which may have taken a message in, so
/// with `again` a miss probes once more (a message just come is seen now, not at the next call).
bool peek(int source, MPI_Comm comm, int& tag, bool again);

/// Spin-then-sleep pacing for a polling loop: after `spin` of inactivity it sleeps, starting at
/// a few microseconds and doubling up to `max_sleep`; after `long_idle` without activity the cap
/// rises to `deep_sleep`, so a pool idle for long costs almost nothing per rank.
/// The spin phase begins quiet: for its first `quiet_spin` a round only pauses the core, without
/// the system call of a yield (sched_yield costs about a microsecond, more in a virtual machine,
/// and a message that comes microseconds after the last is then seen that much later: the round
/// trip at -n 2 on the 2-core VM went from 15.2 to 11.0 µs). Then it yields, so that another
/// thread that wants the core gets it.
/// Where this process's ranks outnumber the node's cores (detail::spin_allowed() false, set by
/// common/cpu_share) there is no spin phase: the first idle round already sleeps.
class backoff {
 public:
  /// A quiet spin this long at the start of the spin phase (see above).
  static constexpr std::chrono::microseconds quiet_spin{20};

  explicit backoff(std::chrono::microseconds spin = std::chrono::microseconds(100),
                   std::chrono::microseconds max_sleep = std::chrono::microseconds(1000),
                   std::chrono::microseconds deep_sleep = std::chrono::microseconds(5000),
                   std::chrono::milliseconds long_idle = std::chrono::milliseconds(200))
      : spin_(spin), max_sleep_(max_sleep), deep_sleep_(deep_sleep), long_idle_(long_idle) {}
  /// Something happened: spin again.
  void reset() noexcept {
    idle_since_.reset();
    sleep_ = std::chrono::microseconds(0);
  }
  /// Nothing happened this round: yield or sleep. Returns the sleep to take (zero while spinning).
  std::chrono::microseconds next();

 private:
  std::chrono::microseconds spin_, max_sleep_, deep_sleep_;
  std::chrono::milliseconds long_idle_;
  std::optional<std::chrono::steady_clock::time_point> idle_since_;
  std::chrono::microseconds sleep_{0};
};

}  // namespace rankpool::detail::transport
