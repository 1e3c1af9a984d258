// Stop requests on a worker rank (see stop_board.hpp).

#include "worker/stop_board.hpp"

#include <cstring>

#include "wire/framing.hpp"
#include "wire/transport.hpp"

namespace rankpool::detail {

void stop_board::pull() {
  char h[sizeof(wire::header)];
  while (transport::try_receive_control(root_, comm_, h)) {
    wire::header hd;
    std::memcpy(&hd, h, sizeof hd);
    if (hd.magic != wire::magic) continue;
    if (hd.kind == static_cast<std::uint8_t>(wire::kind::cancel) ||
        hd.kind == static_cast<std::uint8_t>(wire::kind::take_back)) {
      requests_.push_back(hd);
      continue;
    }
    if (hd.kind != static_cast<std::uint8_t>(wire::kind::stop)) continue;
    std::lock_guard lk(m_);
    auto& sig = ids_[hd.id];
    if (hd.body_bytes > 0 && hd.body_bytes < 65) sig = static_cast<int>(hd.body_bytes);
    flag_.store(true, std::memory_order_release);
  }
}

std::size_t stop_board::drop_pending() {
  char h[sizeof(wire::header)];
  std::size_t n = requests_.size();
  requests_.clear();
  while (transport::try_receive_control(root_, comm_, h)) ++n;
  return n;
}

bool stop_board::asked(std::uint64_t id) {
  if (!flag_.load(std::memory_order_acquire)) return false;
  std::lock_guard lk(m_);
  return ids_.count(id) != 0;
}

int stop_board::signal_for(std::uint64_t id) {
  if (!flag_.load(std::memory_order_acquire)) return 0;
  std::lock_guard lk(m_);
  auto it = ids_.find(id);
  return it == ids_.end() ? 0 : it->second;
}

void stop_board::forget(std::uint64_t id) {
  if (!flag_.load(std::memory_order_acquire)) return;
  std::lock_guard lk(m_);
  ids_.erase(id);
  if (ids_.empty()) flag_.store(false, std::memory_order_release);
}

bool poll_stop(void* running) noexcept {
  auto& r = *static_cast<running_task*>(running);
  if (r.may_pull) {
    auto now = std::chrono::steady_clock::now();
    if (now >= r.next_pull) {
      r.next_pull = now + stop_poll_interval;
      try {
        r.board->pull();
      } catch (...) {  // a failed probe only means no stop request is seen now
      }
    }
  }
  try {
    return r.board->asked(r.id);
  } catch (...) {  // the board's lock failed: no stop seen now
    return false;
  }
}

}  // namespace rankpool::detail
