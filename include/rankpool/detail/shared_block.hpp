#pragma once
// One shared value (executor.share) as a rank sees it: where its bytes are (the node's
// shared-memory window, bytes sent to this rank, or the value itself on a local executor), and
// the value built from them on first use. The pool's side of placing and releasing it is in
// src/share/ (node_share on the root, share_table on the workers).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <rankpool/errors.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace rankpool::detail {

/// What opens a shared value's bytes in the node's window: set by the rank that fills them, read
/// before the first use on every rank of the node. Cache-line sized, so the value after it keeps
/// the window's alignment.
struct window_header {
  std::atomic<std::uint64_t> ready;  // 1 once the value's bytes are in place
  std::uint64_t bytes;
  std::uint64_t dims[2];  // element count (vectors), rows and columns (Eigen)
  char pad[32];
};
static_assert(sizeof(window_header) == 64);

class shared_block {
 public:
  /// Where the value's bytes are on this rank.
  enum class where : std::uint8_t {
    local,     // the value itself (thread_executor, a one-rank pool)
    window,    // contiguous bytes in the node's MPI-3 shared-memory window
    per_rank,  // the value as the root encoded it, sent to this rank once (the root holds the value)
  };

  shared_block(std::uint64_t id, where w) : id_(id), where_(w) {}
  shared_block(const shared_block&) = delete;
  shared_block& operator=(const shared_block&) = delete;
  /// On the root: tells the pool that no handle and no task holds the value any more.
  ~shared_block() {
    if (release_) release_();
  }

  std::uint64_t id() const noexcept { return id_; }
  where place() const noexcept { return where_; }

  /// A window value: its header in the node's window (the bytes follow it), and its size and
  /// dimensions (known from the share_open, so they need not wait for the header).
  void set_window(window_header* header, std::size_t bytes, std::uint64_t d0, std::uint64_t d1) noexcept {
    header_ = header;
    set_bytes(reinterpret_cast<const char*>(header + 1), bytes, d0, d1);
  }
  /// The value itself, held here (a local executor, or the root of a per-rank value); for a
  /// contiguous value also where its bytes are.
  void set_value(std::shared_ptr<const void> value, const void* data = nullptr, std::size_t bytes = 0,
                 std::uint64_t d0 = 0, std::uint64_t d1 = 0) noexcept {
    value_ = std::move(value);
    set_bytes(data, bytes, d0, d1);
  }
  /// A per-rank value: the encoded bytes the root sent.
  void set_encoded(std::vector<char> bytes) noexcept { encoded_ = std::move(bytes); }
  const std::vector<char>& encoded() const noexcept { return encoded_; }
  /// Root only: what runs when the last reference goes.
  void on_release(std::function<void()> fn) { release_ = std::move(fn); }
  /// Root only: the pool ended while a handle was still held; the window is gone.
  void close() noexcept { closed_.store(true, std::memory_order_release); }

  /// Whether the value's contiguous bytes are on this rank (a window, or a contiguous local value).
  bool has_bytes() const noexcept { return data_ != nullptr; }
  /// The value's contiguous bytes, once in place (a window filled by another rank of the node
  /// is waited for). Throws invalid_state_error after the pool that placed it ended.
  const char* data() const {
    check_open();
    if (header_) wait_ready();
    return data_;
  }
  /// Size of the contiguous bytes and their dimensions (elements, or rows and columns).
  std::size_t bytes() const noexcept { return bytes_; }
  std::uint64_t dim(int i) const noexcept { return dims_[i]; }

  /// The value as a T: the one held, or built by `make()` on the first call on this rank.
  template <class T, class Make>
  const T& value(Make&& make) const {
    check_open();
    std::call_once(once_, [&] {
      if (!value_) value_ = std::static_pointer_cast<const void>(std::shared_ptr<const T>(make()));
    });
    return *static_cast<const T*>(value_.get());
  }

 private:
  void check_open() const {
    if (closed_.load(std::memory_order_acquire))
      throw invalid_state_error("rankpool: this shared value's executor has shut down; its data is gone");
  }
  // The rank that fills a node's window sets `ready` after the bytes; the others read them only
  // after seeing it (release/acquire on memory every rank of the node maps).
  void wait_ready() const {
    auto pause = std::chrono::microseconds(1);
    while (header_->ready.load(std::memory_order_acquire) == 0) {
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
  }

  void set_bytes(const void* data, std::size_t bytes, std::uint64_t d0, std::uint64_t d1) noexcept {
    data_ = static_cast<const char*>(data);
    bytes_ = bytes;
    dims_[0] = d0;
    dims_[1] = d1;
  }

  std::uint64_t id_;
  where where_;
  window_header* header_ = nullptr;
  const char* data_ = nullptr;
  std::size_t bytes_ = 0;
  std::uint64_t dims_[2] = {};
  std::vector<char> encoded_;
  std::function<void()> release_;
  std::atomic<bool> closed_{false};
  mutable std::once_flag once_;
  mutable std::shared_ptr<const void> value_;
};

/// The places a pool offers for shared values (the MPI scheduler's node_share); local
/// executors offer none and keep the value itself.
class share_service {
 public:
  virtual ~share_service() = default;
  /// Places `bytes` contiguous bytes once per node, in an MPI-3 shared-memory window: `fill`
  /// writes them on the root's node, and one rank of every other node receives a copy.
  /// Blocks until the root's node has them. Throws invalid_state_error after shutdown.
  virtual std::shared_ptr<shared_block> place(std::size_t bytes, std::uint64_t d0, std::uint64_t d1,
                                              const std::function<void(char*)>& fill) = 0;
  /// Sends `encoded` (the value as codec<T> writes it) once to every worker rank, where it is
  /// decoded on first use. Throws invalid_state_error after shutdown.
  virtual std::shared_ptr<shared_block> send(std::vector<char> encoded) = 0;
};

/// Bytes of shared values this process has sent to other ranks as root (one copy per node
/// beyond its own, or per rank where there are no node windows): what a test or a benchmark
/// reads to see that a value moved once per node.
std::uint64_t share_bytes_sent() noexcept;
/// Shared values this process holds as a worker rank now (opened and not yet closed).
std::size_t shared_values_held() noexcept;

/// On a worker rank: the shared value `id` its root placed, for decoding a task's handle.
/// Throws decode_error when this rank has no such value.
std::shared_ptr<shared_block> find_shared(std::uint64_t id);

}  // namespace rankpool::detail
