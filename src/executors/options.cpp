// executor_options resolved against the environment (see options.hpp).

#include "executors/options.hpp"

#include <mpi.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <rankpool/detail/journal.hpp>
#include <rankpool/errors.hpp>
#include <sstream>
#include <stdexcept>
#include <string>

#include "common/text.hpp"

namespace rankpool::detail {

std::optional<std::size_t> option_size(const char* name, std::optional<std::size_t> explicit_value) {
  if (explicit_value) return explicit_value;
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  std::string s(v);
  if (!std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }) || s.size() > 18)
    throw error(std::string("rankpool: environment variable ") + name + "=" + s + " is not a non-negative integer");
  return static_cast<std::size_t>(std::stoull(s));
}

std::optional<std::string> option_string(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::optional<bool> option_bool(const char* name, std::optional<bool> explicit_value) {
  if (explicit_value) return explicit_value;
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  const std::string s = lowercase(v);
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  throw error(std::string("rankpool: environment variable ") + name + "=" + v + " is not a boolean (use 1 or 0)");
}

namespace {

std::size_t in_flight_of(const executor_options& o) {
  return option_size("RANKPOOL_IN_FLIGHT", o.in_flight).value_or(0);
}
std::size_t threads_of(const executor_options& o) {
  return std::max<std::size_t>(1, option_size("RANKPOOL_THREADS_PER_WORKER", o.threads_per_worker).value_or(1));
}
std::uint64_t deadline_of(const executor_options& o) {
  std::optional<std::chrono::duration<double>> d = o.task_deadline;
  if (!d) {
    if (const char* e = std::getenv("RANKPOOL_TASK_DEADLINE"); e && *e) {
      char* end = nullptr;
      double secs = std::strtod(e, &end);
      if (end == e || *end || !(secs > 0))
        throw error(std::string("rankpool: environment variable RANKPOOL_TASK_DEADLINE=") + e +
                    " is not a positive number of seconds");
      d = std::chrono::duration<double>(secs);
    }
  }
  if (!d) return 0;
  if (!(d->count() > 0)) throw std::invalid_argument("rankpool: task_deadline must be positive");
  return static_cast<std::uint64_t>(d->count() * 1e9);
}

bool isolate_of(const executor_options& o) {
  bool iso = option_bool("RANKPOOL_ISOLATE", o.isolate).value_or(false);
  if (iso && threads_of(o) > 1)
    throw std::invalid_argument("rankpool: isolate and threads_per_worker > 1 cannot be combined");
  return iso;
}

}  // namespace

worker_config worker_config_of(const executor_options& o) {
  worker_config w;
  w.threads = threads_of(o);
  w.isolate = isolate_of(o);
  w.deadline_ns = deadline_of(o);
  w.max_tasks_per_child = option_size("RANKPOOL_MAX_TASKS_PER_CHILD", o.max_tasks_per_child).value_or(0);
  if (w.max_tasks_per_child && !w.isolate)
    throw std::invalid_argument(
        "rankpool: max_tasks_per_child needs isolate (RANKPOOL_ISOLATE=1): only an isolated worker runs its tasks in "
        "a child process it can replace");
  w.capture_output = option_bool("RANKPOOL_CAPTURE_OUTPUT", o.capture_output).value_or(false);
  if (w.capture_output && w.threads > 1)
    throw std::invalid_argument(
        "rankpool: capture_output and threads_per_worker > 1 cannot be combined: a process's stdout and stderr are "
        "shared by its threads, so output is captured per worker process, one task at a time");
  // Checked here, on every rank before the pool's first collective, so all of them refuse it.
  if (w.capture_output && option_bool("RANKPOOL_ROOT_COMPUTES", o.root_computes).value_or(false))
    throw std::invalid_argument(
        "rankpool: capture_output and root_computes cannot be combined: the root's tasks would share stdout and "
        "stderr with the program that submits them");
  return w;
}

scheduler_config scheduler_config_of(const executor_options& o, const worker_config& w, const char* name) {
  scheduler_config c;
  c.in_flight = in_flight_of(o);
  c.root_computes = option_bool("RANKPOOL_ROOT_COMPUTES", o.root_computes).value_or(false);

  c.threads_per_worker = w.threads;
  c.task_deadline_ns = w.deadline_ns;
  c.telemetry = telemetry_config_of(o);
  c.name = name;
  return c;
}

telemetry_config telemetry_config_of(const executor_options& o) {
  telemetry_config c;
  if (auto p = o.trace ? o.trace : option_string("RANKPOOL_TRACE")) c.trace_path = *p;
  c.summary = option_bool("RANKPOOL_SUMMARY", o.summary).value_or(false);
  return c;
}

std::optional<std::size_t> max_workers_of(const executor_options& o) {
  // As concurrent.futures: max_workers <= 0 is a ValueError, here std::invalid_argument.
  if (o.max_workers && *o.max_workers == 0)
    throw std::invalid_argument("rankpool: executor_options::max_workers must be at least 1 (got 0)");
  if (!o.max_workers) {
    const char* e = std::getenv("RANKPOOL_MAX_WORKERS");
    if (e && *e == '-')
      throw std::invalid_argument(std::string("rankpool: RANKPOOL_MAX_WORKERS=") + e + " must be at least 1");
  }
  const auto n = option_size("RANKPOOL_MAX_WORKERS", o.max_workers);
  if (n && *n == 0) throw std::invalid_argument("rankpool: RANKPOOL_MAX_WORKERS must be at least 1 (got 0)");
  return n;
}

bool fit_cores_of(const executor_options& o) {
  return option_bool("RANKPOOL_FIT_CORES", o.fit_cores).value_or(false);
}

std::shared_ptr<const retry_rule> retry_rule_of(const executor_options& o) {
  const std::size_t n = option_size("RANKPOOL_RETRIES", o.retries).value_or(0);
  if (n == 0 && !o.retry_if) return nullptr;  // kept with 0 retries for submit_options::retries
  return std::make_shared<const retry_rule>(retry_rule{n, o.retry_if});
}

std::vector<std::pair<std::string, std::string>> spawn_info_of(const executor_options& o) {
  auto pairs = o.spawn_info;
  if (pairs.empty()) {
    if (auto env = option_string("RANKPOOL_SPAWN_INFO")) {
      std::istringstream in(*env);
      std::string item;
      while (std::getline(in, item, ';')) {
        if (item.empty()) continue;
        const auto eq = item.find('=');
        if (eq == std::string::npos)
          throw std::invalid_argument("rankpool: RANKPOOL_SPAWN_INFO: '" + item + "' is not key=value");
        pairs.emplace_back(item.substr(0, eq), item.substr(eq + 1));
      }
    }
  }
  for (const auto& [key, value] : pairs) {
    if (key.empty()) throw std::invalid_argument("rankpool: spawn_info: an empty key (value '" + value + "')");
    // MPI leaves a key or value past these lengths undefined (Open MPI truncates it silently).
    if (key.size() > MPI_MAX_INFO_KEY)
      throw std::invalid_argument("rankpool: spawn_info key '" + key + "' is longer than MPI_MAX_INFO_KEY (" +
                                  std::to_string(MPI_MAX_INFO_KEY) + ")");
    if (value.size() > MPI_MAX_INFO_VAL)
      throw std::invalid_argument("rankpool: spawn_info value of '" + key + "' is longer than MPI_MAX_INFO_VAL");
  }
  return pairs;
}

std::vector<std::string> spawn_args_of(const executor_options& o) {
  if (!o.spawn_args.empty()) return o.spawn_args;
  std::vector<std::string> args;
  if (auto env = option_string("RANKPOOL_SPAWN_ARGS")) {
    std::istringstream in(*env);
    for (std::string a; in >> a;) args.push_back(a);
  }
  return args;
}

std::shared_ptr<journal> journal_of(const executor_options& o) {
  if (auto path = o.journal ? o.journal : option_string("RANKPOOL_JOURNAL")) return journal::open(*path);
  return nullptr;
}

}  // namespace rankpool::detail
