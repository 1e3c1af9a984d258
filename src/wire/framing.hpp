#pragma once
// Message framing. Every message starts with a fixed header; task and result bodies follow in
// the same buffer (executors reserve the header's room when they encode, so nothing is copied).
// decode_header validates everything a later step relies on.

#include <cstdint>
#include <cstring>
#include <rankpool/detail/task.hpp>
#include <string>

namespace rankpool::detail::wire {

inline constexpr std::uint32_t magic = 0x52504c31;  // "RPL1"

enum class kind : std::uint8_t {
  task = 1,             // root -> worker, id = task id; body = invoker key, callable, arguments
  task_batch = 2,       // root -> worker, id = count; body = count task records
  result_batch = 3,     // worker -> root, id = count; body = count result records
  shutdown = 4,         // root -> worker: leave the serve loop
  init_failed = 5,      // worker -> root: the initializer threw; body = exception
  stop = 6,             // root -> worker on the control tag, id = task: stop_requested() turns true;
                        // body_bytes = a signal for an isolated task's process (0: none)
  worker_failed = 7,    // worker -> root: the serve loop failed (an MPI call); body = the error's text
  bye = 8,              // worker -> root: answer to a shutdown with flag_acknowledge
  answer = 9,           // worker -> root, id = requests answered; body = answer_counts, then the ids
                        // (uint64) of the tasks it will not run, then of those cancelled too late
  cancel = 10,          // root -> worker on the control tag, id = task: skip it unless it started
  take_back = 11,       // root -> worker on the control tag, id = n: return up to n unstarted tasks
  share_open = 12,      // root -> every worker and idle rank, id = shared value; body = share_record
                        // (its bytes follow on tag_share where the record says)
  share_close = 13,     // root -> every worker and idle rank, id = shared value: no task holds it any more
  nested_submit = 14,   // worker -> root, id = the worker's number for a task its task submitted
                        // (this_pool()); body = nested_record, then the task body
  nested_lend = 15,     // worker -> root: a task waits on its nested tasks and lends its thread
  nested_reclaim = 16,  // worker -> root: the waiting task has its thread back
  nested_cancel = 17,   // worker -> root, id = the worker's number: cancel it unless it started
  nested_result = 18,   // root -> worker, id = the worker's number; body = the result body, or
                        // nothing with flag_cancelled or flag_refused
  last = nested_result
};

/// Opens a nested_submit's body.
struct nested_record {
  std::int32_t priority;  // submit_options::priority
  std::uint32_t retries;  // submit_options::retries, or the executor's (0: none)
};

/// Flags of a nested_result: the task was cancelled (nothing follows), or a cancel came after it
/// started (it runs on; its result follows in a later nested_result).
inline constexpr std::uint8_t flag_cancelled = 1;
inline constexpr std::uint8_t flag_refused = 2;

/// How a shared value reaches a rank (the body of a share_open).
enum class share_mode : std::uint8_t {
  window = 0,  // contiguous bytes in the node's shared window; the node's leader receives them
               // on tag_share unless the root is on its node
  encoded = 1  // the value as codec<T> wrote it, for every rank, on tag_share
};

/// The body of a share_open.
struct share_record {
  std::uint64_t bytes;    // the value's bytes (contiguous) or its encoding's
  std::uint64_t dims[2];  // elements, or rows and columns
  std::uint8_t mode;      // share_mode
  std::uint8_t reserved[3];
  std::uint32_t stripe;   // the receiving worker's slot: its stretch of a contiguous map (map_options)
  std::uint32_t stripes;  // worker slots; 0 for a rank that runs no tasks (an idle rank)
  std::uint8_t reserved2[4];
};
static_assert(sizeof(share_record) == 40);

/// Opens the body of an answer: how many task ids of each list follow.
struct answer_counts {
  std::uint64_t returned;  // tasks that will not run on this worker: the root has them back
  std::uint64_t refused;   // cancels that came after the task started
};

/// Precedes each task of a task_batch; `bytes` of task body follow.
struct task_record {
  std::uint64_t id;
  std::uint64_t bytes;
};

/// Precedes each result of a result_batch; `bytes` of result body (status byte, then the value
/// or the exception) follow. `exec_ns` is how long the task ran, which sizes the root's window;
/// `start_ns` (the worker's real-time clock, see observe_clock::realtime_offset in observe/observer.hpp) and `lane`
/// (the thread of a threads_per_worker team) place it on the timeline of a trace. The last
/// `output_bytes` of the body are the task's captured stdout and stderr (capture_output; 0
/// without it, at most max_captured_output plus a note).
struct result_record {
  std::uint64_t id;
  std::uint64_t exec_ns;
  std::uint64_t bytes;
  std::int64_t start_ns;
  std::uint32_t lane;
  std::uint32_t output_bytes;
};
static_assert(sizeof(result_record) == 40);

struct header {
  std::uint32_t magic;
  std::uint8_t kind;
  std::uint8_t reserved[3];
  std::uint64_t id;          // task id (unique per executor), record count of a batch, or 0
  std::uint64_t body_bytes;  // bytes after the header, over all parts of the message
};
static_assert(sizeof(header) == 24);
static_assert(sizeof(header) == task_header_room);

/// Flag of a task_batch: answer each task as soon as it is done (the root keeps few tasks in
/// flight because they are long, so holding a result back for the next one would delay it).
inline constexpr std::uint8_t flag_answer_each = 1;

/// Flag of a lone task: it runs on this rank or nowhere, so a take-back never returns it (a
/// member of a team task, whose partners are waiting for it on their ranks).
inline constexpr std::uint8_t flag_pinned = 1;

/// Flag of a shutdown: answer with a bye. The root asks for it after a failure, when it drains
/// the workers' messages until each has stopped (see scheduler's release_workers).
inline constexpr std::uint8_t flag_acknowledge = 2;

inline void put_header(char* at, kind k, std::uint64_t id, std::uint64_t body_bytes, std::uint8_t flags = 0) {
  header h{magic, static_cast<std::uint8_t>(k), {flags, 0, 0}, id, body_bytes};
  std::memcpy(at, &h, sizeof h);
}

/// Validates the header at the start of a received first part of `part_bytes` bytes.
inline header decode_header(const char* data, std::size_t part_bytes) {
  if (part_bytes < sizeof(header))
    throw decode_error("rankpool: message of " + std::to_string(part_bytes) + " bytes is shorter than a header");
  header h;
  std::memcpy(&h, data, sizeof h);
  if (h.magic != magic) throw decode_error("rankpool: message with a bad magic number (not a rankpool message)");
  if (h.kind < static_cast<std::uint8_t>(kind::task) || h.kind > static_cast<std::uint8_t>(kind::last))
    throw decode_error("rankpool: message of unknown kind " + std::to_string(h.kind));
  if (h.body_bytes < part_bytes - sizeof(header))
    throw decode_error("rankpool: message body is longer than its header says");
  return h;
}

}  // namespace rankpool::detail::wire
