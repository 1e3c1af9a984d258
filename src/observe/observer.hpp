#pragma once
// Internal: how the pool's engine tells a watcher what it does, after Taskflow's observer/
// interface. The scheduler, its task sender, the root's compute slot and the thread core call the
// inline methods of a `hooks` holder; only the holder asks whether anyone listens and reads the
// clock, so the engine has no branches of its own for tracing and an unwatched pool pays one
// pointer test per event. The recorder (telemetry.hpp) is the one observer today.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <rankpool/detail/task.hpp>
#include <string>
#include <vector>

namespace rankpool::detail {

namespace wire {
struct result_record;
}

/// The clocks every observed timestamp is on.
struct observe_clock {
  /// Steady-clock nanoseconds (the clock of every timestamp handed to an observer).
  static std::int64_t now() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  /// CLOCK_REALTIME minus the steady clock, measured once per process. Workers report task start
  /// times on the real-time clock (steady + this), which every process of a host shares and NTP
  /// keeps close across hosts, so the root can place them on its own timeline.
  static std::int64_t realtime_offset() noexcept;
};

/// One finished task: where it ran and when, and the bytes it moved. Times are on the root's
/// steady clock, except that when `received` is set, `started` is the task's start as its worker
/// reported it on the real-time clock (see observe_clock::realtime_offset) and `received` is when
/// its result arrived: the observer converts it.
struct task_event {
  std::uint64_t id = 0;        ///< wire id; 0 for a task run by a local thread
  std::size_t slot = 0;        ///< the worker slot (a rank, a local thread, the root's own thread)
  std::uint32_t lane = 0;      ///< the thread of a threads_per_worker team
  std::uint32_t elements = 1;  ///< map elements in the task (a chunk)
  /// When it was submitted, sent (or handed to a local thread), started, ended, and when its
  /// result arrived at the root (0: run by a local thread).
  std::int64_t submitted = 0, dispatched = 0, started = 0, ended = 0, received = 0;
  std::uint64_t bytes_in = 0, bytes_out = 0;  ///< the task's message bytes and its result's
};

/// What a watcher of a pool implements. Calls come from the pool's scheduling threads (the
/// progress thread, the root's compute slot, a thread core's threads), so an implementation is
/// thread-safe. `what` arguments are string literals.
class observer {
 public:
  virtual ~observer() = default;
  /// Declares worker slot `slot` (a rank, or a local thread) with `lanes` threads, named `label`.
  virtual void on_slot(std::size_t slot, std::string label, std::size_t lanes) = 0;
  /// A task finished; `t` names it.
  virtual void on_task_done(const task& t, const task_event& e) = 0;
  /// A span of the scheduler's own work: sending `count` tasks, taking in `count` results.
  virtual void on_span(const char* what, std::int64_t begin, std::int64_t end, std::uint64_t count,
                       std::uint64_t bytes) = 0;
  /// Tasks waiting at the root and in flight, at `at`.
  virtual void on_queue_depth(std::int64_t at, std::size_t queued, std::size_t in_flight) = 0;
  /// A moment worth marking on the scheduler's track.
  virtual void on_instant(const char* what, std::int64_t at) = 0;
  /// The pool is done: every task has been reported. May come more than once (a core that shuts
  /// down twice); an implementation acts on the first.
  virtual void on_finish() noexcept = 0;
};

/// The pool's observer, or none: the engine's only way to it. Owned by the pool's core; its
/// parts keep a reference. Each method is one test of "is anyone listening" and, when someone
/// is, the clock read the event needs.
class hooks {
 public:
  hooks() = default;
  /// Attaches `o` (may be null); slots must be declared again after.
  void attach(std::unique_ptr<observer> o) noexcept { obs_ = std::move(o); }
  /// Whether anyone listens.
  explicit operator bool() const noexcept { return obs_ != nullptr; }

  /// Now when someone listens, else 0: the beginning of a span or a local task.
  std::int64_t stamp() const noexcept { return obs_ ? observe_clock::now() : 0; }

  /// Declares a worker slot (see observer::on_slot).
  void slot(std::size_t slot, std::string label, std::size_t lanes) const {
    if (obs_) obs_->on_slot(slot, std::move(label), lanes);
  }
  /// Tasks handed in by a user thread: stamps their submission time.
  void submitted(std::vector<task_ptr>& tasks) const noexcept {
    if (!obs_) return;
    const auto now = observe_clock::now();
    for (auto& t : tasks) t->submitted_ns = now;
  }
  /// `count` tasks (`bytes` in all) left for a worker; `begin` came from stamp().
  void sent(std::int64_t begin, std::uint64_t count, std::uint64_t bytes) const {
    if (obs_) obs_->on_span("send", begin, observe_clock::now(), count, bytes);
  }
  /// A message of `count` results (`bytes` long) was taken in; `begin` came from stamp().
  void received(std::int64_t begin, std::uint64_t count, std::uint64_t bytes) const {
    if (obs_) obs_->on_span("receive", begin, observe_clock::now(), count, bytes);
  }
  /// A worker's result for `t`: turns the worker's record into a task_event. `dispatched` and
  /// `bytes_in` are what the sender noted; `received` came from stamp().
  void result(const task& t, std::size_t slot, const wire::result_record& rec, std::int64_t dispatched,
              std::uint64_t bytes_in, std::int64_t received) const {
    if (obs_) report_result(t, slot, rec, dispatched, bytes_in, received);
  }
  /// `t` ran on a local thread of slot `slot` from `started` (from stamp()) until now.
  void ran_here(const task& t, std::size_t slot, std::int64_t started) const {
    if (!obs_) return;
    task_event e;
    e.slot = slot;
    e.elements = static_cast<std::uint32_t>(t.weight);
    e.submitted = t.submitted_ns;
    e.dispatched = e.started = started;
    e.ended = observe_clock::now();
    obs_->on_task_done(t, e);
  }
  /// Tasks queued and in flight, now.
  void queue_depth(std::size_t queued, std::size_t in_flight) const {
    if (obs_) obs_->on_queue_depth(observe_clock::now(), queued, in_flight);
  }
  /// Marks this moment (`what` a string literal).
  void instant(const char* what) const {
    if (obs_) obs_->on_instant(what, observe_clock::now());
  }
  /// Every task has been reported: the observer finishes (writes its trace, prints its summary).
  void finish() const noexcept {
    if (obs_) obs_->on_finish();
  }

 private:
  void report_result(const task& t, std::size_t slot, const wire::result_record& rec, std::int64_t dispatched,
                     std::uint64_t bytes_in, std::int64_t received) const;

  std::unique_ptr<observer> obs_;
};

}  // namespace rankpool::detail
