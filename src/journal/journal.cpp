// The result journal (executor_options::journal): append-only records of successful results,
// keyed by the SHA-256 of the encoded task, each checksummed, so a killed run resumes from what
// finished and a torn last record is cut off.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <rankpool/detail/journal.hpp>
#include <rankpool/detail/log.hpp>
#include <rankpool/errors.hpp>

#include "common/fd_io.hpp"
#include "common/sha256.hpp"

namespace rankpool::detail {
namespace {

constexpr std::uint32_t record_magic = 0x4a505252;  // "RRPJ"
constexpr std::size_t key_bytes = 32;

// [magic u32][payload length u64][key 32][payload][sha256(key + payload) first 8 bytes]
struct record_head {
  std::uint32_t magic;
  std::uint32_t reserved;
  std::uint64_t length;
};

std::uint64_t check_of(const char* key, const char* data, std::size_t n) {
  const std::string md = sha256().update(key, key_bytes).update(data, n).finish();
  std::uint64_t c;
  std::memcpy(&c, md.data(), sizeof c);
  return c;
}

// One process opens one journal file once, so two maps with the same path share it.
std::mutex open_mutex;
std::map<std::string, std::weak_ptr<journal>>& open_journals() {
  static std::map<std::string, std::weak_ptr<journal>> m;
  return m;
}

}  // namespace

journal::journal(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
journal::~journal() {
  if (fd_ >= 0) {
    ::fdatasync(fd_);
    ::close(fd_);
  }
}

journal::key journal::key_of(const char* body, std::size_t n) {
  return sha256::of(body, n).substr(0, key_bytes);
}

std::shared_ptr<journal> journal::open(const std::string& path) {
  std::lock_guard lk(open_mutex);
  if (auto j = open_journals()[path].lock()) return j;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw error("rankpool: cannot open the journal " + path + ": " + std::strerror(errno));
  std::shared_ptr<journal> j(new journal(path, fd));
  // Load every complete record; stop at the first torn or corrupt one and cut the file there,
  // so new records follow the last good one.
  struct stat st {};
  ::fstat(fd, &st);
  std::vector<char> all(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < all.size()) {
    auto k = ::pread(fd, all.data() + got, all.size() - got, static_cast<off_t>(got));
    if (k <= 0) break;
    got += static_cast<std::size_t>(k);
  }
  std::size_t pos = 0;
  while (pos + sizeof(record_head) + key_bytes + 8 <= got) {
    record_head h;
    std::memcpy(&h, all.data() + pos, sizeof h);
    if (h.magic != record_magic || h.length > got - pos - sizeof h - key_bytes - 8) break;
    const char* key_at = all.data() + pos + sizeof h;
    const char* data = key_at + key_bytes;
    std::uint64_t check;
    std::memcpy(&check, data + h.length, sizeof check);
    if (check != check_of(key_at, data, static_cast<std::size_t>(h.length))) break;
    j->entries_[key(key_at, key_bytes)] = std::vector<char>(data, data + h.length);
    pos += sizeof h + key_bytes + static_cast<std::size_t>(h.length) + 8;
  }
  if (pos < static_cast<std::size_t>(st.st_size)) {
    RANKPOOL_LOG(warn, "journal %s: ignored a torn or corrupt tail of %zu bytes", path.c_str(),
                 static_cast<std::size_t>(st.st_size) - pos);
    if (::ftruncate(fd, static_cast<off_t>(pos)) != 0)
      throw error("rankpool: cannot repair the journal " + path + ": " + std::strerror(errno));
  }
  ::lseek(fd, static_cast<off_t>(pos), SEEK_SET);
  j->loaded_ = j->entries_.size();
  open_journals()[path] = j;
  return j;
}

std::optional<std::vector<char>> journal::find(const key& k) const {
  std::lock_guard lk(m_);
  auto it = entries_.find(k);
  if (it == entries_.end()) return std::nullopt;
  ++hits_;
  return it->second;
}

void journal::append(const key& k, const char* data, std::size_t n) noexcept {
  try {
    std::vector<char> rec(sizeof(record_head) + key_bytes + n + 8);
    record_head h{record_magic, 0, n};
    std::memcpy(rec.data(), &h, sizeof h);
    std::memcpy(rec.data() + sizeof h, k.data(), key_bytes);
    if (n) std::memcpy(rec.data() + sizeof h + key_bytes, data, n);
    auto check = check_of(k.data(), data, n);
    std::memcpy(rec.data() + sizeof h + key_bytes + n, &check, sizeof check);
    std::lock_guard lk(m_);
    // One write per record: a process killed mid-way leaves at most one torn record at the end.
    if (!write_all(fd_, rec.data(), rec.size())) {
      if (!write_failed_) RANKPOOL_LOG(error, "journal %s: write failed: %s", path_.c_str(), std::strerror(errno));
      write_failed_ = true;
      return;
    }
    entries_.try_emplace(k, data, data + n);
    // A killed process keeps what write() handed the kernel; a machine crash needs the disk, so
    // sync now and then without paying for it on every record.
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    if (now - last_sync_ns_ > 1'000'000'000) {
      ::fdatasync(fd_);
      last_sync_ns_ = now;
    }
  } catch (...) {
  }
}

}  // namespace rankpool::detail
