#pragma once
// Internal: where the root's next tasks go and how many, with no MPI in it, so it is tested
// without mpirun (tests/root/dispatch_policy_test.cpp). The scheduler asks it for a slot and its
// room and tells it what was sent and what finished; the policy keeps the per-slot loads, the
// measured task time that sizes each worker's window, and the busy-worker count that progress
// displays read.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace rankpool::detail {

class dispatch_policy {
 public:
  using clock = std::chrono::steady_clock;

  /// The slots: `worker_slots` worker ranks of `threads_per_worker` threads each, then, with
  /// `root_slot`, the root's own compute thread. `in_flight` fixes the window per thread (0 =
  /// sized from the measured task time). `busy` is the core's busy-worker counter.
  struct config {
    std::size_t worker_slots = 0;
    std::size_t threads_per_worker = 1;
    bool root_slot = false;
    std::size_t in_flight = 0;
    double lead_ns = 100'000;  ///< work kept queued at each worker thread (cpu_share::lead_ns)
  };
  dispatch_policy(config c, std::atomic<std::size_t>& busy);

  /// Tasks a worker slot keeps in flight: in_flight × threads when fixed; else about
  /// lead_ns of work per thread at the mean task time, at least 2 and at most max_window per
  /// thread (2 per thread before any task has finished), so a worker never waits a round trip.
  std::size_t window() const;
  /// Whether results should come back one by one: few tasks in flight means long tasks, whose
  /// results must not wait for the next task of a batch.
  bool answer_each() const { return window() / cfg_.threads_per_worker <= 4; }

  /// Where the next tasks go: a slot and how many it takes now.
  struct pick {
    std::size_t slot;
    std::size_t room;
  };
  /// The least loaded slot and its room for the next of `queued` tasks, or nothing when every
  /// window is full. Among equally loaded slots, the one that finished a task most recently: an
  /// idle worker that just answered is still spinning, while one idle for longer sleeps in its
  /// backoff, so a lone task goes where it is picked up at once. While several slots are idle,
  /// each takes only its share of the queue, so two tasks never wait on one worker beside an
  /// idle one. The root's own slot takes at most one thread's share.
  std::optional<pick> next(std::size_t queued = SIZE_MAX) const;

  /// With nothing queued on the root and a slot idle since `idle_for` before `now`: the worker
  /// slot to ask for unstarted tasks back and how many (half of those waiting behind its running
  /// ones), or nothing. A slot is asked again only after it answered and `idle_for` has passed
  /// since it was asked (its tasks may be on their way to it, where it cannot return them yet).
  /// The waits keep a stream of short tasks, whose windows empty by themselves, from paying for
  /// requests. A slot held for a team that may take nothing now does not count as idle.
  std::optional<pick> take_back(clock::time_point now, clock::duration idle_for = std::chrono::microseconds(200)) const;
  /// The root asked `slot` for tasks back at `now`.
  void asked_back(std::size_t slot, clock::time_point now) {
    asked_[slot] = true;
    asked_at_[slot] = now;
  }
  /// `slot` answered a take-back or cancel, returning `n` unstarted tasks.
  void returned(std::size_t slot, std::size_t n);

  /// `n` tasks went to `slot`.
  void sent(std::size_t slot, std::size_t n) { set_load(slot, load_[slot] + n); }
  /// `n` tasks of `slot` finished; `exec_ns`, when known, is how long one of them ran (it feeds
  /// the mean that sizes the windows: an exponential average over about 8 tasks).
  void finished(std::size_t slot, std::size_t n, std::optional<std::uint64_t> exec_ns = {});
  /// A task at `slot` waits on tasks it submitted (this_pool()) and lends its thread, which runs
  /// other tasks meanwhile: the slot counts one task less until reclaimed().
  void lent(std::size_t slot) { set_load(slot, load_[slot] - std::min<std::size_t>(1, load_[slot])); }
  /// The waiting task at `slot` has its thread back.
  void reclaimed(std::size_t slot) { set_load(slot, load_[slot] + 1); }
  /// `slot` was lost: its tasks are gone.
  void forget(std::size_t slot) { set_load(slot, 0); }

  /// A team task of `k` worker ranks waits (submit_parallel): `k` idle worker slots for it now
  /// (those that answered last first: they still spin), or nothing. Then the policy holds slots
  /// for it until the next call: every idle worker slot, and as many of the least loaded busy
  /// ones as the team still needs, which get no new tasks so that they drain. A held slot
  /// backfills: it takes tasks while, at the mean task time, they end before the last draining
  /// slot is expected to be free. So a team gathers without starving and without leaving
  /// workers idle for long.
  std::optional<std::vector<std::size_t>> gather(std::size_t k);
  /// No team task waits: every slot takes tasks again.
  void release_holds();
  /// Whether `slot` is held for a waiting team.
  bool held(std::size_t slot) const { return held_[slot]; }

  /// Tasks in flight at `slot`.
  std::size_t load(std::size_t slot) const { return load_[slot]; }
  /// The least work queued behind the running tasks at any worker slot, at the mean task time
  /// (per thread): how long every worker is sure to stay busy without the root. Zero before a
  /// task has finished, or when some worker slot has no task waiting.
  std::chrono::nanoseconds work_ahead() const;
  /// The root's own slot (valid with root_slot).
  std::size_t root_slot() const { return cfg_.worker_slots; }
  /// Tasks in flight at the root's own slot (0 without one).
  std::size_t root_load() const { return cfg_.root_slot ? load_[root_slot()] : 0; }

  static constexpr std::size_t max_window = 512;  ///< most tasks in flight per thread

 private:
  // Changes a slot's load and the busy count (a slot runs at most its threads at once).
  void set_load(std::size_t slot, std::size_t load);
  std::size_t threads_of(std::size_t slot) const { return slot == root_slot() ? 1 : cfg_.threads_per_worker; }
  // Rounds of tasks the busiest draining slot still runs (0 when nothing is held): a held slot
  // backfills with what ends within them.
  std::size_t drain_rounds() const;
  // The most tasks `slot` may hold now: the window, or for a held slot what ends in time.
  std::size_t cap(std::size_t slot, std::size_t window, std::size_t rounds) const;

  config cfg_;
  std::atomic<std::size_t>& busy_;
  std::vector<std::size_t> load_;              // tasks in flight per slot
  std::vector<std::uint64_t> last_active_;     // per slot: sequence number of its latest result
  std::vector<bool> asked_;                    // per slot: a take-back is unanswered
  std::vector<clock::time_point> idle_since_;  // per slot: when it last had a thread free
  std::vector<clock::time_point> asked_at_;    // per slot: when it was last asked for tasks back
  std::vector<bool> held_;                     // per slot: held for a waiting team
  std::vector<bool> draining_;                 // per slot: held while still busy
  bool holding_ = false;                       // some slot is held
  std::uint64_t activity_ = 0;
  double avg_exec_ns_ = 0;
};

}  // namespace rankpool::detail
