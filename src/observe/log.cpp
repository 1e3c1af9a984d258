// RANKPOOL_LOG: leveled one-line diagnostics on stderr.

#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <rankpool/detail/log.hpp>
#include <string>
#include <string_view>

#include "common/fd_io.hpp"
#include "common/worker_identity.hpp"

namespace rankpool::detail::log {
namespace {

constexpr int unset = -1;
std::atomic<int> configured{unset};
std::atomic<int> my_rank{-1};
std::atomic<bool> spawned{false};

std::atomic<bool> prefix_lines{false};

// One token of RANKPOOL_LOG: a level, or "prefix"; false when it is neither.
bool take_token(std::string_view t, level& l) noexcept {
  struct name {
    const char* text;
    level l;
  };
  static constexpr name names[] = {{"off", level::off},    {"none", level::off},     {"error", level::error},
                                   {"warn", level::warn},  {"warning", level::warn}, {"info", level::info},
                                   {"debug", level::debug}};
  const std::string token(t);
  if (strcasecmp(token.c_str(), "prefix") == 0) {
    prefix_lines.store(true, std::memory_order_relaxed);
    return true;
  }
  for (const auto& n : names) {
    if (strcasecmp(token.c_str(), n.text) == 0) {
      l = n.l;
      return true;
    }
  }
  return false;
}

// RANKPOOL_LOG: comma-separated tokens, a level and/or "prefix" (e.g. "info,prefix").
level parse_env() noexcept {
  const char* v = std::getenv("RANKPOOL_LOG");
  if (!v || !*v) return level::warn;
  level l = level::warn;
  bool good = true;
  std::string_view rest(v);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view token = rest.substr(0, comma);
    if (!token.empty() && !take_token(token, l)) good = false;
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  if (good) return l;
  char line[256];
  const int len = std::snprintf(
      line, sizeof line,
      "rankpool: ignored RANKPOOL_LOG=%.64s (expected error, warn, info, debug or off, and/or prefix)\n", v);
  if (len > 0) [[maybe_unused]]
    auto n = ::write(2, line, std::min<std::size_t>(len, sizeof line - 1));
  return level::warn;
}

const char* name_of(level l) {
  switch (l) {
    case level::error:
      return "error";
    case level::warn:
      return "warn";
    case level::info:
      return "info";
    case level::debug:
      return "debug";
    default:
      return "";
  }
}

}  // namespace

level current() noexcept {
  int l = configured.load(std::memory_order_relaxed);
  if (l == unset) {
    int expected = unset;
    const int parsed = static_cast<int>(parse_env());
    // Several threads may parse at once; the first stores, so a bad value warns at most a few times.
    configured.compare_exchange_strong(expected, parsed, std::memory_order_relaxed);
    l = configured.load(std::memory_order_relaxed);
  }
  return static_cast<level>(l);
}

void set_level(level l) noexcept {
  configured.store(static_cast<int>(l), std::memory_order_relaxed);
}

void set_rank(int rank) noexcept {
  my_rank.store(rank, std::memory_order_relaxed);
}

void set_spawned(int index) noexcept {
  spawned.store(true, std::memory_order_relaxed);
  my_rank.store(index, std::memory_order_relaxed);
}

bool prefix_output() noexcept {
  (void)current();  // parses RANKPOOL_LOG once
  return prefix_lines.load(std::memory_order_relaxed);
}

void set_prefix_output(bool on) noexcept {
  (void)current();
  prefix_lines.store(on, std::memory_order_relaxed);
}

std::string origin() {
  // The host as remote errors name it (read once per process), up to its first dot.
  const std::string& full = this_worker().host;
  const std::string_view host = full.empty() ? std::string_view("?") : std::string_view(full).substr(0, full.find('.'));
  const int rank = my_rank.load(std::memory_order_relaxed);
  char who[32];
  if (rank >= 0) {
    std::snprintf(who, sizeof who, spawned.load(std::memory_order_relaxed) ? "spawned %d" : "%d", rank);
  } else {
    std::snprintf(who, sizeof who, "pid %d", static_cast<int>(getpid()));
  }
  return std::string(who) + "@" + std::string(host);
}

void write(level l, const char* format, ...) noexcept {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm local{};
  localtime_r(&now.tv_sec, &local);
  char line[2048];
  std::string who;
  try {
    who = origin();
  } catch (...) {  // out of memory for a few bytes: the line goes out without its origin
  }
  int n = std::snprintf(line, sizeof line, "rankpool[%s] %02d:%02d:%02d.%03ld %s: ", who.c_str(), local.tm_hour,
                        local.tm_min, local.tm_sec, now.tv_nsec / 1'000'000, name_of(l));
  if (n < 0) return;
  std::size_t used = std::min<std::size_t>(static_cast<std::size_t>(n), sizeof line - 2);
  va_list args;
  va_start(args, format);
  const int m = std::vsnprintf(line + used, sizeof line - 1 - used, format, args);
  va_end(args);
  if (m > 0) used = std::min(used + static_cast<std::size_t>(m), sizeof line - 2);
  if (used > 0 && line[used - 1] == '\n') --used;  // messages may or may not end in a newline
  line[used++] = '\n';
  (void)write_all(2, line, used);  // a closed stderr: nowhere left to say it
}

}  // namespace rankpool::detail::log
