// The root's dispatch policy (see dispatch_policy.hpp).

#include "root/dispatch_policy.hpp"

#include <algorithm>

namespace rankpool::detail {

dispatch_policy::dispatch_policy(config c, std::atomic<std::size_t>& busy) : cfg_(c), busy_(busy) {
  if (cfg_.threads_per_worker == 0) cfg_.threads_per_worker = 1;
  const std::size_t slots = cfg_.worker_slots + (cfg_.root_slot ? 1 : 0);
  load_.assign(slots, 0);
  last_active_.assign(slots, 0);
  asked_.assign(slots, false);
  idle_since_.assign(slots, clock::now());
  asked_at_.assign(slots, clock::time_point{});
  held_.assign(slots, false);
  draining_.assign(slots, false);
}

std::size_t dispatch_policy::window() const {
  const std::size_t threads = cfg_.threads_per_worker;
  if (cfg_.in_flight) return cfg_.in_flight * threads;
  if (avg_exec_ns_ <= 0) return 2 * threads;
  return threads * std::clamp<std::size_t>(static_cast<std::size_t>(cfg_.lead_ns / avg_exec_ns_), 2, max_window);
}

std::chrono::nanoseconds dispatch_policy::work_ahead() const {
  if (avg_exec_ns_ <= 0 || cfg_.worker_slots == 0) return std::chrono::nanoseconds(0);
  const std::size_t threads = cfg_.threads_per_worker;
  std::size_t least = SIZE_MAX;
  // The first task in line may be a short one of a mixed stream: it does not count.
  for (std::size_t i = 0; i < cfg_.worker_slots; ++i)
    least = std::min(least, load_[i] > threads + 1 ? load_[i] - threads - 1 : 0);
  return std::chrono::nanoseconds(
      static_cast<std::int64_t>(static_cast<double>(least) * avg_exec_ns_ / static_cast<double>(threads)));
}

std::size_t dispatch_policy::drain_rounds() const {
  if (!holding_) return 0;
  std::size_t rounds = 0;
  for (std::size_t i = 0; i < load_.size(); ++i)
    if (draining_[i]) rounds = std::max(rounds, (load_[i] + threads_of(i) - 1) / threads_of(i));
  return rounds;
}

std::size_t dispatch_policy::cap(std::size_t slot, std::size_t window, std::size_t rounds) const {
  if (!held_[slot]) return window;
  if (avg_exec_ns_ <= 0 || draining_[slot]) return 0;  // no time to judge by, or it drains: nothing new
  return std::min(window, rounds * threads_of(slot));
}

std::optional<dispatch_policy::pick> dispatch_policy::next(std::size_t queued) const {
  if (load_.empty()) return std::nullopt;
  const std::size_t win = window();
  const std::size_t rounds = drain_rounds();
  std::optional<std::size_t> best;
  std::size_t idle = 0;
  for (std::size_t i = 0; i < load_.size(); ++i) {
    if (load_[i] < threads_of(i) && !held_[i]) ++idle;
    if (load_[i] >= cap(i, win, rounds)) continue;
    if (!best || load_[i] < load_[*best] || (load_[i] == load_[*best] && last_active_[i] > last_active_[*best]))
      best = i;
  }
  if (!best) return std::nullopt;
  const std::size_t b = *best;
  std::size_t room = cap(b, win, rounds) - load_[b];
  if (cfg_.root_slot && b == root_slot()) room = std::min(room, win / cfg_.threads_per_worker);
  if (idle > 1 && load_[b] < threads_of(b)) room = std::min(room, std::max<std::size_t>(1, (queued + idle - 1) / idle));
  return pick{b, room};
}

std::optional<std::vector<std::size_t>> dispatch_policy::gather(std::size_t k) {
  std::vector<std::size_t> idle, busy;
  for (std::size_t i = 0; i < cfg_.worker_slots; ++i) (load_[i] == 0 ? idle : busy).push_back(i);
  if (idle.size() >= k) {
    std::sort(idle.begin(), idle.end(),
              [&](std::size_t a, std::size_t b) { return last_active_[a] > last_active_[b]; });
    idle.resize(k);
    release_holds();
    return idle;
  }
  std::fill(held_.begin(), held_.end(), false);
  std::fill(draining_.begin(), draining_.end(), false);
  holding_ = true;
  for (std::size_t i : idle) held_[i] = true;
  std::sort(busy.begin(), busy.end(), [&](std::size_t a, std::size_t b) { return load_[a] < load_[b]; });
  for (std::size_t j = 0; j < k - idle.size() && j < busy.size(); ++j) held_[busy[j]] = draining_[busy[j]] = true;
  return std::nullopt;
}

void dispatch_policy::release_holds() {
  if (!holding_) return;  // the progress loop calls this on every pass without a team waiting
  holding_ = false;
  std::fill(held_.begin(), held_.end(), false);
  std::fill(draining_.begin(), draining_.end(), false);
}

std::optional<dispatch_policy::pick> dispatch_policy::take_back(clock::time_point now, clock::duration idle_for) const {
  bool someone_idle = false;
  std::size_t victim = 0, most = 0;
  const std::size_t win = window();
  const std::size_t rounds = drain_rounds();
  for (std::size_t i = 0; i < load_.size(); ++i) {
    // Only an idle slot that may take tasks counts: one held for a team would leave them on the
    // root, and they would go back to where they came from.
    const bool can_take = load_[i] < std::min(threads_of(i), cap(i, win, rounds));
    if (can_take && now - idle_since_[i] >= idle_for) someone_idle = true;
    if (cfg_.root_slot && i == root_slot()) continue;  // the root's slot has no messages to answer
    const std::size_t waiting = load_[i] > threads_of(i) ? load_[i] - threads_of(i) : 0;
    if (!asked_[i] && now - asked_at_[i] >= idle_for && waiting > most) {
      most = waiting;
      victim = i;
    }
  }
  if (!someone_idle || most == 0) return std::nullopt;
  return pick{victim, (most + 1) / 2};
}

void dispatch_policy::returned(std::size_t slot, std::size_t n) {
  set_load(slot, load_[slot] - std::min(n, load_[slot]));
  asked_[slot] = false;
}

void dispatch_policy::finished(std::size_t slot, std::size_t n, std::optional<std::uint64_t> exec_ns) {
  if (n == 0) return;
  set_load(slot, load_[slot] - std::min(n, load_[slot]));
  last_active_[slot] = ++activity_;
  if (exec_ns) {
    const auto x = static_cast<double>(*exec_ns);
    avg_exec_ns_ = avg_exec_ns_ <= 0 ? x : avg_exec_ns_ + (x - avg_exec_ns_) / 8;
  }
}

void dispatch_policy::set_load(std::size_t slot, std::size_t load) {
  const std::size_t threads = threads_of(slot);
  const std::size_t before = std::min(load_[slot], threads), after = std::min(load, threads);
  if (load_[slot] >= threads && load < threads) idle_since_[slot] = clock::now();
  load_[slot] = load;
  if (after != before) busy_.fetch_add(after - before, std::memory_order_relaxed);  // wraps for a decrease
}

}  // namespace rankpool::detail
