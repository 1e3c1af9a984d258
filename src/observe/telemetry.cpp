// The recorder (see telemetry.hpp): one lock around the summary, the name table and the clock
// shift of each worker; the trace records themselves go to the writer's buffer.

#include "observe/telemetry.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <rankpool/detail/log.hpp>
#include <rankpool/errors.hpp>
#include <vector>

#include "observe/summary.hpp"
#include "observe/task_naming.hpp"
#include "observe/trace_file.hpp"
#include "observe/trace_writer.hpp"

namespace rankpool::detail {

namespace {

constexpr std::int64_t counter_interval_ns = 1'000'000;

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

// Until the pool finishes, the JSON path holds a valid trace that says where the records are, so
// a killed run's file explains itself when opened (and the path is known to be writable).
void write_placeholder(const std::string& json_path) {
  std::FILE* f = std::fopen(json_path.c_str(), "w");
  if (!f) throw error("rankpool: cannot create the trace file " + json_path + ": " + std::strerror(errno));
  std::fprintf(f,
               "[\n{\"ph\":\"M\",\"pid\":0,\"tid\":0,\"name\":\"rankpool\",\"args\":{\"unfinished\":"
               "\"the pool has not shut down: run rankpool-trace %s.rptrace for the trace so far\"}}\n]\n",
               json_path.c_str());
  std::fclose(f);
}

class recorder final : public observer {
 public:
  recorder(telemetry_config c, std::string pool)
      : cfg_(std::move(c)), pool_(std::move(pool)), start_(observe_clock::now()) {
    if (!cfg_.trace_path.empty()) {
      cfg_.trace_path = claim_trace_path(cfg_.trace_path);
      write_placeholder(cfg_.trace_path);
      trace_.emplace(binary_trace_path(cfg_.trace_path));
      trace_record r;
      r.k = trace_record::pool;
      r.name = names_.add(pool_);
      r.t0 = start_;
      publish_names();
      trace_->add_always(r);
    }
    RANKPOOL_LOG(info, "recording %s%s%s", cfg_.trace_path.empty() ? "" : ("a trace to " + cfg_.trace_path).c_str(),
                 !cfg_.trace_path.empty() && cfg_.summary ? " and " : "", cfg_.summary ? "a summary" : "");
  }

  ~recorder() override { on_finish(); }

  void on_slot(std::size_t slot, std::string label, std::size_t lanes) override {
    std::lock_guard lk(m_);
    if (places_.size() <= slot) places_.resize(slot + 1);
    auto& p = places_[slot];
    p.lanes = std::max<std::size_t>(lanes, 1);
    p.first_track = next_track_;
    next_track_ += static_cast<std::uint32_t>(p.lanes);
    if (trace_) {
      for (std::size_t l = 0; l < p.lanes; ++l) {
        const std::string name = p.lanes == 1 ? label : label + " thread " + std::to_string(l);
        trace_record r;
        r.k = trace_record::track;
        r.track_id = p.first_track + static_cast<std::uint32_t>(l);
        r.name = names_.add(name);
        publish_names();
        trace_->add_always(r);
      }
    }
    summary_.add_slot(slot, std::move(label), lanes);
  }

  void on_task_done(const task& t, const task_event& ev) override {
    task_event e = ev;
    const std::int64_t busy = std::max<std::int64_t>(e.ended - e.started, 0);
    trace_record r;
    {
      std::lock_guard lk(m_);
      if (!summary_.has_slot(e.slot)) return;
      auto& p = places_[e.slot];
      if (e.received) place_on_root_clock(e, p, busy);
      summary_.add_task(e.slot, e.elements, busy, e.bytes_in, e.bytes_out);
      if (!trace_) return;
      r.k = trace_record::task_slice;
      // Tasks run by local threads have no wire id; give them ids no MPI task uses.
      r.id = e.id ? e.id : local_ids_++;
      r.track_id = p.first_track + std::min<std::uint32_t>(e.lane, static_cast<std::uint32_t>(p.lanes - 1));
      r.name = names_.of_task(t);
      publish_names();
    }
    r.elements = e.elements;
    r.t0 = e.submitted ? e.submitted : e.dispatched;
    r.t1 = e.dispatched;
    r.t2 = e.started;
    r.t3 = e.ended;
    r.a = e.bytes_in;
    r.b = e.bytes_out;
    trace_->add(r);
  }

  void on_span(const char* what, std::int64_t begin, std::int64_t end, std::uint64_t count,
               std::uint64_t bytes) override {
    if (!trace_) return;
    trace_record r;
    r.k = trace_record::span;
    r.name = label(what);
    r.t0 = begin;
    r.t1 = end;
    r.a = count;
    r.b = bytes;
    trace_->add(r);
  }

  void on_queue_depth(std::int64_t at, std::size_t queued, std::size_t in_flight) override {
    {
      std::lock_guard lk(m_);
      summary_.queue_depth(queued, in_flight);
      if (!trace_ || at - last_counter_ < counter_interval_ns) return;
      last_counter_ = at;
    }
    trace_record r;
    r.k = trace_record::counter;
    r.t0 = at;
    r.a = queued;
    r.b = in_flight;
    trace_->add(r);
  }

  void on_instant(const char* what, std::int64_t at) override {
    if (!trace_) return;
    trace_record r;
    r.k = trace_record::mark;
    r.name = label(what);
    r.t0 = at;
    trace_->add(r);
  }

  void on_finish() noexcept override {
    {
      std::lock_guard lk(m_);
      if (finished_) return;
      finished_ = true;
    }
    const std::int64_t end = observe_clock::now();
    if (trace_) write_json();
    if (cfg_.summary) summary_.print(pool_, end - start_);
  }

 private:
  // Where a slot's tracks are and how far its worker's clock runs ahead of the root's.
  struct place {
    std::uint32_t first_track = 0;
    std::size_t lanes = 1;
    std::int64_t min_lag = INT64_MAX;  // least (received - worker's end) seen: clock offset estimate
  };
  // A worker's real-time start to the root's steady clock; where the worker's clock runs ahead
  // (a result would seem to arrive before it finished), shifted by the smallest such gap.
  static void place_on_root_clock(task_event& e, place& p, std::int64_t busy) {
    e.started -= observe_clock::realtime_offset();
    p.min_lag = std::min(p.min_lag, e.received - (e.started + busy));
    if (p.min_lag < 0) e.started += p.min_lag;
    e.ended = e.started + busy;
  }

  std::uint32_t label(const char* what) {
    std::lock_guard lk(m_);
    const auto id = names_.of_label(what);
    publish_names();
    return id;
  }

  // Hands the writer the names added since the last call (m_ held, or in the constructor).
  void publish_names() {
    const auto& all = names_.names();
    for (; published_ < all.size(); ++published_)
      trace_->add_string(static_cast<std::uint32_t>(published_), all[published_]);
  }

  void write_json() noexcept {
    const std::string binary = trace_->path();
    if (!trace_->close(summary_.total_tasks())) return;  // logged; the binary file stays
    try {
      const auto c = convert_trace(binary, cfg_.trace_path);
      std::remove(binary.c_str());
      RANKPOOL_LOG(info, "trace written to %s (%llu records)", cfg_.trace_path.c_str(),
                   static_cast<unsigned long long>(c.records));
    } catch (const std::exception& e) {
      RANKPOOL_LOG(error, "%s (the records are in %s)", e.what(), binary.c_str());
    }
  }

  telemetry_config cfg_;
  std::string pool_;
  std::int64_t start_;

  std::mutex m_;
  summary summary_;
  std::vector<place> places_;
  std::uint32_t next_track_ = 0;
  std::int64_t last_counter_ = INT64_MIN / 2;
  bool finished_ = false;

  name_table names_;
  std::size_t published_ = 0;  // names handed to the writer
  std::uint64_t local_ids_ = std::uint64_t{1} << 62;
  std::optional<trace_writer> trace_;
};

}  // namespace

std::unique_ptr<observer> make_telemetry(const telemetry_config& c, std::string pool) {
  if (c.trace_path.empty() && !c.summary) return nullptr;
  return std::make_unique<recorder>(c, std::move(pool));
}

}  // namespace rankpool::detail
