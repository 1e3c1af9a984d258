#pragma once
// Internal: the recorder, the observer a pool gets when a trace (RANKPOOL_TRACE) or a summary
// (RANKPOOL_SUMMARY) is asked for. It places every event on the root's timeline and hands it to
// its parts: the summary (summary.hpp), the binary trace writer (trace_writer.hpp) with the task
// names (task_naming.hpp), and at the end the conversion to the Chrome JSON (trace_file.hpp).

#include <memory>
#include <string>

#include "observe/observer.hpp"

namespace rankpool::detail {

/// What to record: the trace file ("" = none) and whether to print the summary.
struct telemetry_config {
  std::string trace_path;
  bool summary = false;
};

/// A recorder, or null when neither a trace nor a summary is asked for. `pool` names the executor
/// in the trace ("comm_executor", ...). Throws rankpool::error when the trace file cannot be
/// created.
std::unique_ptr<observer> make_telemetry(const telemetry_config& c, std::string pool);

}  // namespace rankpool::detail
