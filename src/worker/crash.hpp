#pragma once
// Internal: what a worker says when a task kills its process (no isolation): which rank, which
// host, which signal or exit, which task. Written from a signal handler with write(2) only.

#include <cstdint>

namespace rankpool::detail::crash {

/// Installs the fatal-signal handlers and the exit hook once per process; `rank` names it.
void install(int rank);

/// Restores the handlers install() replaced (in an isolated child, whose death the parent reports).
void uninstall() noexcept;

/// Marks the task this thread runs now (name must live for the process), or none with nullptr.
void set_current(std::uint64_t id, const char* name) noexcept;

/// RAII: the task this thread runs.
class task_scope {
 public:
  task_scope(std::uint64_t id, const char* name) noexcept { set_current(id, name); }
  ~task_scope() { set_current(0, nullptr); }
  task_scope(const task_scope&) = delete;
  task_scope& operator=(const task_scope&) = delete;
};

}  // namespace rankpool::detail::crash
