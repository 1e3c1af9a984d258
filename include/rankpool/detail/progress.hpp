#pragma once
// The progress display of map and as_completed (src/progress.cpp): counters that completion
// callbacks bump with one atomic add, and one drawing thread per process that wakes about 10
// times a second while a display is active (redrawing a terminal line, or a plain line every
// interval) and sleeps on a condition variable otherwise. Kept out of the templates, so the
// headers only carry the counters.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace rankpool::detail {

class progress : public std::enable_shared_from_this<progress> {
 public:
  /// How the display is drawn: one line redrawn in place ("\r" and an erase-line code), or plain
  /// lines for a log file.
  enum class mode { terminal, plain };

  /// Timing and destination of a display; start() fills it from the environment.
  struct settings {
    mode how = mode::plain;
    /// Forced on (map_options::progress or RANKPOOL_PROGRESS): the final line is written even for
    /// a run too short to have drawn anything, so a log always records it.
    bool forced = false;
    /// Nothing is drawn before this, so quick maps stay silent (as tqdm's delay).
    std::chrono::duration<double> delay{0.5};
    /// Between redraws on a terminal: at most ~10 a second, fluid but cheap.
    std::chrono::duration<double> redraw{0.1};
    /// Between plain lines (RANKPOOL_PROGRESS_INTERVAL, default 10 s): a log gets a line now and
    /// then, not a flood.
    std::chrono::duration<double> interval{10.0};
    /// Where it is written (stderr; tests pass a pipe).
    int fd = 2;
  };

  /// Reports the workers running a task now and the workers in all (for "busy 7/7").
  using workers_probe = std::function<void(std::size_t& busy, std::size_t& total)>;

  /// Everything one line shows; render() turns it into text (separate, so tests can check the
  /// format without timing).
  struct snapshot {
    std::string label;
    std::size_t done = 0;
    std::size_t total = 0;
    bool total_known = false;
    double elapsed_s = 0;
    double rate = 0;  ///< elements per second
    bool has_workers = false;
    std::size_t busy = 0;
    std::size_t workers = 0;
    bool final = false;  ///< the last line: average rate, no ETA, no busy count
  };

  /// Starts a display when progress is on (see enabled()) and returns it; null when it is off,
  /// so a map without a display pays one null check per chunk and no thread. `probe`: how many
  /// workers are busy; empty: summed over every executor of this process (detail::live_workers).
  static std::shared_ptr<progress> start(std::string label, std::optional<bool> option, workers_probe probe = {});

  /// Starts a display with explicit settings (start() uses this; tests too).
  static std::shared_ptr<progress> start(std::string label, settings s, workers_probe probe);
  /// Use start(): the display must be shared with the drawing thread.
  progress(std::string label, settings s, workers_probe probe);
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;
  ~progress() = default;

  /// Whether a display is shown for map_options::progress (or as_completed's switch) `option`: the
  /// option decides when set; else RANKPOOL_PROGRESS; else whether stderr is a terminal.
  static bool enabled(std::optional<bool> option);
  /// RANKPOOL_PROGRESS: 1/true/yes/on force the display on, 0/false/no/off force it off; unset
  /// or empty: no say. Any other value is ignored with a warning on stderr (once per value), so
  /// a typo does not silently change what a job prints.
  static std::optional<bool> env_switch();
  /// RANKPOOL_PROGRESS_INTERVAL (seconds, fractional allowed, > 0); 10 s when unset, and with a
  /// warning when not a positive number.
  static std::chrono::duration<double> env_interval();

  /// `n` more elements to do. While the total is open (an unsized map input still being split
  /// into chunks) the line shows it as a lower bound ("4521/5000+") without percentage or ETA.
  void add_total(std::size_t n) noexcept { total_.fetch_add(n, std::memory_order_seq_cst); }
  /// No more add_total: from now on the display ends as soon as every element is settled.
  void close_total() noexcept;
  /// `n` elements finished (a chunk's completion callback): one atomic add, no lock.
  void add_done(std::size_t n) noexcept { settle(n, true); }
  /// `n` elements that will never finish (cancelled chunks): they end the display but are not
  /// counted as done.
  void add_dropped(std::size_t n) noexcept { settle(n, false); }
  /// `n` elements handed to the caller (a map chunk taken by the range, a future yielded by
  /// as_completed). They are done, but a completion callback may still be on its way on another
  /// thread (callbacks run after waiters wake): the count shown is the larger of the two, so
  /// the final line of a fully consumed map always says N/N.
  void add_delivered(std::size_t n) noexcept {
    const std::size_t now = delivered_.fetch_add(n, std::memory_order_seq_cst) + n;
    if (known_.load(std::memory_order_seq_cst) && now >= total_.load(std::memory_order_seq_cst)) {
      end_of_work();
      finish();  // the consumer has it all: the final line now, before its next output
    }
  }
  /// Ends the display now (the map's range was destroyed, perhaps before the end): the final line
  /// (when something was drawn, or in forced mode) and a newline, written by the caller before
  /// it returns, so the program's next output comes after it. Idempotent.
  void finish() noexcept;

  /// Elements finished so far.
  std::size_t done() const noexcept {
    return std::max(done_.load(std::memory_order_relaxed), delivered_.load(std::memory_order_relaxed));
  }
  /// Elements known so far.
  std::size_t total() const noexcept { return total_.load(std::memory_order_relaxed); }

  /// The text of one line, without "\r", escape codes or newline. Terminal mode fits it into
  /// `width` columns (the bar shrinks, then goes, then the line is cut).
  static std::string render(const snapshot& s, mode how, std::size_t width = 80);

 private:
  friend struct progress_hub;
  void settle(std::size_t n, bool counted) noexcept {
    if (counted) done_.fetch_add(n, std::memory_order_relaxed);
    const std::size_t now = settled_.fetch_add(n, std::memory_order_seq_cst) + n;
    if (known_.load(std::memory_order_seq_cst) && now >= total_.load(std::memory_order_seq_cst)) end_of_work();
  }
  // Every element settled (any thread, often the executor's): marks the end and lets go of the
  // probe, but writes nothing (the caller may be the scheduler, which must never block on
  // stderr); the final line comes from the consumer (add_delivered, finish) or the next tick.
  void end_of_work() noexcept;
  // The drawing thread's turn: a line, or the final one once the work is over.
  void tick() noexcept;
  snapshot sample_locked(bool final);
  void write_line(const snapshot& s) noexcept;

  std::string label_;
  settings settings_;
  workers_probe probe_;  // cleared (under m_) once the work is over: the executor may go next
  // Written by different threads (the map's caller, the executor's completing thread, the
  // consumer): each group on its own cache line, so counting does not bounce lines between cores.
  alignas(64) std::atomic<std::size_t> total_{0};
  std::atomic<bool> known_{false};
  std::atomic<bool> ended_{false};
  alignas(64) std::atomic<std::size_t> done_{0};
  std::atomic<std::size_t> settled_{0};  // done + dropped
  alignas(64) std::atomic<std::size_t> delivered_{0};
  alignas(64) std::mutex m_;  // the state below; never held while writing
  bool work_over_ = false;
  bool stopped_ = false;  // finish() was called: no more periodic lines
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point end_;
  // Recent (time, done) samples: the rate shown is over the last few seconds, so it follows a
  // change of pace; the final line shows the average instead.
  static constexpr std::size_t sample_cap = 8;
  std::chrono::steady_clock::time_point sample_t_[sample_cap];
  std::size_t sample_done_[sample_cap] = {};
  std::size_t samples_ = 0;

  std::mutex write_m_;   // orders the lines: none after the final one
  bool drawn_ = false;   // something was written (under write_m_)
  bool closed_ = false;  // the final line is out, or was not needed (under write_m_)

  std::chrono::steady_clock::time_point next_draw_;  // under the hub's lock
};

}  // namespace rankpool::detail
