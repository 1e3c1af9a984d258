#pragma once
/// \file options.hpp
/// Options of `map` and of the MPI executors.

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rankpool {

/// Options of `executor.map(f, range, options)`.
struct map_options {
  /// Elements per task: a chunk travels to a worker and runs there as one task. 0 lets the
  /// executor choose (see basic_executor::auto_chunksize).
  std::size_t chunksize = 1;
  /// Yield results in completion order instead of input order.
  bool unordered = false;
  /// Counted from the map call; iterating throws timeout_error once it has run out.
  std::optional<std::chrono::duration<double>> timeout{};
  /// Result journal file for this map (MPI executors; overrides executor_options::journal): see
  /// executor_options::journal.
  std::optional<std::string> journal{};
  /// Progress bar on stderr (done/total, rate, elapsed, ETA, busy workers), drawn by the root:
  /// true forces it on (plain periodic lines when stderr is not a terminal), false off. Unset:
  /// RANKPOOL_PROGRESS decides (1/true/yes/on, 0/false/no/off), else it is on exactly when
  /// stderr is a terminal, so batch jobs' logs stay clean unless asked.
  std::optional<bool> progress{};
  /// Bounded lazy map: at most this many chunks submitted whose results the consumer has not
  /// yet taken. The input is read only as results are taken (one chunk more for each chunk
  /// taken), so an endless generator of inputs runs in constant memory. Unset: every element is
  /// submitted by the map call. 0 throws std::invalid_argument.
  std::optional<std::size_t> buffersize{};
  /// Every chunk of this map starts before the waiting tasks of lower priority and after those
  /// of higher priority; equal priorities keep submission order (see submit_options::priority).
  int priority = 0;
  /// Each worker takes the chunks of one contiguous stretch of the input first, as a static
  /// split would (worker i of n: the i-th n-th), and a worker that has run out of its own takes
  /// the last waiting chunk of another's stretch, so none idles while a chunk waits. For maps
  /// whose neighbouring elements read neighbouring data, such as indices into a shared stack:
  /// each worker then reads one region of the node's window, which it mapped while the window
  /// was filled, instead of pages from all of it. MPI executors, inputs of known size (not with
  /// buffersize); elsewhere it changes nothing.
  bool contiguous = false;
};

/// Options of one call, `executor.submit_with(options, f, args...)`.
struct submit_options {
  /// Higher starts first among the tasks not yet started that wait at the root (or in a local
  /// executor's queue); equal priorities keep submission order. Tasks already sent ahead to a
  /// worker's window keep their place there (executor_options::in_flight = 1 sends none ahead).
  int priority = 0;
  /// Runs after a failed first one, at most, for this call (overrides executor_options::retries;
  /// which failures are retried: executor_options::retry_if).
  std::optional<std::size_t> retries{};
};

/// Options of comm_executor and spawn_executor. Every field left empty can be set by an
/// environment variable `RANKPOOL_<FIELD>` (e.g. RANKPOOL_MAX_WORKERS=4); a value set in code
/// overrides the environment.
struct executor_options {
  /// Number of workers. comm_executor: at most size-1 worker ranks are used (default: all);
  /// spawn_executor: processes to spawn (default 1, or the universe size minus one when known);
  /// on a one-rank communicator: local threads (default: hardware threads). 0 (or a value of
  /// RANKPOOL_MAX_WORKERS below 1) throws std::invalid_argument, as in concurrent.futures.
  std::optional<std::size_t> max_workers{};
  /// Run once on every worker before its first task. If it throws, the executor is broken and
  /// every pending and later future fails with broken_executor. With spawn_executor it must
  /// hold a plain function pointer (the spawned processes find it by address).
  std::function<void()> initializer{};
  /// Tasks kept in flight per worker, so a worker never waits a round trip between tasks
  /// (RANKPOOL_IN_FLIGHT). Unset: sized from the measured task time, about 100 µs of work
  /// ahead, between 2 and 512 tasks.
  std::optional<std::size_t> in_flight{};
  /// The root runs tasks as well, on a thread of its own, so all N ranks compute
  /// (RANKPOOL_ROOT_COMPUTES=1).
  std::optional<bool> root_computes{};
  /// Threads that run tasks inside each worker rank, for one rank per node with threads inside
  /// (RANKPOOL_THREADS_PER_WORKER, default 1). The initializer runs once per thread.
  std::optional<std::size_t> threads_per_worker{};
  /// Run each worker's tasks in a child process it supervises (RANKPOOL_ISOLATE=1): a task that
  /// segfaults, aborts or calls exit fails only its own future with task_crashed, and the worker
  /// starts a fresh child. Costs a process hop per task. Not combinable with threads_per_worker.
  std::optional<bool> isolate{};
  /// With isolate: a worker replaces its child process with a fresh one after this many tasks
  /// (RANKPOOL_MAX_TASKS_PER_CHILD; unset or 0: only after a crash), so memory that a leaky
  /// library holds is given back, as ProcessPoolExecutor's max_tasks_per_child. Set without
  /// isolate, it throws std::invalid_argument.
  std::optional<std::size_t> max_tasks_per_child{};
  /// Longest a task (a map chunk counts as one task) may run: past it stop_requested() turns
  /// true, and a task that still overruns fails with timeout_error; with isolation a task busy
  /// one second past its deadline is killed (RANKPOOL_TASK_DEADLINE, in seconds).
  std::optional<std::chrono::duration<double>> task_deadline{};
  /// Result journal (RANKPOOL_JOURNAL): every successful task's result is appended to this file
  /// under the SHA-256 of the task's function and serialized arguments; a re-run of the same
  /// program after a kill (kill -9, a Slurm time-out) takes finished tasks from it instead of
  /// running them, with identical results. A torn last record is detected and ignored. Failed
  /// tasks are not recorded, so they run again. Used by the root only.
  std::optional<std::string> journal{};
  /// Timeline trace (RANKPOOL_TRACE): the root writes this file in the Chrome trace event format
  /// (open it in https://ui.perfetto.dev or chrome://tracing): a track per worker (and per thread
  /// of a threads_per_worker team) with a slice per task named after its function, the time each
  /// task queued between submit and start, and the scheduler's own sends and receives. Streamed
  /// while the pool runs, so memory stays bounded. Further executors of one process given the
  /// same path write run.2.json, run.3.json, ... instead of overwriting it.
  std::optional<std::string> trace{};
  /// Runs after a failed first one, at most, for every task (RANKPOOL_RETRIES, default 0): a
  /// task whose failure retry_if accepts is queued again, and its future fails only when the
  /// retries are used up, with the last error, whose message then ends "(after N attempts)".
  /// A map chunk retries as a whole (a crash, a deadline); an element's own exception stays at
  /// its position. The journal records only the attempt that succeeded.
  std::optional<std::size_t> retries{};
  /// Which failures are retried: called with the exception and the number of the attempt that
  /// failed (from 1). Unset: a task_crashed (executor_options::isolate) or the timeout_error of
  /// a task past its task_deadline, never the task's own exception. A task whose stop was
  /// requested, or that was cancelled, is not retried.
  std::function<bool(std::exception_ptr, std::size_t attempt)> retry_if{};
  /// spawn_executor: MPI_Info keys for MPI_Comm_spawn, where and how the workers start, e.g.
  /// {{"host", "node2"}}, {{"hostfile", "hosts.txt"}}, {{"wdir", "/scratch/run1"}} (the keys the
  /// MPI implementation knows: Open MPI's MPI_Comm_spawn man page lists them). RANKPOOL_SPAWN_INFO:
  /// `key=value` pairs separated by `;`. A key that is empty or too long for MPI throws
  /// std::invalid_argument; a key the MPI does not know is ignored by it.
  std::vector<std::pair<std::string, std::string>> spawn_info{};
  /// spawn_executor: extra command-line arguments of the spawned workers (after the flag rankpool
  /// adds, which marks them as workers). RANKPOOL_SPAWN_ARGS: separated by spaces.
  std::vector<std::string> spawn_args{};
  /// Keep each task's stdout and stderr with its result (RANKPOOL_CAPTURE_OUTPUT=1):
  /// future::output() returns them and a failed task's remote_error message ends with them,
  /// instead of the lines of all workers interleaving on the launcher's terminal. Captured at
  /// the file descriptors, so printf, std::cout and child processes count; with isolate the
  /// worker captures its child's output, so the output before a crash is kept too. The worker
  /// process must run one task at a time: with threads_per_worker > 1, root_computes or a
  /// one-rank pool (tasks on threads of the caller's process) it throws std::invalid_argument.
  /// Up to 1 MiB per task is kept (the end of the output, after a note of what was dropped).
  std::optional<bool> capture_output{};
  /// Print a table at shutdown (RANKPOOL_SUMMARY=1): per worker the tasks, busy %, bytes in and
  /// out and task time percentiles, and the root's queue peak.
  std::optional<bool> summary{};
  /// comm_executor: run tasks on no more worker ranks of a node than its CPUs can run at once
  /// (RANKPOOL_FIT_CORES=1). Where mpirun placed more ranks on a node than it has cores
  /// (--oversubscribe), the ranks beyond that stay idle, like those beyond max_workers, instead
  /// of time-sharing the cores: CPU-bound tasks then run as fast as with one rank per core. A
  /// node's CPUs are the union of its ranks' affinity masks; one worker rank per
  /// threads_per_worker of them, less one for a root_computes root on its node. Leave it off for
  /// tasks that wait (I/O, sleeps, other ranks), which gain from more workers than cores.
  std::optional<bool> fit_cores{};
};

}  // namespace rankpool
