#pragma once
// Diagnostic logging: one line per event on stderr, prefixed with the rank and host, filtered
// by RANKPOOL_LOG=error|warn|info|debug (default warn: a healthy run prints nothing). The token
// "prefix" (RANKPOOL_LOG=prefix, or info,prefix) also puts "[rank@host] " before every line the
// worker processes print (see src/worker/line_prefix.hpp).

#include <cstdarg>
#include <string>

namespace rankpool::detail::log {

/// Severity, most severe first; a message is printed when its level <= the configured one.
enum class level : int { off = 0, error = 1, warn = 2, info = 3, debug = 4 };

/// The configured level: RANKPOOL_LOG when first asked (a bad value warns once and means warn).
level current() noexcept;
/// Whether messages of level `l` are printed (cheap: one relaxed atomic load after the first).
inline bool enabled(level l) noexcept {
  return static_cast<int>(l) <= static_cast<int>(current());
}
/// Overrides the configured level (tests, and programs with their own -v flag).
void set_level(level l) noexcept;
/// Names this process's rank in the prefix (called once MPI is up).
void set_rank(int rank) noexcept;
/// Names a process started by spawn_executor, "spawned <index>" in the prefix (its
/// MPI_COMM_WORLD is its own, so its world rank would repeat the parent's).
void set_spawned(int index) noexcept;

/// Whether RANKPOOL_LOG asks for the "[rank@host] " prefix on the workers' output lines.
bool prefix_output() noexcept;
/// Overrides that choice (tests).
void set_prefix_output(bool on) noexcept;
/// This process as log lines name it: "rank@host" ("spawned i@host" for a spawned worker).
std::string origin();

/// Prints one line "rankpool[rank@host] level: message" with a single write, so lines of
/// several threads and ranks never interleave. Never throws.
void write(level l, const char* format, ...) noexcept __attribute__((format(printf, 2, 3)));

}  // namespace rankpool::detail::log

/// Logs when the level is enabled; the arguments are not evaluated otherwise.
#define RANKPOOL_LOG(lvl, ...)                                                          \
  do {                                                                                  \
    if (::rankpool::detail::log::enabled(::rankpool::detail::log::level::lvl))          \
      ::rankpool::detail::log::write(::rankpool::detail::log::level::lvl, __VA_ARGS__); \
  } while (0)
