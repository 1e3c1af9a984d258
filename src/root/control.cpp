// The root's control messages to its workers (see control.hpp).

#include "root/control.hpp"

#include <algorithm>

#include "wire/transport.hpp"

namespace rankpool::detail {

void control_channel::forward(const in_flight_map& running) {
  for (auto [id, rank] : stops_.take_stops()) send(wire::kind::stop, id, rank);
  for (auto [id, rank] : stops_.take_withdraws()) {
    auto it = running.find(id);
    if (it == running.end()) continue;
    send(wire::kind::cancel, id, rank);
    ++unanswered_[it->second.worker];
  }
}

void control_channel::withdraw_all(const in_flight_map& running) {
  for (const auto& [id, entry] : running) {
    if (!entry.t->state().ask_withdraw()) continue;
    send(wire::kind::cancel, id, workers_[entry.worker]);
    ++unanswered_[entry.worker];
  }
}

void control_channel::ask_back(dispatch_policy& policy) {
  const auto now = dispatch_policy::clock::now();
  const auto p = policy.take_back(now);
  if (!p) return;
  policy.asked_back(p->slot, now);
  send(wire::kind::take_back, p->room, workers_[p->slot]);
  ++unanswered_[p->slot];
}

bool control_channel::all_answered() const {
  return std::all_of(unanswered_.begin(), unanswered_.end(), [](std::size_t n) { return n == 0; });
}

void control_channel::send(wire::kind k, std::uint64_t id, int rank) {
  char buf[sizeof(wire::header)];
  // A stop carries its signal where other messages count their body: control messages have none.
  wire::put_header(buf, k, id, k == wire::kind::stop ? static_cast<std::uint64_t>(stop_signal_) : 0);
  transport::send_control(buf, sizeof buf, rank, comm_);
  if (bells_) bells_->ring(rank);
}

}  // namespace rankpool::detail
