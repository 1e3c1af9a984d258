// Point-to-point messages of any size between the root and the workers (see transport.hpp):
// nonblocking and blocking sends split under MPI's int count, matched probes, idle backoff.

#include "wire/transport.hpp"

#include <sched.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <rankpool/detail/spin.hpp>
#include <thread>

#include "wire/framing.hpp"
#include "wire/mpi_call.hpp"

namespace rankpool::detail::transport {

std::size_t max_part_bytes() {
  static const std::size_t limit = [] {
    std::size_t hard = static_cast<std::size_t>(INT_MAX) - 4095;  // MPI counts are ints
    if (const char* e = std::getenv("RANKPOOL_MAX_MESSAGE")) {
      char* end = nullptr;
      auto v = std::strtoull(e, &end, 10);
      if (end != e && v >= 64 && v < hard) return static_cast<std::size_t>(v);
    }
    return hard;
  }();
  return limit;
}

outgoing::outgoing(outgoing&& o) noexcept : requests_(std::move(o.requests_)) {
  o.requests_.clear();
}
outgoing& outgoing::operator=(outgoing&& o) noexcept {
  if (this != &o) {
    wait();
    requests_ = std::move(o.requests_);
    o.requests_.clear();
  }
  return *this;
}
outgoing::~outgoing() {
  try {
    wait();
  } catch (...) {  // a failed send at teardown: MPI already reported it, nothing to free safely
  }
}

namespace {
// A part this short is sent eagerly by every transport (Open MPI's shared-memory limit,
// btl_vader_eager_limit, is 4 KiB with its own header; TCP's 64 KiB; MPICH's more): MPI copies it
// out at the send, and the receiver has it whole once matched, whatever the sender does next.
constexpr std::size_t eager_part_bytes = 4096 - 128;
// Messages up to this long leave in eager parts where the sender has no core of its own (below).
constexpr std::size_t eager_split_most = 64 * 1024;
}  // namespace

std::size_t part_bytes_for(std::size_t n) {
  // A longer message goes by rendezvous: its receiver matches the first bytes and then waits for
  // the sender to push the rest, which the sender does only in its next MPI call. A worker calls
  // MPI during a task only from its watcher (every 250 to 500 us), and a rank without a core of its
  // own runs that much later still: at -n 3 on 2 cores the root spent 33 ms of a 100 ms map of
  // svd_batch in such receives (6 KB results; median 0.23 ms, the longest 4.7 ms), refilling no
  // worker meanwhile, and each worker stood idle 12-16 ms. Up to 64 KiB (16 parts) the parts cost
  // less than that wait; where ranks have cores of their own the sender's next call comes soon.
  const std::size_t most = max_part_bytes();
  if (n > eager_part_bytes && n <= eager_split_most && !spin_allowed()) return std::min(most, eager_part_bytes);
  return most;
}

void outgoing::start(const char* data, std::size_t n, int dest, MPI_Comm comm) {
  const std::size_t part = part_bytes_for(n);
  std::size_t sent = 0;
  int tag = tag_message;
  do {
    auto k = std::min(part, n - sent);
    MPI_Request r;
    mpi::call("MPI_Isend", MPI_Isend, data + sent, static_cast<int>(k), MPI_BYTE, dest, tag, comm, &r);
    requests_.push_back(r);
    sent += k;
    tag = tag_continuation;
  } while (sent < n);
}

bool outgoing::test() {
  if (requests_.empty()) return true;
  int done = 0;
  mpi::call("MPI_Testall", MPI_Testall, static_cast<int>(requests_.size()), requests_.data(), &done,
            MPI_STATUSES_IGNORE);
  if (done) requests_.clear();
  return done != 0;
}

void outgoing::wait() {
  if (requests_.empty()) return;
  auto reqs = std::move(requests_);
  requests_.clear();
  mpi::call("MPI_Waitall", MPI_Waitall, static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
}

void send(const char* data, std::size_t n, int dest, MPI_Comm comm) {
  const std::size_t part = part_bytes_for(n);
  std::size_t sent = 0;
  int tag = tag_message;
  do {
    auto k = std::min(part, n - sent);
    mpi::call("MPI_Send", MPI_Send, data + sent, static_cast<int>(k), MPI_BYTE, dest, tag, comm);
    sent += k;
    tag = tag_continuation;
  } while (sent < n);
}

void wait_sleeping(std::vector<MPI_Request>& reqs) {
  wait_sleeping(reqs.data(), static_cast<int>(reqs.size()), std::chrono::microseconds(1000));
}

void wait_sleeping(MPI_Request* reqs, int n, std::chrono::microseconds max_sleep, MPI_Status* statuses) {
  backoff pace(std::chrono::microseconds(20), max_sleep);
  while (true) {
    int done = 0;
    mpi::call("MPI_Testall", MPI_Testall, n, reqs, &done, statuses ? statuses : MPI_STATUSES_IGNORE);
    if (done) return;
    auto pause = pace.next();
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
}

namespace {
// One request per part of at most max_part_bytes, each posted by `post`.
template <class Post>
std::vector<MPI_Request> post_parts(std::size_t n, Post post) {
  const std::size_t part = max_part_bytes();
  std::vector<MPI_Request> reqs;
  std::size_t at = 0;
  do {
    const auto k = std::min(part, n - at);
    reqs.push_back(MPI_REQUEST_NULL);
    post(at, static_cast<int>(k), &reqs.back());
    at += k;
  } while (at < n);
  return reqs;
}
}  // namespace

void send_bulk(const char* data, std::size_t n, int dest, MPI_Comm comm) {
  auto reqs = post_parts(n, [&](std::size_t at, int k, MPI_Request* r) {
    mpi::call("MPI_Isend", MPI_Isend, data + at, k, MPI_BYTE, dest, tag_share, comm, r);
  });
  wait_sleeping(reqs);
}

void receive_bulk(char* into, std::size_t n, int source, MPI_Comm comm) {
  auto reqs = post_parts(n, [&](std::size_t at, int k, MPI_Request* r) {
    mpi::call("MPI_Irecv", MPI_Irecv, into + at, k, MPI_BYTE, source, tag_share, comm, r);
  });
  wait_sleeping(reqs);
}

void receive_small(char* into, std::size_t n, int source, MPI_Comm comm) {
  MPI_Status st;
  mpi::call("MPI_Recv", MPI_Recv, into, static_cast<int>(n), MPI_BYTE, source, tag_message, comm, &st);
  int got = 0;
  mpi::call("MPI_Get_count", MPI_Get_count, &st, MPI_BYTE, &got);
  if (static_cast<std::size_t>(got) != n)
    throw decode_error("rankpool: handshake message of " + std::to_string(got) + " bytes, expected " +
                       std::to_string(n));
}

void send_control(const char* data, std::size_t n, int dest, MPI_Comm comm) {
  mpi::call("MPI_Send", MPI_Send, data, static_cast<int>(n), MPI_BYTE, dest, tag_control, comm);
}

bool try_receive_control(int source, MPI_Comm comm, char* header_out) {
  int flag = 0;
  MPI_Message msg;
  MPI_Status st;
  mpi::call("MPI_Improbe", MPI_Improbe, source, tag_control, comm, &flag, &msg, &st);
  if (!flag) return false;
  int count = 0;
  mpi::call("MPI_Get_count", MPI_Get_count, &st, MPI_BYTE, &count);
  std::vector<char> buf(static_cast<std::size_t>(std::max(count, 0)));
  mpi::call("MPI_Mrecv", MPI_Mrecv, buf.data(), count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
  if (buf.size() != sizeof(wire::header)) return false;
  std::memcpy(header_out, buf.data(), buf.size());
  return true;
}

namespace {
// A message of at most eager_part_bytes has arrived whole once it is matched, so a blocking
// receive returns at once. A longer one may still wait for its sender to push the rest (a
// rendezvous; part_bytes_for keeps messages up to 64 KiB from a rank without a core of its own
// out of it), and the sender may be a worker that shares a core with this rank: a blocking
// MPI_Mrecv then spins on that core (Open MPI yields between polls, which does not hand the core
// to a process queued on the other one). Seen at -n 3 on 2 cores: the root spun 4.6 ms in
// MPI_Mrecv for a worker's 6 KB result while that worker stood runnable behind the other worker,
// and both workers ran dry. Where the rank has a core of its own (spin_allowed) the blocking
// receive stays: a transfer in fragments goes on only while the receiver polls, and sleeps
// between polls cut the 1 MiB bandwidth at -n 2 from 5-6.5 GB/s to 0.7-1 GB/s.
// The longest sleep between tests while the rest of a message is on its way: a sender in a task
// pushes it from its watcher, every 250 to 500 us.
constexpr auto rest_wait_most = std::chrono::microseconds(100);

// Whether a receive of `bytes` may block in MPI rather than sleep between tests (above).
bool may_block(std::size_t bytes) noexcept {
  return bytes <= eager_part_bytes || spin_allowed();
}

// Completes the receive `r` of `bytes`, into `st` (null: ignored): blocking where may_block. Else it polls,
// yielding the core between polls, for as long as the bytes take at 1 GB/s (a sender that runs
// pushes them by then: a 1 MiB argument at -n 3 on 2 cores went at 2.5-3 GB/s so, and at
// 0.7-0.9 GB/s when the receiver slept between all its polls), and then sleeps between polls.
void finish_receive(MPI_Request& r, std::size_t bytes, MPI_Status* st) {
  if (may_block(bytes)) {
    mpi::call("MPI_Wait", MPI_Wait, &r, st ? st : MPI_STATUS_IGNORE);
    return;
  }
  const auto yield_until = std::chrono::steady_clock::now() + std::chrono::microseconds(20) +
                           std::chrono::nanoseconds(static_cast<std::int64_t>(bytes));
  do {
    int done = 0;
    mpi::call("MPI_Test", MPI_Test, &r, &done, st ? st : MPI_STATUS_IGNORE);
    if (done) return;
    sched_yield();
  } while (std::chrono::steady_clock::now() < yield_until);
  wait_sleeping(&r, 1, rest_wait_most, st);
}
}  // namespace

void receive_matched(MPI_Message& msg, const MPI_Status& st, MPI_Comm comm, incoming& into) {
  int count = 0;
  mpi::call("MPI_Get_count", MPI_Get_count, &st, MPI_BYTE, &count);
  into.source = st.MPI_SOURCE;
  into.bytes.resize(static_cast<std::size_t>(count));
  if (may_block(into.bytes.size())) {  // the common case, without a request to test
    mpi::call("MPI_Mrecv", MPI_Mrecv, into.bytes.data(), count, MPI_BYTE, &msg, MPI_STATUS_IGNORE);
  } else {
    MPI_Request r;
    mpi::call("MPI_Imrecv", MPI_Imrecv, into.bytes.data(), count, MPI_BYTE, &msg, &r);
    finish_receive(r, into.bytes.size(), nullptr);
  }
  auto h = wire::decode_header(into.bytes.data(), into.bytes.size());
  std::size_t have = into.bytes.size();
  if (h.body_bytes > (SIZE_MAX >> 1)) throw decode_error("rankpool: absurd message length");
  std::size_t total = sizeof(wire::header) + static_cast<std::size_t>(h.body_bytes);
  if (total > have) {
    // The first part is as long as every part but the last (part_bytes_for).
    const std::size_t part = have;
    if (part != max_part_bytes() && part != std::min(max_part_bytes(), eager_part_bytes))
      throw decode_error("rankpool: short first part of a message that claims continuation parts");
    into.bytes.resize(total);
    while (have < total) {
      auto n = std::min(part, total - have);
      MPI_Status cs;
      MPI_Request r;
      mpi::call("MPI_Irecv", MPI_Irecv, into.bytes.data() + have, static_cast<int>(n), MPI_BYTE, st.MPI_SOURCE,
                tag_continuation, comm, &r);
      finish_receive(r, n, &cs);
      int got = 0;
      mpi::call("MPI_Get_count", MPI_Get_count, &cs, MPI_BYTE, &got);
      if (static_cast<std::size_t>(got) != n) throw decode_error("rankpool: continuation part of the wrong size");
      have += n;
    }
  }
}

bool try_receive(int source, MPI_Comm comm, incoming& into) {
  int flag = 0;
  MPI_Message msg;
  MPI_Status st;
  mpi::call("MPI_Improbe", MPI_Improbe, source, tag_message, comm, &flag, &msg, &st);
  if (!flag) return false;
  receive_matched(msg, st, comm, into);
  return true;
}

bool peek(int source, MPI_Comm comm, int& tag, bool again) {
  int flag = 0;
  MPI_Status st;
  mpi::call("MPI_Iprobe", MPI_Iprobe, source, MPI_ANY_TAG, comm, &flag, &st);
  if (!flag && again) mpi::call("MPI_Iprobe", MPI_Iprobe, source, MPI_ANY_TAG, comm, &flag, &st);
  if (flag) tag = st.MPI_TAG;
  return flag != 0;
}

std::chrono::microseconds backoff::next() {
  auto now = std::chrono::steady_clock::now();
  if (!idle_since_) idle_since_ = now;
  // Without a core of its own (cpu_share) a rank sleeps at once: even a yielding spin kept the
  // core from the worker that shared it.
  if (spin_allowed() && now - *idle_since_ < spin_) {
    if (now - *idle_since_ < quiet_spin) {
      for (int i = 0; i < 32; ++i) cpu_relax();
    } else {
      sched_yield();
    }
    return std::chrono::microseconds(0);
  }
  const auto cap = now - *idle_since_ < long_idle_ ? max_sleep_ : deep_sleep_;
  sleep_ = sleep_.count() == 0 ? std::chrono::microseconds(5) : std::min(sleep_ * 2, cap);
  return sleep_;
}

}  // namespace rankpool::detail::transport
