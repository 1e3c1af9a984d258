// A worker's batched results (see result_sender.hpp).

#include "worker/result_sender.hpp"

#include <cstring>

#include "observe/observer.hpp"
#include "wire/framing.hpp"
#include "wire/transport.hpp"

namespace rankpool::detail {
namespace {
// A result held back longer than this is sent even if more tasks of its batch remain, so one
// long task does not delay the answers of the short ones before it.
constexpr auto max_hold = std::chrono::microseconds(100);
}  // namespace

void result_sender::begin(std::uint64_t id) {
  if (count_ == 0) first_ = clock::now();
  record_at_ = out_.raw().size();
  wire::result_record rec{id, 0, 0, 0, 0, 0};
  out_.raw().put_value(rec);
}

void result_sender::end(std::uint64_t exec_ns, clock::time_point started, std::uint32_t lane) {
  out_.reset_archive();
  auto& b = out_.raw().bytes();
  wire::result_record rec{0,
                          exec_ns,
                          b.size() - record_at_ - sizeof(wire::result_record),
                          std::chrono::duration_cast<std::chrono::nanoseconds>(started.time_since_epoch()).count() +
                              observe_clock::realtime_offset(),
                          lane,
                          0};
  std::memcpy(&rec.id, b.data() + record_at_, sizeof rec.id);
  std::memcpy(b.data() + record_at_, &rec, sizeof rec);
  ++count_;
}

bool result_sender::overdue(std::uint64_t last_exec_ns) const {
  return count_ > 0 && (std::chrono::nanoseconds(last_exec_ns) > max_hold / 2 || clock::now() - first_ > max_hold);
}

void result_sender::flush() {
  if (count_ == 0) return;
  auto& b = out_.raw().bytes();
  wire::put_header(b.data(), wire::kind::result_batch, count_, b.size() - sizeof(wire::header));
  transport::send(b.data(), b.size(), root_, comm_);
  start();
}

void result_sender::start() {
  out_.reset_archive();
  out_.raw().truncate(0);
  reserve_header(out_);
  count_ = 0;
}

}  // namespace rankpool::detail
