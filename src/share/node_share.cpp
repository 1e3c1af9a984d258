// The root's side of shared values (node_share.hpp). One value at a time (lock_): the root tells
// every serving rank (share_open, in the same channel as tasks, so it arrives before any task
// that names the value), joins its node's window collective, fills its node's window, sends one
// copy to the leader of every other node (tag_share), and only then marks its window ready.

#include "share/node_share.hpp"

#include <atomic>
#include <cstring>
#include <rankpool/detail/log.hpp>
#include <rankpool/errors.hpp>

#include "wire/framing.hpp"
#include "wire/transport.hpp"

namespace rankpool::detail {

namespace {
std::atomic<std::uint64_t> bytes_sent{0};

// Sends a value's bytes to `dest` and counts them.
void send_value(const char* data, std::size_t n, int dest, MPI_Comm comm) {
  transport::send_bulk(data, n, dest, comm);
  bytes_sent.fetch_add(n, std::memory_order_relaxed);
}

// A share_open or share_close message: the header, then `n` bytes of record.
std::vector<char> share_message(wire::kind k, std::uint64_t id, const void* record, std::size_t n) {
  std::vector<char> m(sizeof(wire::header) + n);
  wire::put_header(m.data(), k, id, n);
  if (n) std::memcpy(m.data() + sizeof(wire::header), record, n);
  return m;
}
}  // namespace

std::uint64_t share_bytes_sent() noexcept {
  return bytes_sent.load(std::memory_order_relaxed);
}

node_share::node_share(MPI_Comm pool, node_layout layout, std::vector<int> ranks, std::size_t workers)
    : pool_(pool), layout_(std::move(layout)), ranks_(std::move(ranks)), workers_(workers) {}

node_share::~node_share() {
  close_all();
  layout_.release();
}

void node_share::check_open_for_values() const {
  if (ended_) throw invalid_state_error("rankpool: cannot share a value after shutdown (or on a broken executor)");
  if (loop_ && loop_->held_here())
    throw invalid_state_error(
        "rankpool: share() cannot run in a done callback: callbacks run on the thread that runs the pool's "
        "loop, which placing the value waits for");
}

void node_share::announce(std::uint64_t id, wire::share_record rec) {
  // Each worker learns its slot, so it maps its own stretch of the window first: the chunks of
  // a contiguous map that wait for it (root_queue.hpp) read there.
  for (std::size_t i = 0; i < ranks_.size(); ++i) {
    rec.stripe = static_cast<std::uint32_t>(i < workers_ ? i : 0);
    rec.stripes = static_cast<std::uint32_t>(i < workers_ ? workers_ : 0);
    const auto m = share_message(wire::kind::share_open, id, &rec, sizeof rec);
    transport::send(m.data(), m.size(), ranks_[i], pool_);
  }
}

std::shared_ptr<shared_block> node_share::make_block(std::uint64_t id, shared_block::where w) {
  auto b = std::make_shared<shared_block>(id, w);
  b->on_release([self = weak_from_this(), id] {
    if (auto s = self.lock()) s->release(id);
  });
  if (!closer_.joinable()) closer_ = std::thread([this] { closer_loop(); });
  return b;
}

std::shared_ptr<shared_block> node_share::place(std::size_t bytes, std::uint64_t d0, std::uint64_t d1,
                                                const std::function<void(char*)>& fill) {
  std::lock_guard lk(lock_);
  check_open_for_values();
  const std::uint64_t id = ++next_id_;
  wire::share_record rec{bytes, {d0, d1}, static_cast<std::uint8_t>(wire::share_mode::window), {}, 0, 0, {}};
  announce(id, rec);
  node_window w = node_window::open(layout_.node, bytes);
  try {
    w.header->bytes = bytes;
    w.header->dims[0] = d0;
    w.header->dims[1] = d1;
    char* data = reinterpret_cast<char*>(w.header + 1);
    fill(data);
    for (int r : layout_.remote_leaders) send_value(data, bytes, r, pool_);
    w.header->ready.store(1, std::memory_order_release);
  } catch (...) {
    // The node's other ranks wait for `ready`; the value is unusable and is closed now.
    w.header->ready.store(1, std::memory_order_release);
    open_[id].window = w;
    close_one(id);
    throw;
  }
  auto b = make_block(id, shared_block::where::window);
  b->set_window(w.header, bytes, d0, d1);
  open_[id] = {w, b};
  return b;
}

std::shared_ptr<shared_block> node_share::send(std::vector<char> encoded) {
  std::lock_guard lk(lock_);
  check_open_for_values();
  const std::uint64_t id = ++next_id_;
  wire::share_record rec{encoded.size(), {0, 0}, static_cast<std::uint8_t>(wire::share_mode::encoded), {}, 0, 0, {}};
  announce(id, rec);
  for (int r : ranks_) send_value(encoded.data(), encoded.size(), r, pool_);
  auto b = make_block(id, shared_block::where::per_rank);
  open_[id].block = b;
  return b;
}

void node_share::release(std::uint64_t id) {
  {
    std::lock_guard q(queue_lock_);
    if (stop_closer_) return;  // close_all frees it
    to_close_.push_back(id);
  }
  queue_cv_.notify_one();
}

void node_share::closer_loop() {
  std::unique_lock q(queue_lock_);
  while (true) {
    queue_cv_.wait(q, [&] { return stop_closer_ || !to_close_.empty(); });
    if (to_close_.empty()) return;  // stopping, nothing left
    auto ids = std::exchange(to_close_, {});
    q.unlock();
    {
      std::lock_guard lk(lock_);
      if (!ended_)
        for (auto id : ids) close_one(id);
    }
    q.lock();
  }
}

void node_share::close_one(std::uint64_t id) noexcept {
  auto it = open_.find(id);
  if (it == open_.end()) return;
  try {
    const auto m = share_message(wire::kind::share_close, id, nullptr, 0);
    for (int r : ranks_) transport::send(m.data(), m.size(), r, pool_);
  } catch (const std::exception& e) {
    RANKPOOL_LOG(warn, "shared value %llu: the workers cannot be told it is gone: %s",
                 static_cast<unsigned long long>(id), e.what());
  }
  if (auto b = it->second.block.lock()) b->close();
  it->second.window.close(layout_.node);
  open_.erase(it);
}

void node_share::close_all() noexcept {
  {
    std::lock_guard q(queue_lock_);
    stop_closer_ = true;
  }
  queue_cv_.notify_one();
  if (closer_.joinable() && closer_.get_id() != std::this_thread::get_id()) closer_.join();
  std::lock_guard lk(lock_);
  if (ended_) return;
  ended_ = true;
  while (!open_.empty()) close_one(open_.begin()->first);
}

void node_share::abandon() noexcept {
  {
    std::lock_guard q(queue_lock_);
    stop_closer_ = true;
  }
  queue_cv_.notify_one();
  std::lock_guard lk(lock_);
  ended_ = true;
  for (auto& [id, v] : open_)
    if (auto b = v.block.lock()) b->close();
  open_.clear();
}

}  // namespace rankpool::detail
