// The progress display of map and as_completed: see detail/progress.hpp.

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <rankpool/detail/core.hpp>
#include <rankpool/detail/progress.hpp>
#include <set>
#include <string_view>
#include <thread>
#include <vector>

#include "common/fd_io.hpp"
#include "common/text.hpp"

namespace rankpool::detail {
namespace {

using clock = std::chrono::steady_clock;

// Warns once per distinct value, so a bad setting is reported but a loop of maps does not repeat
// it (and a test may provoke it again with another value).
void warn_once(const std::string& var, const std::string& value, const char* expected) {
  static std::mutex m;
  static std::set<std::string> warned;
  {
    std::lock_guard lk(m);
    if (!warned.insert(var + '=' + value).second) return;
  }
  const std::string line = "rankpool: ignoring " + var + "='" + value + "' (expected " + expected + ")\n";
  (void)write_all(2, line.data(), line.size());  // a broken stderr: a display is not worth failing for
}

std::string lowered_trimmed(const char* v) {
  std::string s(v);
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return lowercase(std::move(s));
}

std::size_t terminal_width(int fd) noexcept {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// 0.52, 8.3, 42, 850, 1.2k, 3.4M, 1.1G
std::string rate_text(double r) {
  if (!std::isfinite(r) || r < 0) r = 0;
  if (r >= 1e9) return fmt("%.1fG", r / 1e9);
  if (r >= 1e6) return fmt("%.1fM", r / 1e6);
  if (r >= 1e3) return fmt("%.1fk", r / 1e3);
  if (r >= 100) return fmt("%.0f", r);
  if (r >= 10) return fmt("%.1f", r);
  return fmt("%.2f", r);
}

// Whole seconds as hours, minutes and seconds: the terminal's 1:02:05 and 12:05, or the plain
// lines' 1h02m05s and 12m05s.
std::string hms_text(unsigned long long t, bool plain) {
  char buf[48];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, plain ? "%lluh%02llum%02llus" : "%llu:%02llu:%02llu", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, plain ? "%llum%02llus" : "%llu:%02llu", t / 60, t % 60);
  return buf;
}

// Terminal: 0:03, 12:05, 1:02:05.
std::string clock_text(double s) {
  if (!std::isfinite(s) || s < 0) s = 0;
  return hms_text(static_cast<unsigned long long>(s), false);
}

// Plain: 3.1s, 12m05s, 1h02m05s.
std::string seconds_text(double s) {
  if (!std::isfinite(s) || s < 0) s = 0;
  if (s < 60) return fmt("%.1fs", s);
  return hms_text(static_cast<unsigned long long>(s), true);
}

// RANKPOOL_PROGRESS, parsed: on/off (unset: not given, empty or not understood), and whether it
// asked for `bar`: the in-place bar even though stderr is not a terminal. Under mpirun every
// rank's stderr is a pipe to the launcher, which copies it to its own terminal, so a rank cannot
// tell that a person is watching; `bar` says so. `warn`: name a value that is not understood.
struct env_progress {
  std::optional<bool> on;
  bool bar = false;
};

env_progress read_env_progress(bool warn) {
  const char* v = std::getenv("RANKPOOL_PROGRESS");
  if (!v) return {};
  const std::string s = lowered_trimmed(v);
  if (s.empty()) return {};
  if (s == "bar" || s == "tty") return {true, true};
  if (s == "1" || s == "true" || s == "yes" || s == "on") return {true, false};
  if (s == "0" || s == "false" || s == "no" || s == "off") return {false, false};
  if (warn) warn_once("RANKPOOL_PROGRESS", v, "1/true/yes/on, 0/false/no/off, or bar");
  return {};
}

}  // namespace

std::optional<bool> progress::env_switch() {
  return read_env_progress(true).on;
}

std::chrono::duration<double> progress::env_interval() {
  const std::chrono::duration<double> fallback{10.0};
  const char* v = std::getenv("RANKPOOL_PROGRESS_INTERVAL");
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  const double s = std::strtod(v, &end);
  while (end && std::isspace(static_cast<unsigned char>(*end))) ++end;
  if (errno != 0 || end == v || (end && *end) || !std::isfinite(s) || s <= 0) {
    warn_once("RANKPOOL_PROGRESS_INTERVAL", v, "a positive number of seconds");
    return fallback;
  }
  return std::chrono::duration<double>(s);
}

bool progress::enabled(std::optional<bool> option) {
  if (option) return *option;
  if (auto e = env_switch()) return *e;
  return ::isatty(2) == 1;
}

std::shared_ptr<progress> progress::start(std::string label, std::optional<bool> option, workers_probe probe) {
  // The option decides when set (then a bad RANKPOOL_PROGRESS is not worth a warning), but
  // `bar` still picks the bar's form.
  const env_progress env = read_env_progress(!option);
  const std::optional<bool> decided = option ? option : env.on;
  const bool tty = ::isatty(2) == 1 || (decided.value_or(false) && env.bar);
  if (decided ? !*decided : !tty) return nullptr;
  settings s;
  s.how = tty ? mode::terminal : mode::plain;
  s.forced = decided.value_or(false);
  if (s.how == mode::plain) s.interval = env_interval();
  if (!probe)
    probe = [](std::size_t& busy, std::size_t& total) {
      const auto c = live_workers();
      busy = c.busy;
      total = c.total;
    };
  return start(std::move(label), s, std::move(probe));
}

/// The one drawing thread of the process, shared by every display: a thread per display measured
/// 12-18% off the task rate of back-to-back maps of 1 M no-op tasks (2 cores, 2 ranks), the
/// cost of starting it. It ticks every 0.1 s while displays are active and for a second after
/// the last one, so back-to-back maps need no wake-up, then sleeps until the next display.
struct progress_hub {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::shared_ptr<progress>> active;
  bool running = false;  // the thread exists
  bool asleep = false;   // waiting without a deadline: a new display must wake it

  static progress_hub& get() {
    static auto* h = new progress_hub;  // never destroyed: the thread may outlive static destruction
    return *h;
  }

  void add(const std::shared_ptr<progress>& p, clock::time_point first) {
    bool wake = false;
    {
      std::lock_guard lk(m);
      p->next_draw_ = first;
      active.push_back(p);
      if (!running) {
        std::thread([this] { run(); }).detach();
        running = true;
      }
      wake = asleep;
    }
    if (wake) cv.notify_one();
  }

  void remove(const progress* p) {
    std::lock_guard lk(m);
    std::erase_if(active, [p](const auto& q) { return q.get() == p; });
  }

  void run() noexcept {
    constexpr auto tick = std::chrono::milliseconds(100);
    std::unique_lock lk(m);
    auto linger_until = clock::now();
    std::vector<std::shared_ptr<progress>> due;
    while (true) {
      if (active.empty() && clock::now() >= linger_until) {
        asleep = true;
        cv.wait(lk, [&] { return !active.empty(); });
        asleep = false;
      } else {
        cv.wait_until(lk, clock::now() + tick);
      }
      const auto now = clock::now();
      for (auto& p : active) {
        if (p->next_draw_ > now) continue;
        due.push_back(p);
        const auto period = p->settings_.how == progress::mode::terminal ? p->settings_.redraw : p->settings_.interval;
        p->next_draw_ += std::chrono::ceil<clock::duration>(period);
        if (p->next_draw_ <= now) p->next_draw_ = now + std::chrono::ceil<clock::duration>(period);
      }
      if (active.empty()) {
        if (linger_until < now) linger_until = now + std::chrono::seconds(1);
      } else {
        linger_until = now + std::chrono::seconds(1);
      }
      if (due.empty()) continue;
      lk.unlock();
      for (auto& p : due) p->tick();
      due.clear();  // may destroy displays: outside the lock, as their finish() takes it
      lk.lock();
    }
  }
};

std::shared_ptr<progress> progress::start(std::string label, settings s, workers_probe probe) {
  auto p = std::make_shared<progress>(std::move(label), s, std::move(probe));
  const auto first = s.how == mode::terminal ? s.delay : std::max(s.delay, s.interval);
  progress_hub::get().add(p, p->start_ + std::chrono::ceil<clock::duration>(first));
  return p;
}

progress::progress(std::string label, settings s, workers_probe probe)
    : label_(std::move(label)), settings_(s), probe_(std::move(probe)), start_(clock::now()) {
  sample_t_[0] = start_;
  sample_done_[0] = 0;
  samples_ = 1;
}

void progress::close_total() noexcept {
  known_.store(true, std::memory_order_seq_cst);
  if (settled_.load(std::memory_order_seq_cst) >= total_.load(std::memory_order_seq_cst)) end_of_work();
  if (delivered_.load(std::memory_order_seq_cst) >= total_.load(std::memory_order_seq_cst)) {
    end_of_work();
    finish();
  }
}

void progress::end_of_work() noexcept {
  if (ended_.exchange(true)) return;
  std::lock_guard lk(m_);
  work_over_ = true;
  end_ = clock::now();
  // Past this point the executor may be destroyed (its shutdown waits for the very callback
  // that got us here, no longer): never ask it again.
  probe_ = nullptr;
}

void progress::finish() noexcept {
  // Held throughout, so that a caller who finds the display already stopped by the drawing
  // thread returns only once that thread's final line is out: the program's next output must
  // come after it (seen on a pty: "demo done" printed before the 30/30 line).
  std::lock_guard wl(write_m_);
  snapshot s;
  {
    std::lock_guard lk(m_);
    if (stopped_) return;
    stopped_ = true;
    if (!work_over_) end_ = clock::now();
    probe_ = nullptr;
    try {
      s = sample_locked(true);
    } catch (...) {  // out of memory copying the label: the line is not worth failing for
    }
  }
  if (!closed_) {
    closed_ = true;
    if (drawn_ || settings_.forced) write_line(s);
  }
  progress_hub::get().remove(this);
}

void progress::tick() noexcept {
  snapshot s;
  bool over = false;
  {
    std::lock_guard lk(m_);
    if (stopped_) return;
    over = work_over_;
    if (!over) {
      try {
        s = sample_locked(false);
      } catch (...) {  // out of memory: skip this line
        return;
      }
    }
  }
  if (over) return finish();  // nobody has read the end yet (results left unread): from here
  std::lock_guard lk(write_m_);
  if (closed_) return;
  write_line(s);
  drawn_ = true;
}

progress::snapshot progress::sample_locked(bool final) {
  snapshot s;
  s.label = label_;
  s.final = final;
  s.done = done();
  s.total = total_.load(std::memory_order_relaxed);
  s.total_known = known_.load(std::memory_order_relaxed);
  if (s.total_known) s.done = std::min(s.done, s.total);
  const auto now = final ? end_ : clock::now();
  s.elapsed_s = std::chrono::duration<double>(now - start_).count();
  if (final) {
    s.rate = s.elapsed_s > 0 ? static_cast<double>(s.done) / s.elapsed_s : 0;
    return s;
  }
  // The rate over the last ~5 s: from the oldest kept sample inside that window, or else the
  // newest one (plain lines farther apart than that).
  constexpr std::size_t cap = sample_cap;
  const std::size_t n = std::min(samples_, cap);
  std::size_t pick = (samples_ - 1) % cap;  // newest
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (samples_ - n + k) % cap;
    if (now - sample_t_[i] <= std::chrono::seconds(5)) {
      pick = i;
      break;
    }
  }
  const double dt = std::chrono::duration<double>(now - sample_t_[pick]).count();
  if (dt > 0) s.rate = static_cast<double>(s.done - std::min(s.done, sample_done_[pick])) / dt;
  const std::size_t newest = (samples_ - 1) % cap;
  if (now - sample_t_[newest] >= std::chrono::milliseconds(500)) {
    sample_t_[samples_ % cap] = now;
    sample_done_[samples_ % cap] = s.done;
    ++samples_;
  }
  if (probe_) {
    probe_(s.busy, s.workers);
    s.has_workers = true;
  }
  return s;
}

std::string progress::render(const snapshot& s, mode how, std::size_t width) {
  const double frac = s.total_known && s.total > 0 ? static_cast<double>(s.done) / static_cast<double>(s.total)
                                                   : (s.total_known ? 1 : 0);
  const int pct = static_cast<int>(std::floor(frac * 100 + 1e-9));
  const std::string count =
      std::to_string(s.done) + "/" + (s.total_known ? std::to_string(s.total) : std::to_string(s.total) + "+");
  const bool eta = !s.final && s.total_known && s.rate > 0;
  const double eta_s = eta ? static_cast<double>(s.total - s.done) / s.rate : 0;
  const bool busy = s.has_workers && !s.final;
  if (how == mode::plain) {
    std::string line = "rankpool: " + s.label + " " + count;
    if (s.total_known) line += " (" + std::to_string(pct) + "%)";
    // Appended piece by piece: gcc 12 warns falsely (-Wrestrict, PR 105651) on "literal" + string.
    line += ' ';
    line += rate_text(s.rate);
    line += "/s elapsed ";
    line += seconds_text(s.elapsed_s);
    if (eta) line += " ETA " + seconds_text(eta_s);
    if (busy) line += " busy " + std::to_string(s.busy) + "/" + std::to_string(s.workers);
    return line;
  }
  std::string tail = "  " + count;
  if (s.total_known) tail += "  " + std::to_string(pct) + "%";
  tail += "  " + rate_text(s.rate) + "/s  elapsed " + clock_text(s.elapsed_s);
  if (eta) tail += "  ETA " + clock_text(eta_s);
  if (busy) tail += "  busy " + std::to_string(s.busy) + "/" + std::to_string(s.workers);
  // Never the last column: a terminal that wraps there would break the in-place redraw.
  const std::size_t room = width > 1 ? width - 1 : 1;
  std::string line = s.label;
  if (s.total_known) {
    const std::size_t fixed = s.label.size() + 4 + tail.size();  // "  [" and "]"
    const std::size_t bar = fixed < room ? std::min<std::size_t>(room - fixed, 30) : 0;
    if (bar >= 10) {
      const auto full = std::min(bar, static_cast<std::size_t>(frac * static_cast<double>(bar)));
      line += "  [" + std::string(full, '#') + std::string(bar - full, '.') + "]";
    }
  }
  line += tail;
  if (line.size() > room) line.resize(room);
  return line;
}

void progress::write_line(const snapshot& s) noexcept {
  try {
    std::string out;
    if (settings_.how == mode::terminal) {
      out = '\r';
      out += render(s, mode::terminal, terminal_width(settings_.fd));
      out += "\x1b[K";
    } else {
      out = render(s, mode::plain);
      if (!s.final) out += '\n';
    }
    if (s.final) out += '\n';
    (void)write_all(settings_.fd, out.data(), out.size());
  } catch (...) {  // out of memory formatting a line: skip the line
  }
}

}  // namespace rankpool::detail
