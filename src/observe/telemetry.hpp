#pragma once
// Internal: what a pool records about itself when asked — a Chrome trace (RANKPOOL_TRACE) and a
// summary table at shutdown (RANKPOOL_SUMMARY). Cores call in from their scheduling threads;
// the trace is formatted and written by a thread of its own, so the scheduler only appends
// fixed-size records to a bounded buffer.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <rankpool/options.hpp>
#include <string>

namespace rankpool::detail {

class task;

/// What to record: the trace file ("" = none) and whether to print the summary.
struct telemetry_config {
  std::string trace_path;
  bool summary = false;
};

class telemetry {
 public:
  /// Steady-clock nanoseconds (the clock of every timestamp handed in).
  static std::int64_t now() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  /// CLOCK_REALTIME minus the steady clock, measured once per process. Workers report task start
  /// times on the real-time clock (steady + this), which every process of a host shares and NTP
  /// keeps close across hosts, so the root can place them on its own timeline.
  static std::int64_t realtime_offset() noexcept;

  /// A recorder, or null when neither a trace nor a summary is asked for. `pool` names the
  /// executor in the trace ("comm_executor", ...). Throws rankpool::error when the trace file
  /// cannot be created.
  static std::unique_ptr<telemetry> make(const telemetry_config& c, std::string pool);
  virtual ~telemetry() = default;

  /// Declares worker slot `slot` (a rank, or the root's own thread) with `lanes` threads; its
  /// tracks are named after `label` ("rank 3").
  virtual void add_slot(std::size_t slot, std::string label, std::size_t lanes) = 0;

  /// One finished task: where it ran and when, and the bytes it moved. Times are on the root's
  /// steady clock, except that when `received` is set, `started` is the task's start as its
  /// worker reported it on the real-time clock (see realtime_offset) and `received` is when its
  /// result arrived: the recorder converts it, and where the worker's real-time clock runs ahead
  /// of the root's (another host; a result would seem to arrive before it finished) shifts it
  /// by the smallest such gap seen from that worker.
  struct task_event {
    std::uint64_t id = 0;
    std::size_t slot = 0;
    std::uint32_t lane = 0;
    std::uint32_t elements = 1;  // map elements in the task (a chunk)
    std::int64_t submitted = 0, dispatched = 0, started = 0, ended = 0, received = 0;
    std::uint64_t bytes_in = 0, bytes_out = 0;
  };
  /// Records a task; `t` names it (its function). Thread-safe.
  virtual void task_done(const task& t, const task_event& e) = 0;

  /// A span of the scheduler's own work (`what` must be a string literal): sending a batch of
  /// `count` tasks, taking in results.
  virtual void scheduler_span(const char* what, std::int64_t begin, std::int64_t end, std::uint64_t count,
                              std::uint64_t bytes) = 0;
  /// Tasks waiting at the root and in flight at workers, now (sampled at most every ms; the
  /// summary keeps the peak of every call).
  virtual void queue_depth(std::int64_t at, std::size_t queued, std::size_t in_flight) = 0;
  /// A moment worth marking on the scheduler's track (`what` a string literal).
  virtual void instant(const char* what, std::int64_t at) = 0;

  /// Ends the recording: finishes the trace file and prints the summary (once).
  virtual void finish() noexcept = 0;
};

}  // namespace rankpool::detail
