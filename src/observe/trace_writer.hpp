#pragma once
// Internal: streams a pool's binary trace (trace_file.hpp) to disk from a thread of its own, so
// the pool's threads only copy fixed-size records into a bounded buffer. Past max_pending
// waiting records, records are dropped and counted (the count is in the trace's end record), so
// memory stays bounded whatever the run's length.

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "observe/trace_file.hpp"

namespace rankpool::detail {

class trace_writer {
 public:
  /// Records waiting for the writer at most (~18 MiB).
  static constexpr std::size_t max_pending = 1 << 18;

  /// Creates the binary trace at `path` and starts the writer thread. Throws rankpool::error
  /// when the file cannot be created.
  explicit trace_writer(std::string path);
  /// Ends the trace (see close).
  ~trace_writer();
  trace_writer(const trace_writer&) = delete;
  trace_writer& operator=(const trace_writer&) = delete;

  /// Defines string `id` (before any record that names it). Never dropped. Thread-safe.
  void add_string(std::uint32_t id, std::string s);
  /// Queues a record that must not be dropped (the pool, a track). Thread-safe.
  void add_always(const trace_record& r);
  /// Queues a record, or drops and counts it when max_pending wait already. Thread-safe.
  void add(const trace_record& r);
  /// Writes what waits, an end record with the drop count and `tasks`, and closes the file.
  /// False when writing failed (logged). Idempotent.
  bool close(std::uint64_t tasks) noexcept;
  /// The binary trace's path.
  const std::string& path() const noexcept { return path_; }

 private:
  void loop();
  void write(const std::vector<std::pair<std::uint32_t, std::string>>& strings,
             const std::vector<trace_record>& records);

  std::string path_;
  std::FILE* file_ = nullptr;
  bool failed_ = false;  // a write failed (writer thread, then close)

  std::mutex m_;
  std::condition_variable cv_;
  std::vector<trace_record> pending_;
  std::vector<std::pair<std::uint32_t, std::string>> strings_;
  std::uint64_t dropped_ = 0;
  bool closing_ = false;
  std::thread thread_;
};

}  // namespace rankpool::detail
