#pragma once
// The result journal (executor_options::journal, map_options::journal): every successful task's
// encoded result is appended to a file under the SHA-256 of the task's encoded body (invoker
// key, callable, arguments), so a re-run of the same program after a kill finds finished tasks
// and skips them. Records carry a length and a checksum: a torn last record is ignored.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace rankpool::detail {

class journal {
 public:
  using key = std::string;  // 32 raw bytes

  /// Opens (creating if needed) the journal at `path`, loading its complete records; a torn or
  /// corrupt tail is cut off. Throws rankpool::error when the file cannot be used.
  static std::shared_ptr<journal> open(const std::string& path);
  ~journal();
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  /// SHA-256 of a task body (the bytes after the wire header's room).
  static key key_of(const char* body, std::size_t n);

  /// The stored result of `k`, if a previous run finished it.
  std::optional<std::vector<char>> find(const key& k) const;
  /// Appends a finished task's result; thread-safe, never throws (a failed write is reported on
  /// stderr once: the journal is an aid, not part of the result).
  void append(const key& k, const char* data, std::size_t n) noexcept;
  /// Results the journal held when it was opened, and how many were found again since.
  std::size_t loaded() const noexcept { return loaded_; }
  std::size_t hits() const noexcept { return hits_; }
  const std::string& path() const noexcept { return path_; }

 private:
  journal(std::string path, int fd);
  std::string path_;
  int fd_;
  mutable std::mutex m_;
  std::unordered_map<key, std::vector<char>> entries_;
  std::size_t loaded_ = 0;
  mutable std::size_t hits_ = 0;
  bool write_failed_ = false;
  std::int64_t last_sync_ns_ = 0;
};

}  // namespace rankpool::detail
