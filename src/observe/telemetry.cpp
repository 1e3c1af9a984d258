// Trace and summary recording (see telemetry.hpp). The trace is the Chrome trace event format in
// its JSON-array form, which Perfetto and chrome://tracing open and which stays readable when a
// killed run leaves the closing bracket out. Memory stays bounded: records wait in a buffer of
// at most max_pending entries until the writer thread formats them; past that they are dropped
// and counted (the count is written into the trace).

#include "observe/telemetry.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <rankpool/detail/log.hpp>
#include <rankpool/detail/task.hpp>
#include <rankpool/errors.hpp>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/text.hpp"
#include "registry/registry.hpp"

namespace rankpool::detail {

namespace {

constexpr std::size_t max_pending = 1 << 18;  // records waiting for the writer (~16 MiB)
constexpr std::int64_t counter_interval_ns = 1'000'000;

// Log-spaced histogram of task times: 4 buckets per power of two (about 19% wide), enough for
// percentiles in a summary without keeping every sample.
class histogram {
 public:
  void add(std::int64_t ns) {
    const auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 1));
    ++counts_[bucket(v)];
    ++n_;
    max_ = std::max(max_, v);
  }
  void merge(const histogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    n_ += o.n_;
    max_ = std::max(max_, o.max_);
  }
  std::uint64_t count() const { return n_; }
  std::uint64_t max() const { return max_; }
  // The q-quantile (0..1), as the middle of its bucket, never above the maximum seen.
  double quantile(double q) const {
    if (n_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(n_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(middle(i), static_cast<double>(max_));
    }
    return static_cast<double>(max_);
  }

 private:
  static std::size_t bucket(std::uint64_t v) {
    const int e = 63 - __builtin_clzll(v);
    if (e < 2) return static_cast<std::size_t>(v);  // 1..3 exactly
    return static_cast<std::size_t>(e) * 4 + ((v >> (e - 2)) & 3);
  }
  static double middle(std::size_t i) {
    if (i < 8) return static_cast<double>(i);
    const auto e = static_cast<int>(i / 4), sub = static_cast<int>(i % 4);
    return (4.0 + sub + 0.5) * static_cast<double>(std::uint64_t{1} << (e - 2));
  }
  std::array<std::uint64_t, 64 * 4> counts_{};
  std::uint64_t n_ = 0, max_ = 0;
};

struct slot_stats {
  std::string label;
  std::size_t lanes = 1;
  std::uint32_t first_track = 0;
  std::uint64_t tasks = 0, elements = 0, bytes_in = 0, bytes_out = 0;
  std::int64_t busy_ns = 0;
  histogram times;
  std::int64_t min_lag = INT64_MAX;  // least (received - worker's end) seen: clock offset estimate
};

// A fixed-size trace record; the writer thread turns it into JSON.
struct record {
  enum kind : std::uint8_t { task_slice, span, counter, mark } k;
  std::uint32_t track = 0;  // task_slice: the worker track
  std::uint32_t name = 0;   // task_slice: index into names_
  std::uint32_t elements = 0;
  const char* what = nullptr;  // span, mark: a literal
  std::int64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0;
  std::uint64_t id = 0, a = 0, b = 0;
};

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

void json_escape(std::string& out, const std::string& s) {
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char u[8];
      std::snprintf(u, sizeof u, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += u;
    } else {
      out += c;
    }
  }
}

// The first top-level template argument of a demangled "ns::name<A, B, ...>".
std::string first_template_argument(const std::string& s) {
  auto open = s.find('<');
  if (open == std::string::npos) return s;
  int depth = 0;
  for (std::size_t i = open + 1; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '<' || c == '(' || c == '[' || c == '{') ++depth;
    if (c == '>' || c == ')' || c == ']' || c == '}') {
      if (depth == 0) return s.substr(open + 1, i - open - 1);
      --depth;
    }
    if (c == ',' && depth == 0) return s.substr(open + 1, i - open - 1);
  }
  return s;
}

// "f(int, double)" -> "f"; names of lambdas ("main::{lambda(int)#1}") stay whole.
std::string without_parameters(const std::string& s) {
  int depth = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '<' || c == '{' || c == '[') ++depth;
    if (c == '>' || c == '}' || c == ']') --depth;
    if (c == '(' && depth == 0 && i > 0) return s.substr(0, i);
  }
  return s;
}

// The trace file of the next executor asked to write `path`: the path itself for the first one
// in this process, then "run.2.json", "run.3.json", ... so pools that run side by side (or one
// after another, as in a benchmark) never write over each other's trace.
std::string claim_trace_path(const std::string& path) {
  static std::mutex m;
  static std::map<std::string, int> uses;
  int n;
  {
    std::lock_guard lk(m);
    n = ++uses[path];
  }
  if (n == 1) return path;
  const auto slash = path.rfind('/');
  auto dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) || dot == slash + 1) dot = path.size();
  return path.substr(0, dot) + "." + std::to_string(n) + path.substr(dot);
}

class recorder final : public telemetry {
 public:
  recorder(telemetry_config c, std::string pool) : cfg_(std::move(c)), pool_(std::move(pool)), start_(now()) {
    if (!cfg_.trace_path.empty()) {
      cfg_.trace_path = claim_trace_path(cfg_.trace_path);
      file_ = std::fopen(cfg_.trace_path.c_str(), "w");
      if (!file_)
        throw error("rankpool: cannot create the trace file " + cfg_.trace_path + ": " + std::strerror(errno));
      text_ = "[\n";
      meta(0, 0, "process_name", "rankpool root (" + pool_ + ")");
      meta(0, 0, "thread_name", "scheduler");
      meta(1, -1, "process_name", "workers");
      writer_ = std::thread([this] { write_loop(); });
    }
    RANKPOOL_LOG(info, "recording %s%s%s", cfg_.trace_path.empty() ? "" : ("a trace to " + cfg_.trace_path).c_str(),
                 !cfg_.trace_path.empty() && cfg_.summary ? " and " : "", cfg_.summary ? "a summary" : "");
  }

  ~recorder() override { finish(); }

  void add_slot(std::size_t slot, std::string label, std::size_t lanes) override {
    std::lock_guard lk(m_);
    if (slots_.size() <= slot) slots_.resize(slot + 1);
    auto& s = slots_[slot];
    s.label = std::move(label);
    s.lanes = std::max<std::size_t>(lanes, 1);
    s.first_track = next_track_;
    next_track_ += static_cast<std::uint32_t>(s.lanes);
    if (!file_) return;
    for (std::size_t l = 0; l < s.lanes; ++l) {
      const auto tid = static_cast<int>(s.first_track + l);
      meta(1, tid, "thread_name", s.lanes == 1 ? s.label : s.label + " thread " + std::to_string(l));
      text_ += "{\"ph\":\"M\",\"pid\":1,\"tid\":" + std::to_string(tid) +
               ",\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":" + std::to_string(tid) + "}},\n";
    }
  }

  void task_done(const task& t, const task_event& ev) override {
    task_event e = ev;
    const std::int64_t busy = std::max<std::int64_t>(e.ended - e.started, 0);
    std::lock_guard lk(m_);
    if (e.slot >= slots_.size()) return;
    auto& s = slots_[e.slot];
    if (e.received) {
      e.started -= realtime_offset();
      s.min_lag = std::min(s.min_lag, e.received - (e.started + busy));
      if (s.min_lag < 0) e.started += s.min_lag;
      e.ended = e.started + busy;
    }
    ++s.tasks;
    s.elements += e.elements;
    s.bytes_in += e.bytes_in;
    s.bytes_out += e.bytes_out;
    s.busy_ns += busy;
    s.times.add(busy);
    if (!file_) return;
    record r{record::task_slice};
    // Tasks run by local threads have no wire id; give them ids no MPI task uses.
    r.id = e.id ? e.id : local_ids_++;
    r.track = s.first_track + std::min<std::uint32_t>(e.lane, static_cast<std::uint32_t>(s.lanes - 1));
    r.name = name_id(t);
    r.elements = e.elements;
    r.t0 = e.submitted ? e.submitted : e.dispatched;
    r.t1 = e.dispatched;
    r.t2 = e.started;
    r.t3 = e.ended;
    r.a = e.bytes_in;
    r.b = e.bytes_out;
    push(r);
  }

  void scheduler_span(const char* what, std::int64_t begin, std::int64_t end, std::uint64_t count,
                      std::uint64_t bytes) override {
    if (!file_) return;
    record r{record::span};
    r.what = what;
    r.t0 = begin;
    r.t1 = end;
    r.a = count;
    r.b = bytes;
    std::lock_guard lk(m_);
    push(r);
  }

  void queue_depth(std::int64_t at, std::size_t queued, std::size_t in_flight) override {
    std::lock_guard lk(m_);
    queue_peak_ = std::max(queue_peak_, queued);
    in_flight_peak_ = std::max(in_flight_peak_, in_flight);
    if (!file_ || at - last_counter_ < counter_interval_ns) return;
    last_counter_ = at;
    record r{record::counter};
    r.t0 = at;
    r.a = queued;
    r.b = in_flight;
    push(r);
  }

  void instant(const char* what, std::int64_t at) override {
    if (!file_) return;
    record r{record::mark};
    r.what = what;
    r.t0 = at;
    std::lock_guard lk(m_);
    push(r);
  }

  void finish() noexcept override {
    {
      std::lock_guard lk(m_);
      if (finished_) return;
      finished_ = true;
      end_ = now();
    }
    if (writer_.joinable()) {
      cv_.notify_all();
      writer_.join();
    }
    if (file_) {
      std::string tail = "{\"ph\":\"M\",\"pid\":0,\"tid\":0,\"name\":\"rankpool\",\"args\":{\"dropped_records\":" +
                         std::to_string(dropped_) + ",\"tasks\":" + std::to_string(total_tasks()) + "}}\n]\n";
      std::fwrite(tail.data(), 1, tail.size(), file_);
      if (std::fclose(file_) != 0)
        RANKPOOL_LOG(error, "writing the trace %s failed: %s", cfg_.trace_path.c_str(), std::strerror(errno));
      else
        RANKPOOL_LOG(info, "trace written to %s", cfg_.trace_path.c_str());
      file_ = nullptr;
    }
    if (cfg_.summary) print_summary();
  }

 private:
  std::uint64_t total_tasks() const {
    std::uint64_t n = 0;
    for (const auto& s : slots_) n += s.tasks;
    return n;
  }

  void meta(int pid, int tid, const char* what, const std::string& name) {
    text_ += "{\"ph\":\"M\",\"pid\":" + std::to_string(pid);
    if (tid >= 0) text_ += ",\"tid\":" + std::to_string(tid);
    text_ += ",\"name\":\"";
    text_ += what;
    text_ += "\",\"args\":{\"name\":\"";
    json_escape(text_, name);
    text_ += "\"}},\n";
  }

  // The display name of a task's function, interned (called with m_ held).
  std::uint32_t name_id(const task& t) {
    const char* mangled = t.type_name();
    const void* fn = t.function_address();
    // Runs of one task type are the rule: skip the map lookup for a repeat.
    if (mangled == last_type_ && fn == last_fn_) return last_name_;
    last_type_ = mangled;
    last_fn_ = fn;
    auto [it, fresh] = name_ids_.try_emplace({mangled, fn}, static_cast<std::uint32_t>(names_.size()));
    if (fresh) {
      const std::string type = demangle(mangled);
      const bool chunk = type.find("chunk_invoker<") != std::string::npos;
      std::string name = first_template_argument(type);
      if (fn) {
        try {
          if (auto f = function_name(encode_code_address(fn)); !f.empty()) name = without_parameters(f);
        } catch (...) {  // not in a loaded module: keep the type's name
        }
      }
      const std::string anon = "(anonymous namespace)::";
      for (std::size_t at; (at = name.find(anon)) != std::string::npos;) name.erase(at, anon.size());
      if (name.size() > 160) name = name.substr(0, 157) + "...";
      std::string escaped;
      json_escape(escaped, chunk ? "map " + name : name);
      names_.push_back(std::move(escaped));
    }
    last_name_ = it->second;
    return it->second;
  }

  void push(const record& r) {  // m_ held
    if (pending_.size() >= max_pending) {
      ++dropped_;
      return;
    }
    pending_.push_back(r);
    if (pending_.size() == max_pending / 4) cv_.notify_all();
  }

  void write_loop() {
    std::vector<record> batch;
    std::string text, out;
    std::vector<std::string> names;
    while (true) {
      bool last;
      {
        std::unique_lock lk(m_);
        cv_.wait_for(lk, std::chrono::milliseconds(100),
                     [&] { return finished_ || pending_.size() >= max_pending / 4; });
        batch.swap(pending_);
        text.swap(text_);
        for (std::size_t i = names.size(); i < names_.size(); ++i) names.push_back(names_[i]);
        last = finished_;
      }
      out = std::move(text);
      text.clear();
      for (const auto& r : batch) format(out, r, names);
      batch.clear();
      if (!out.empty() && std::fwrite(out.data(), 1, out.size(), file_) != out.size()) {
        RANKPOOL_LOG(error, "writing the trace %s failed: %s", cfg_.trace_path.c_str(), std::strerror(errno));
      }
      std::fflush(file_);
      out.clear();
      if (last) return;
    }
  }

  // Appends a nanosecond count as microseconds with three decimals (integer arithmetic:
  // snprintf's %f would cost more than everything else the writer does per task).
  static void put_us(std::string& out, std::int64_t ns) {
    if (ns < 0) {
      out += '-';
      ns = -ns;
    }
    char b[24];
    auto* e = std::to_chars(b, b + sizeof b, ns / 1000).ptr;
    *e++ = '.';
    const auto frac = static_cast<int>(ns % 1000);
    *e++ = static_cast<char>('0' + frac / 100);
    *e++ = static_cast<char>('0' + frac / 10 % 10);
    *e++ = static_cast<char>('0' + frac % 10);
    out.append(b, e);
  }
  static void put_u(std::string& out, std::uint64_t v) {
    char b[24];
    out.append(b, std::to_chars(b, b + sizeof b, v).ptr);
  }

  // `names` are JSON-escaped already.
  void format(std::string& out, const record& r, const std::vector<std::string>& names) const {
    switch (r.k) {
      case record::task_slice:
        out += "{\"ph\":\"X\",\"cat\":\"task\",\"pid\":1,\"tid\":";
        put_u(out, r.track);
        out += ",\"name\":\"";
        out += names[r.name];
        out += "\",\"ts\":";
        put_us(out, r.t2 - start_);
        out += ",\"dur\":";
        put_us(out, r.t3 - r.t2);
        out += ",\"args\":{\"id\":";
        put_u(out, r.id);
        out += ",\"elements\":";
        put_u(out, r.elements);
        out += ",\"queued_us\":";
        put_us(out, r.t2 - r.t0);
        out += ",\"bytes_in\":";
        put_u(out, r.a);
        out += ",\"bytes_out\":";
        put_u(out, r.b);
        out += "}},\n{\"ph\":\"b\",\"cat\":\"queue\",\"pid\":0,\"tid\":0,\"name\":\"queued\",\"id\":";
        put_u(out, r.id);
        out += ",\"ts\":";
        put_us(out, r.t0 - start_);
        out += "},\n{\"ph\":\"e\",\"cat\":\"queue\",\"pid\":0,\"tid\":0,\"name\":\"queued\",\"id\":";
        put_u(out, r.id);
        out += ",\"ts\":";
        put_us(out, r.t2 - start_);
        out += ",\"args\":{\"dispatched_us\":";
        put_us(out, r.t1 - start_);
        out += "}},\n";
        break;
      case record::span:
        out += "{\"ph\":\"X\",\"cat\":\"scheduler\",\"pid\":0,\"tid\":0,\"name\":\"";
        out += r.what;
        out += "\",\"ts\":";
        put_us(out, r.t0 - start_);
        out += ",\"dur\":";
        put_us(out, r.t1 - r.t0);
        out += ",\"args\":{\"count\":";
        put_u(out, r.a);
        out += ",\"bytes\":";
        put_u(out, r.b);
        out += "}},\n";
        break;
      case record::counter:
        out += "{\"ph\":\"C\",\"pid\":0,\"name\":\"tasks\",\"ts\":";
        put_us(out, r.t0 - start_);
        out += ",\"args\":{\"queued\":";
        put_u(out, r.a);
        out += ",\"in_flight\":";
        put_u(out, r.b);
        out += "}},\n";
        break;
      case record::mark:
        out += "{\"ph\":\"i\",\"s\":\"p\",\"cat\":\"scheduler\",\"pid\":0,\"tid\":0,\"name\":\"";
        out += r.what;
        out += "\",\"ts\":";
        put_us(out, r.t0 - start_);
        out += "},\n";
        break;
    }
  }

  void print_summary() noexcept {
    try {
      std::lock_guard lk(m_);
      const double wall = static_cast<double>(std::max<std::int64_t>(end_ - start_, 1));
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
                    pool_.c_str(), workers, human_time(wall).c_str(), tasks, elements, queue_peak_, in_flight_peak_);
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

  telemetry_config cfg_;
  std::string pool_;
  std::int64_t start_, end_ = 0;

  std::mutex m_;
  std::condition_variable cv_;
  std::vector<slot_stats> slots_;
  std::uint32_t next_track_ = 0;
  std::size_t queue_peak_ = 0, in_flight_peak_ = 0;
  std::int64_t last_counter_ = INT64_MIN / 2;
  bool finished_ = false;

  std::FILE* file_ = nullptr;
  std::string text_;  // metadata events, written by the writer thread
  std::vector<record> pending_;
  std::uint64_t dropped_ = 0;
  std::uint64_t local_ids_ = std::uint64_t{1} << 62;
  // Keyed by the type name's address: typeid names are unique per type within a program.
  std::map<std::pair<const char*, const void*>, std::uint32_t> name_ids_;
  std::vector<std::string> names_;
  const char* last_type_ = nullptr;
  const void* last_fn_ = nullptr;
  std::uint32_t last_name_ = 0;
  std::thread writer_;
};

}  // namespace

std::int64_t telemetry::realtime_offset() noexcept {
  static const std::int64_t offset = [] {
    // The smallest of a few readings' gaps: a reading interrupted between the two clocks is off.
    std::int64_t best = 0, best_gap = INT64_MAX;
    for (int i = 0; i < 5; ++i) {
      const auto a = now();
      const auto r =
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      const auto b = now();
      if (b - a < best_gap) {
        best_gap = b - a;
        best = r - (a + (b - a) / 2);
      }
    }
    return best;
  }();
  return offset;
}

std::unique_ptr<telemetry> telemetry::make(const telemetry_config& c, std::string pool) {
  if (c.trace_path.empty() && !c.summary) return nullptr;
  return std::make_unique<recorder>(c, std::move(pool));
}

}  // namespace rankpool::detail
