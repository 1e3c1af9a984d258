// Binary trace -> Chrome trace JSON (see trace_file.hpp). The output is the JSON-array form of
// the trace event format: pid 0 is the root (scheduler spans, the tasks counter, marks, a queued
// span per task), pid 1 the workers (a track per worker thread, a slice per task).

#include "observe/trace_file.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <rankpool/errors.hpp>
#include <string_view>
#include <vector>

namespace rankpool::detail {

namespace {

void json_escape(std::string& out, std::string_view s) {
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

void put_u(std::string& out, std::uint64_t v) {
  char b[24];
  out.append(b, std::to_chars(b, b + sizeof b, v).ptr);
}

// A nanosecond count as microseconds with three decimals (integer arithmetic: snprintf's %f
// would cost more than everything else per event).
void put_us(std::string& out, std::int64_t ns) {
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

class json_writer {
 public:
  explicit json_writer(std::FILE* out) : out_(out) { text_ = "[\n"; }

  void convert(std::FILE* in, trace_conversion& c) {
    trace_record r;
    while (std::fread(&r, sizeof r, 1, in) == 1) {
      if (r.k == trace_record::string && !read_string(in, r)) break;  // torn: the run was killed
      event(r);
      ++c.records;
      if (r.k == trace_record::end) c.complete = true;
      if (text_.size() > (1 << 20)) flush();
    }
    if (!c.complete) {  // a killed run: no count of drops, but the JSON closes all the same
      field("{\"ph\":\"M\",\"pid\":0,\"tid\":0,\"name\":\"rankpool\",\"args\":{\"complete\":false,\"tasks\":", tasks_);
      text_ += "}}\n";
    }
    text_ += "]\n";
    flush();
  }

 private:
  bool read_string(std::FILE* in, const trace_record& r) {
    constexpr std::uint64_t longest = 1 << 16, most_names = 1 << 20;  // far above what a pool writes
    if (r.a > longest || r.name > most_names) return false;
    const std::size_t padded = (r.a + sizeof r - 1) / sizeof r * sizeof r;
    std::string s(padded, '\0');
    if (padded && std::fread(s.data(), 1, padded, in) != padded) return false;
    s.resize(static_cast<std::size_t>(r.a));
    if (names_.size() <= r.name) names_.resize(r.name + 1);
    names_[r.name].clear();
    json_escape(names_[r.name], s);
    return true;
  }

  std::string_view name(std::uint32_t id) const { return id < names_.size() ? names_[id] : std::string_view("?"); }

  // The prefix every event starts with, the trace event prefix: {<ph_cat>,"pid":P[,"tid":T],"name":"N"
  void prefix(const char* ph_cat, int pid, std::int64_t tid, std::string_view n) {
    text_ += '{';
    text_ += ph_cat;
    field(",\"pid\":", static_cast<std::uint64_t>(pid));
    if (tid >= 0) {
      field(",\"tid\":", static_cast<std::uint64_t>(tid));
    }
    text_ += ",\"name\":\"";
    text_ += n;
    text_ += '"';
  }

  // A timed event's prefix and its time, `ts` counted from the trace's start.
  void head(const char* ph_cat, int pid, std::int64_t tid, std::string_view n, std::int64_t ts) {
    prefix(ph_cat, pid, tid, n);
    field_us(",\"ts\":", ts);
  }

  // `key` (with its punctuation) and a count, or a time in microseconds.
  void field(const char* key, std::uint64_t v) {
    text_ += key;
    put_u(text_, v);
  }
  void field_us(const char* key, std::int64_t ns) {
    text_ += key;
    put_us(text_, ns);
  }

  // A metadata event: {"ph":"M",...,"name":"what","args":{"key":value}} (`value` quoted or not).
  void meta(int pid, std::int64_t tid, const char* what, const char* key, std::string_view value, bool quoted) {
    prefix("\"ph\":\"M\"", pid, tid, what);
    text_ += ",\"args\":{\"";
    text_ += key;
    text_ += quoted ? "\":\"" : "\":";
    text_ += value;
    text_ += quoted ? "\"}},\n" : "}},\n";
  }

  void event(const trace_record& r) {
    switch (r.k) {
      case trace_record::pool:
        start_ = r.t0;
        meta(0, 0, "process_name", "name", "rankpool root (" + std::string(name(r.name)) + ")", true);
        meta(0, 0, "thread_name", "name", "scheduler", true);
        meta(1, -1, "process_name", "name", "workers", true);
        break;
      case trace_record::track:
        meta(1, r.track_id, "thread_name", "name", name(r.name), true);
        meta(1, r.track_id, "thread_sort_index", "sort_index", std::to_string(r.track_id), false);
        break;
      case trace_record::task_slice:
        task_slice(r);
        break;
      case trace_record::span:
        head("\"ph\":\"X\",\"cat\":\"scheduler\"", 0, 0, name(r.name), r.t0 - start_);
        field_us(",\"dur\":", r.t1 - r.t0);
        field(",\"args\":{\"count\":", r.a);
        field(",\"bytes\":", r.b);
        text_ += "}},\n";
        break;
      case trace_record::counter:
        head("\"ph\":\"C\"", 0, -1, "tasks", r.t0 - start_);
        field(",\"args\":{\"queued\":", r.a);
        field(",\"in_flight\":", r.b);
        text_ += "}},\n";
        break;
      case trace_record::mark:
        head("\"ph\":\"i\",\"s\":\"p\",\"cat\":\"scheduler\"", 0, 0, name(r.name), r.t0 - start_);
        text_ += "},\n";
        break;
      case trace_record::end:
        field("{\"ph\":\"M\",\"pid\":0,\"tid\":0,\"name\":\"rankpool\",\"args\":{\"dropped_records\":", r.a);
        field(",\"tasks\":", r.b);
        text_ += "}}\n";
        break;
      case trace_record::string:
        break;
    }
  }

  // A task's slice on its worker's track, and its queued span (submit to start) on the root's.
  void task_slice(const trace_record& r) {
    ++tasks_;
    head("\"ph\":\"X\",\"cat\":\"task\"", 1, r.track_id, name(r.name), r.t2 - start_);
    field_us(",\"dur\":", r.t3 - r.t2);
    field(",\"args\":{\"id\":", r.id);
    field(",\"elements\":", r.elements);
    field_us(",\"queued_us\":", r.t2 - r.t0);
    field(",\"bytes_in\":", r.a);
    field(",\"bytes_out\":", r.b);
    text_ += "}},\n";
    for (const char* ph : {"\"ph\":\"b\",\"cat\":\"queue\"", "\"ph\":\"e\",\"cat\":\"queue\""}) {
      const bool begin = ph[6] == 'b';
      head(ph, 0, 0, "queued", (begin ? r.t0 : r.t2) - start_);
      field(",\"id\":", r.id);
      if (!begin) {
        field_us(",\"args\":{\"dispatched_us\":", r.t1 - start_);
        text_ += '}';
      }
      text_ += "},\n";
    }
  }

  void flush() {
    if (!text_.empty() && std::fwrite(text_.data(), 1, text_.size(), out_) != text_.size())
      throw error(std::string("rankpool: writing the JSON trace failed: ") + std::strerror(errno));
    text_.clear();
  }

  std::FILE* out_;
  std::string text_;
  std::vector<std::string> names_;  // JSON-escaped
  std::int64_t start_ = 0;
  std::uint64_t tasks_ = 0;
};

// Reads the magic: throws unless `in` starts as a binary trace.
void check_magic(std::FILE* in) {
  char magic[sizeof trace_magic];
  if (std::fread(magic, 1, sizeof magic, in) != sizeof magic || std::memcmp(magic, trace_magic, sizeof magic) != 0)
    throw error("rankpool: not a binary rankpool trace (it starts with RPTRACE1)");
}

}  // namespace

trace_conversion convert_trace(std::FILE* in, std::FILE* out) {
  check_magic(in);
  trace_conversion c;
  json_writer(out).convert(in, c);
  return c;
}

trace_conversion convert_trace(const std::string& binary_path, const std::string& json_path) {
  std::FILE* in = std::fopen(binary_path.c_str(), "rb");
  if (!in) throw error("rankpool: cannot open the binary trace " + binary_path + ": " + std::strerror(errno));
  try {  // before the output is created: a wrong input leaves no empty file behind
    check_magic(in);
  } catch (...) {
    std::fclose(in);
    throw;
  }
  std::rewind(in);
  std::FILE* out = std::fopen(json_path.c_str(), "w");
  if (!out) {
    std::fclose(in);
    throw error("rankpool: cannot create the trace file " + json_path + ": " + std::strerror(errno));
  }
  trace_conversion c;
  try {
    c = convert_trace(in, out);
  } catch (...) {
    std::fclose(in);
    std::fclose(out);
    throw;
  }
  std::fclose(in);
  if (std::fclose(out) != 0)
    throw error("rankpool: writing the trace " + json_path + " failed: " + std::strerror(errno));
  return c;
}

}  // namespace rankpool::detail
