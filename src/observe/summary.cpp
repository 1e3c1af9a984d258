// The summary table (see summary.hpp).

#include "observe/summary.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

namespace rankpool::detail {

namespace {

std::string human_bytes(std::uint64_t b) {
  char s[32];
  if (b < 1000) {
    std::snprintf(s, sizeof s, "%" PRIu64 "B", b);
  } else {
    const char* units[] = {"kB", "MB", "GB", "TB"};
    double v = static_cast<double>(b) / 1000;
    int u = 0;
    while (v >= 999.95 && u < 3) v /= 1000, ++u;
    std::snprintf(s, sizeof s, "%.1f%s", v, units[u]);
  }
  return s;
}

std::string human_time(double ns) {
  char s[32];
  if (ns < 1e3) {
    std::snprintf(s, sizeof s, "%.0fns", ns);
  } else if (ns < 1e6) {
    std::snprintf(s, sizeof s, "%.1fus", ns / 1e3);
  } else if (ns < 1e9) {
    std::snprintf(s, sizeof s, "%.2fms", ns / 1e6);
  } else {
    std::snprintf(s, sizeof s, "%.2fs", ns / 1e9);
  }
  return s;
}

}  // namespace

void histogram::add(std::int64_t ns) {
  const auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 1));
  ++counts_[bucket(v)];
  ++n_;
  max_ = std::max(max_, v);
}

void histogram::merge(const histogram& o) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
  n_ += o.n_;
  max_ = std::max(max_, o.max_);
}

double histogram::quantile(double q) const {
  if (n_ == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(n_ - 1)) + 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(middle(i), static_cast<double>(max_));
  }
  return static_cast<double>(max_);
}

std::size_t histogram::bucket(std::uint64_t v) {
  const int e = 63 - __builtin_clzll(v);
  if (e < 2) return static_cast<std::size_t>(v);  // 1..3 exactly
  return static_cast<std::size_t>(e) * 4 + ((v >> (e - 2)) & 3);
}

double histogram::middle(std::size_t i) {
  if (i < 8) return static_cast<double>(i);
  const auto e = static_cast<int>(i / 4), sub = static_cast<int>(i % 4);
  return (4.0 + sub + 0.5) * static_cast<double>(std::uint64_t{1} << (e - 2));
}

void summary::add_slot(std::size_t slot, std::string label, std::size_t lanes) {
  if (slots_.size() <= slot) slots_.resize(slot + 1);
  slots_[slot].label = std::move(label);
  slots_[slot].lanes = std::max<std::size_t>(lanes, 1);
}

void summary::add_task(std::size_t slot, std::uint32_t elements, std::int64_t busy_ns, std::uint64_t bytes_in,
                       std::uint64_t bytes_out) {
  auto& s = slots_[slot];
  ++s.tasks;
  s.elements += elements;
  s.bytes_in += bytes_in;
  s.bytes_out += bytes_out;
  s.busy_ns += busy_ns;
  s.times.add(busy_ns);
}

void summary::queue_depth(std::size_t queued, std::size_t in_flight) noexcept {
  queue_peak_ = std::max(queue_peak_, queued);
  in_flight_peak_ = std::max(in_flight_peak_, in_flight);
}

std::uint64_t summary::total_tasks() const noexcept {
  std::uint64_t n = 0;
  for (const auto& s : slots_) n += s.tasks;
  return n;
}

void summary::print(const std::string& pool, std::int64_t wall_ns) const noexcept {
  try {
    const double wall = static_cast<double>(std::max<std::int64_t>(wall_ns, 1));
    histogram all;
    std::uint64_t tasks = 0, elements = 0, in = 0, out = 0;
    double busy = 0, capacity = 0;
    std::size_t workers = 0;
    for (const auto& s : slots_) {
      all.merge(s.times);
      tasks += s.tasks;
      elements += s.elements;
      in += s.bytes_in;
      out += s.bytes_out;
      busy += static_cast<double>(s.busy_ns);
      capacity += wall * static_cast<double>(s.lanes);
      workers += s.lanes;
    }
    std::string t;
    char line[512];
    std::snprintf(line, sizeof line,
                  "rankpool summary: %s, %zu workers, %s wall, %" PRIu64 " tasks (%" PRIu64
                  " elements), queue peak %zu, in flight peak %zu\n",
                  pool.c_str(), workers, human_time(wall).c_str(), tasks, elements, queue_peak_, in_flight_peak_);
    t += line;
    std::snprintf(line, sizeof line, "%-14s %10s %10s %7s %10s %10s %9s %9s %9s %9s\n", "worker", "tasks", "elements",
                  "busy", "bytes_in", "bytes_out", "p50", "p90", "p99", "max");
    t += line;
    auto row = [&](const std::string& label, std::uint64_t n, std::uint64_t el, double busy_frac, std::uint64_t bi,
                   std::uint64_t bo, const histogram& h) {
      std::snprintf(line, sizeof line, "%-14s %10" PRIu64 " %10" PRIu64 " %6.1f%% %10s %10s %9s %9s %9s %9s\n",
                    label.c_str(), n, el, 100 * busy_frac, human_bytes(bi).c_str(), human_bytes(bo).c_str(),
                    human_time(h.quantile(0.5)).c_str(), human_time(h.quantile(0.9)).c_str(),
                    human_time(h.quantile(0.99)).c_str(), human_time(static_cast<double>(h.max())).c_str());
      t += line;
    };
    for (const auto& s : slots_) {
      std::string label = s.label;
      std::replace(label.begin(), label.end(), ' ', '-');
      row(label, s.tasks, s.elements, static_cast<double>(s.busy_ns) / (wall * static_cast<double>(s.lanes)),
          s.bytes_in, s.bytes_out, s.times);
    }
    row("all", tasks, elements, capacity > 0 ? busy / capacity : 0, in, out, all);
    std::fwrite(t.data(), 1, t.size(), stderr);
    std::fflush(stderr);
  } catch (...) {  // out of memory while formatting: no summary
  }
}

}  // namespace rankpool::detail
