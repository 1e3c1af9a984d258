#pragma once
// Internal: the binary trace file and its conversion to the Chrome trace event format. While a
// pool runs, its trace is a stream of fixed-size records (plus the names they refer to), because
// formatting JSON per task on the pool's own cores cost up to half the rate of tiny tasks; when
// the pool shuts down (or, for a killed run, `rankpool-trace`) turns the stream into the JSON
// that Perfetto and chrome://tracing open. A torn last record, as a kill leaves, is ignored.

#include <cstdint>
#include <cstdio>
#include <string>

namespace rankpool::detail {

/// The first bytes of a binary trace file.
inline constexpr char trace_magic[8] = {'R', 'P', 'T', 'R', 'A', 'C', 'E', '1'};

/// The binary trace's name beside a JSON trace at `json_path`.
inline std::string binary_trace_path(const std::string& json_path) {
  return json_path + ".rptrace";
}

/// One record of the binary trace. Times are steady-clock nanoseconds.
struct trace_record {
  enum kind : std::uint8_t {
    pool,        ///< name: the pool's name; t0: the time the trace counts from
    string,      ///< name: the string's id; a: its length, its bytes follow (padded to records)
    track,       ///< a worker thread's track: track (the tid), name: its label
    task_slice,  ///< a task: track, name, elements; t0..t3 submitted, dispatched, started, ended;
                 ///< id, a = bytes in, b = bytes out
    span,        ///< the scheduler's work: name (a label), t0..t1; a = count, b = bytes
    counter,     ///< queue depth at t0: a = queued, b = in flight
    mark,        ///< an instant: name (a label), t0
    end,         ///< the pool finished: a = records dropped, b = tasks recorded
  };
  // What each field holds depends on the kind (above).
  kind k = pool;                                ///< what the record is
  std::uint8_t reserved[3] = {};                ///< zero
  std::uint32_t track_id = 0;                   ///< a worker thread's track
  std::uint32_t name = 0;                       ///< a string id
  std::uint32_t elements = 0;                   ///< a task's map elements
  std::int64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0;  ///< times
  std::uint64_t id = 0, a = 0, b = 0;           ///< a task's id, two counts
};
static_assert(sizeof(trace_record) == 72);

/// What a conversion found.
struct trace_conversion {
  std::uint64_t records = 0;  ///< records read
  bool complete = false;      ///< the pool finished (the file ends with its `end` record)
};

/// Converts the binary trace `in` (read from its start) into Chrome JSON written to `out`.
/// Throws rankpool::error when `in` is not a binary trace or writing fails.
trace_conversion convert_trace(std::FILE* in, std::FILE* out);

/// As above, from the file `binary_path` to the file `json_path` (created or replaced).
trace_conversion convert_trace(const std::string& binary_path, const std::string& json_path);

}  // namespace rankpool::detail
