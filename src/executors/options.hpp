#pragma once
// Internal: executor_options resolved against RANKPOOL_<OPTION> environment variables, and turned
// into the configurations of the pool's parts (scheduler, workers, telemetry, journal).

#include <cstddef>
#include <memory>
#include <optional>
#include <rankpool/detail/journal.hpp>
#include <rankpool/detail/task.hpp>
#include <rankpool/options.hpp>
#include <string>
#include <utility>
#include <vector>

#include "observe/telemetry.hpp"
#include "root/scheduler.hpp"
#include "worker/serve.hpp"

namespace rankpool::detail {

/// `explicit_value` if set, else the environment variable `name` (a non-negative integer),
/// else nullopt. Throws rankpool::error when the variable is not a number.
std::optional<std::size_t> option_size(const char* name, std::optional<std::size_t> explicit_value);
/// The environment variable `name` when set and not empty.
std::optional<std::string> option_string(const char* name);
/// As option_size for booleans (1/0, true/false, yes/no, on/off).
std::optional<bool> option_bool(const char* name, std::optional<bool> explicit_value);

/// How worker ranks run tasks: threads_per_worker, isolate, task_deadline. Throws
/// std::invalid_argument for values that cannot work together (isolate with several threads,
/// a deadline that is not positive) and rankpool::error for unreadable environment variables.
worker_config worker_config_of(const executor_options& o);

/// The scheduler's settings from `o` (in_flight, root_computes, trace and summary) and the
/// workers' `w`; the caller adds the communicator and the worker ranks. `name` names the pool in
/// traces and summaries.
scheduler_config scheduler_config_of(const executor_options& o, const worker_config& w, const char* name);

/// executor_options::trace / summary, or RANKPOOL_TRACE / RANKPOOL_SUMMARY.
telemetry_config telemetry_config_of(const executor_options& o);

/// max_workers, or RANKPOOL_MAX_WORKERS.
std::optional<std::size_t> max_workers_of(const executor_options& o);

/// executor_options::fit_cores, or RANKPOOL_FIT_CORES (default off).
bool fit_cores_of(const executor_options& o);

/// executor_options::retries (or RANKPOOL_RETRIES) with retry_if, or null when no task retries.
std::shared_ptr<const retry_rule> retry_rule_of(const executor_options& o);

/// executor_options::spawn_info, or RANKPOOL_SPAWN_INFO (`key=value` pairs separated by `;`).
/// Throws std::invalid_argument for a pair without `=`, an empty key, or a key or value longer
/// than MPI allows.
std::vector<std::pair<std::string, std::string>> spawn_info_of(const executor_options& o);

/// executor_options::spawn_args, or RANKPOOL_SPAWN_ARGS (separated by spaces).
std::vector<std::string> spawn_args_of(const executor_options& o);

/// The result journal of executor_options::journal (or RANKPOOL_JOURNAL), or null.
std::shared_ptr<journal> journal_of(const executor_options& o);

}  // namespace rankpool::detail
