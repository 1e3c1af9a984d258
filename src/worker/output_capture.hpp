#pragma once
// Internal: a task's stdout and stderr, captured at the file descriptors
// (executor_options::capture_output). Both descriptors point at one anonymous file while the task
// runs, so the two streams keep the order in which they were written, and printf, std::cout and
// child processes are caught alike. A worker runs one task at a time when it captures (checked by
// worker_config_of): descriptors belong to the whole process.

#include <cstddef>
#include <string>

namespace rankpool::detail {

/// Most bytes of output kept per task; of a longer output the end is kept, after a note.
inline constexpr std::size_t max_captured_output = std::size_t{1} << 20;

/// Flushes C stdio and the C++ standard streams, so what a task wrote reaches its descriptor
/// before the descriptor changes hands.
void flush_standard_streams() noexcept;

class output_capture {
 public:
  /// Makes the anonymous file that receives the output; throws rankpool::error when it cannot.
  output_capture();
  ~output_capture();
  output_capture(const output_capture&) = delete;
  output_capture& operator=(const output_capture&) = delete;

  /// Empties the file and points this process's stdout and stderr at it.
  void begin();
  /// Points stdout and stderr back where they were; returns what the task wrote.
  std::string end();

  /// For a child process that runs the tasks (isolate): points the child's stdout and stderr at
  /// the file for good. Called in the child right after fork.
  void redirect_for_good() const noexcept;
  /// What the file holds (at most max_captured_output bytes, see above), then empties it.
  std::string take();
  /// Empties the file without reading it.
  void clear() noexcept;

 private:
  int file_ = -1;
  int saved_out_ = -1;  // stdout and stderr between begin() and end()
  int saved_err_ = -1;
};

}  // namespace rankpool::detail
