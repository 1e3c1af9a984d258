// The binary trace's writer thread (see trace_writer.hpp).

#include "observe/trace_writer.hpp"

#include <cerrno>
#include <cstring>
#include <rankpool/detail/log.hpp>
#include <rankpool/errors.hpp>

namespace rankpool::detail {

trace_writer::trace_writer(std::string path) : path_(std::move(path)) {
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) throw error("rankpool: cannot create the trace file " + path_ + ": " + std::strerror(errno));
  std::fwrite(trace_magic, 1, sizeof trace_magic, file_);
  thread_ = std::thread([this] { loop(); });
}

trace_writer::~trace_writer() {
  close(0);
}

void trace_writer::add_string(std::uint32_t id, std::string s) {
  std::lock_guard lk(m_);
  strings_.emplace_back(id, std::move(s));
}

void trace_writer::add_always(const trace_record& r) {
  std::lock_guard lk(m_);
  pending_.push_back(r);
}

void trace_writer::add(const trace_record& r) {
  std::lock_guard lk(m_);
  if (pending_.size() >= max_pending) {
    ++dropped_;
    return;
  }
  pending_.push_back(r);
  if (pending_.size() == max_pending / 4) cv_.notify_all();
}

bool trace_writer::close(std::uint64_t tasks) noexcept {
  {
    std::lock_guard lk(m_);
    if (closing_) return !failed_;
    closing_ = true;
  }
  cv_.notify_all();
  thread_.join();  // it writes what waits before it ends
  trace_record end;
  end.k = trace_record::end;
  end.a = dropped_;
  end.b = tasks;
  write({}, {end});
  if (std::fclose(file_) != 0 && !failed_) {
    failed_ = true;
    RANKPOOL_LOG(error, "writing the trace %s failed: %s", path_.c_str(), std::strerror(errno));
  }
  file_ = nullptr;
  return !failed_;
}

void trace_writer::loop() {
  std::vector<trace_record> batch;
  std::vector<std::pair<std::uint32_t, std::string>> strings;
  while (true) {
    bool last;
    {
      std::unique_lock lk(m_);
      cv_.wait_for(lk, std::chrono::milliseconds(100), [&] { return closing_ || pending_.size() >= max_pending / 4; });
      batch.swap(pending_);
      strings.swap(strings_);
      last = closing_;
    }
    // Strings first: every record of the batch that names one was queued after it.
    write(strings, batch);
    std::fflush(file_);
    batch.clear();
    strings.clear();
    if (last) return;
  }
}

void trace_writer::write(const std::vector<std::pair<std::uint32_t, std::string>>& strings,
                         const std::vector<trace_record>& records) {
  bool ok = true;
  for (const auto& [id, s] : strings) {
    trace_record r;
    r.k = trace_record::string;
    r.name = id;
    r.a = s.size();
    std::string padded = s;
    padded.resize((s.size() + sizeof r - 1) / sizeof r * sizeof r, '\0');
    ok &= std::fwrite(&r, sizeof r, 1, file_) == 1;
    ok &= std::fwrite(padded.data(), 1, padded.size(), file_) == padded.size();
  }
  if (!records.empty())
    ok &= std::fwrite(records.data(), sizeof(trace_record), records.size(), file_) == records.size();
  if (!ok && !failed_) {
    failed_ = true;
    RANKPOOL_LOG(error, "writing the trace %s failed: %s", path_.c_str(), std::strerror(errno));
  }
}

}  // namespace rankpool::detail
