#pragma once
// Internal: the summary table a pool prints at shutdown (RANKPOOL_SUMMARY): per worker slot the
// tasks, elements, busy time, bytes moved and task-time percentiles, plus the peaks of the root's
// queue and of the tasks in flight. Kept as counters and a log-spaced histogram per slot, so a run
// of any length costs a fixed amount of memory.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rankpool::detail {

/// Log-spaced histogram of task times: 4 buckets per power of two (about 19% wide), enough for
/// percentiles in a summary without keeping every sample.
class histogram {
 public:
  /// Counts one time (values below 1 count as 1).
  void add(std::int64_t ns);
  /// Adds every count of `o`.
  void merge(const histogram& o);
  /// Times counted.
  std::uint64_t count() const noexcept { return n_; }
  /// The largest time counted.
  std::uint64_t max() const noexcept { return max_; }
  /// The q-quantile (0..1), as the middle of its bucket, never above the maximum seen.
  double quantile(double q) const;

 private:
  static std::size_t bucket(std::uint64_t v);
  static double middle(std::size_t i);
  std::array<std::uint64_t, 64 * 4> counts_{};
  std::uint64_t n_ = 0, max_ = 0;
};

/// The summary's numbers. Not thread-safe: the recorder holds its lock around every call.
class summary {
 public:
  /// Declares slot `slot`, with `lanes` threads, labelled `label` ("rank 3").
  void add_slot(std::size_t slot, std::string label, std::size_t lanes);
  /// Whether `slot` was declared.
  bool has_slot(std::size_t slot) const noexcept { return slot < slots_.size(); }
  /// One finished task on `slot`: its elements, how long it ran and the bytes it moved.
  void add_task(std::size_t slot, std::uint32_t elements, std::int64_t busy_ns, std::uint64_t bytes_in,
                std::uint64_t bytes_out);
  /// Tasks queued and in flight at some moment: the peaks are kept.
  void queue_depth(std::size_t queued, std::size_t in_flight) noexcept;
  /// Tasks recorded over all slots.
  std::uint64_t total_tasks() const noexcept;
  /// Prints the table on stderr for pool `pool` that ran `wall_ns`. Never throws (out of memory:
  /// no table).
  void print(const std::string& pool, std::int64_t wall_ns) const noexcept;

 private:
  struct slot_stats {
    std::string label;
    std::size_t lanes = 1;
    std::uint64_t tasks = 0, elements = 0, bytes_in = 0, bytes_out = 0;
    std::int64_t busy_ns = 0;
    histogram times;
  };
  std::vector<slot_stats> slots_;
  std::size_t queue_peak_ = 0, in_flight_peak_ = 0;
};

}  // namespace rankpool::detail
