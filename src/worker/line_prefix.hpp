#pragma once
// Internal: RANKPOOL_LOG=prefix. While a worker serves, its stdout and stderr go through pipes,
// and a thread writes each line to where they pointed before with "[rank@host] " in front, so a
// terminal that mixes the lines of many ranks says whose each one is (what Open MPI's
// --tag-output does for a whole job, here for the workers of one pool). Not used with
// capture_output, where each task's output comes back with its result instead.

#include <string>
#include <thread>

namespace rankpool::detail {

class line_prefix {
 public:
  /// Sends this process's stdout and stderr through the pipes; throws rankpool::error when a
  /// pipe or the thread cannot be made (nothing is changed then).
  explicit line_prefix(std::string prefix);
  /// Points stdout and stderr back, then writes what is still on its way (a last line without
  /// its newline gets one). Output that a process still running writes into a pipe afterwards
  /// is lost; output in a pipe when the worker process dies is lost with it.
  ~line_prefix();
  line_prefix(const line_prefix&) = delete;
  line_prefix& operator=(const line_prefix&) = delete;

 private:
  struct stream {
    int fd = -1;      // 1 or 2
    int target = -1;  // where fd pointed before
    int from = -1;    // the pipe's read end
    std::string partial;
  };
  void pump();
  // Writes the complete lines of s.partial (all of it when `all`), each after the prefix.
  void emit(stream& s, bool all);

  std::string prefix_;
  stream streams_[2];
  int wake_[2] = {-1, -1};  // a byte here ends the pump
  std::thread thread_;
};

}  // namespace rankpool::detail
