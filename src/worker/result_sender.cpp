// A worker's batched results (see result_sender.hpp).

#include "worker/result_sender.hpp"

#include <cstring>
#include <rankpool/detail/log.hpp>

#include "observe/observer.hpp"
#include "wire/framing.hpp"
#include "wire/transport.hpp"

namespace rankpool::detail {
namespace {
// A result held back longer than this is sent even if more tasks of its batch remain, so one
// long task does not delay the answers of the short ones before it.
constexpr auto max_hold = std::chrono::microseconds(100);

wire::result_record record_of(std::uint64_t id, std::uint64_t exec_ns, std::size_t body,
                              std::chrono::steady_clock::time_point started, std::uint32_t lane,
                              std::uint32_t output_bytes) {
  return {id,
          exec_ns,
          body,
          std::chrono::duration_cast<std::chrono::nanoseconds>(started.time_since_epoch()).count() +
              observe_clock::realtime_offset(),
          lane,
          output_bytes};
}

constexpr std::size_t room = sizeof(wire::header) + sizeof(wire::result_record);
}  // namespace

result_sender::result_sender(MPI_Comm comm, int root) : comm_(comm), root_(root) {
  reset(batch());
}

void result_sender::reset(writer& w) {
  w.reset_archive();
  w.raw().truncate(0);
  w.raw().bytes().resize(sizeof(wire::header));
}

writer& result_sender::start() {
  writer& s = scratch();
  s.reset_archive();
  s.raw().truncate(0);
  s.raw().bytes().resize(room);
  return s;
}

void result_sender::finish(std::uint64_t id, std::uint64_t exec_ns, clock::time_point started, std::uint32_t lane,
                           std::uint32_t output_bytes) {
  writer& s = scratch();
  s.reset_archive();
  auto& b = s.raw().bytes();
  if (count_ > 0) {
    add(id, b.data() + room, b.size() - room, exec_ns, started, lane, output_bytes);
    return;
  }
  // Nothing held: the scratch already is a batch of one.
  const auto rec = record_of(id, exec_ns, b.size() - room, started, lane, output_bytes);
  std::memcpy(b.data() + sizeof(wire::header), &rec, sizeof rec);
  which_ = 1 - which_;
  first_ = clock::now();
  count_ = 1;
}

void result_sender::add(std::uint64_t id, const char* body, std::size_t n, std::uint64_t exec_ns,
                        clock::time_point started, std::uint32_t lane, std::uint32_t output_bytes) {
  if (count_ == 0) first_ = clock::now();
  batch().raw().put_value(record_of(id, exec_ns, n, started, lane, output_bytes));
  batch().raw().put(body, n);
  ++count_;
}

bool result_sender::overdue(std::uint64_t last_exec_ns) const {
  return count_ > 0 && (std::chrono::nanoseconds(last_exec_ns) > max_hold / 2 || clock::now() - first_ > max_hold);
}

void result_sender::flush() {
  reap();
  if (count_ == 0) return;
  auto& b = batch().raw().bytes();
  wire::put_header(b.data(), wire::kind::result_batch, count_, b.size() - sizeof(wire::header));
  // The batch's bytes travel with their send; the batch goes on in a buffer that went before.
  sending_.emplace_back();
  sending& s = sending_.back();
  s.bytes.swap(b);
  if (!spare_.empty()) {
    b.swap(spare_.back());
    spare_.pop_back();
  }
  s.send.start(s.bytes.data(), s.bytes.size(), root_, comm_);
  reset(batch());
  count_ = 0;
}

void result_sender::reap() {
  // A few spares cover the batches under way at once; more would only keep memory (a batch of
  // large results keeps its capacity).
  constexpr std::size_t most_spares = 4;
  while (!sending_.empty() && sending_.front().send.test()) {
    if (spare_.size() < most_spares) spare_.push_back(std::move(sending_.front().bytes));
    sending_.pop_front();
  }
}

void result_sender::drain() {
  for (auto& s : sending_) s.send.wait();
  reap();
}

}  // namespace rankpool::detail
