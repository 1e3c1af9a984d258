// A worker's shared values (share_table.hpp) and find_shared, which a task's decoder calls
// through the process's current table.

#include "share/share_table.hpp"

#include <algorithm>
#include <cstring>
#include <rankpool/detail/buffer.hpp>
#include <rankpool/detail/log.hpp>
#include <string>
#include <vector>

#include "common/cpu_share.hpp"
#include "wire/framing.hpp"
#include "wire/transport.hpp"

namespace rankpool::detail {

namespace {
std::mutex current_lock;
share_table* current = nullptr;  // the table of the pool this process serves

}  // namespace

std::size_t shared_values_held() noexcept {
  std::lock_guard lk(current_lock);
  return current ? current->size() : 0;
}

std::shared_ptr<shared_block> find_shared(std::uint64_t id) {
  std::lock_guard lk(current_lock);
  std::shared_ptr<shared_block> b = current ? current->find(id) : nullptr;
  if (!b)
    throw decode_error("rankpool: a task names shared value " + std::to_string(id) + ", which this rank does not hold");
  return b;
}

share_table::share_table(MPI_Comm pool, int root, node_layout layout)
    : pool_(pool), root_(root), layout_(std::move(layout)) {
  // Each worker maps the whole window (its stretch first) when the node's workers fit its CPUs:
  // the idle time while the root fills it then covers what they map (-n 3 on 2 cores: two workers
  // map 2 × the window in a fill of about 0.9 s). With more workers each maps its own stretch
  // only: at -n 8 on 2 cores, seven touchers mapping all of a 160 MB stack ran on through the
  // fill and after the map (svd_batch: the fill 1.05-1.34 s against 0.90-0.95 s, the serial check
  // after the map 0.18-0.20 s against 0.14-0.16 s, 4 runs each), and a task that reads outside its
  // worker's stretch maps those pages itself.
  int node_ranks = 1;
  if (layout_.node != MPI_COMM_NULL) MPI_Comm_size(layout_.node, &node_ranks);
  // The node's CPUs as the pool counted them when it chose its workers (one per core under
  // `--bind-to core` as well); a spawned pool's layout knows neither count, and its worker falls
  // back on every rank but the root and on its own mask.
  const cpu_set_t mask = cpu_share::own_mask();
  const std::size_t workers_here =
      layout_.workers_here > 0 ? layout_.workers_here
                               : static_cast<std::size_t>(std::max(1, node_ranks - (layout_.root_here ? 1 : 0)));
  const std::size_t cpus = layout_.cpus_here > 0 ? layout_.cpus_here : static_cast<std::size_t>(CPU_COUNT(&mask));
  map_all_ = workers_here <= cpus;
  std::lock_guard lk(current_lock);
  current = this;
}

share_table::~share_table() {
  {
    std::lock_guard lk(current_lock);
    if (current == this) current = nullptr;
  }
  // The root closes every value before the shutdown; a value left here means the pool failed,
  // and a collective free could wait for a rank that will not come: the window is left to
  // MPI_Finalize.
  if (!entries_.empty())
    RANKPOOL_LOG(warn, "worker leaves %zu shared values open (the pool ended early)", entries_.size());
  layout_.release();
}

void share_table::open(std::uint64_t id, const char* body, std::size_t n) {
  in_buffer in(body, n);
  const auto rec = in.get_value<wire::share_record>();
  const auto bytes = static_cast<std::size_t>(rec.bytes);
  entry e;
  switch (static_cast<wire::share_mode>(rec.mode)) {
    case wire::share_mode::window: {
      e.window = node_window::open(layout_.node, bytes);
      e.block = std::make_shared<shared_block>(id, shared_block::where::window);
      e.block->set_window(e.window.header, bytes, rec.dims[0], rec.dims[1]);
      if (layout_.leader && !layout_.root_here) {
        // This rank fills its node's window from the one copy the root sends the node.
        auto* h = e.window.header;
        transport::receive_bulk(reinterpret_cast<char*>(h + 1), bytes, root_, pool_);
        h->bytes = rec.bytes;
        h->dims[0] = rec.dims[0];
        h->dims[1] = rec.dims[1];
        h->ready.store(1, std::memory_order_release);
      } else if (page_toucher::enabled() && rec.stripes > 0) {
        // Another rank of this node fills the window: map its pages before tasks read them, this
        // worker's stretch first (a contiguous map's chunks wait for the worker whose stretch
        // holds them). An idle rank runs no tasks and maps nothing.
        const auto at = [&](std::uint32_t i) {
          return static_cast<std::size_t>(static_cast<double>(bytes) * i / static_cast<double>(rec.stripes));
        };
        const std::uint32_t i = std::min(rec.stripe, rec.stripes - 1);
        e.toucher = std::make_unique<page_toucher>(e.window.header + 1, bytes, at(i), at(i + 1), map_all_);
      }
      break;
    }
    case wire::share_mode::encoded: {
      std::vector<char> enc(bytes);
      transport::receive_bulk(enc.data(), bytes, root_, pool_);
      e.block = std::make_shared<shared_block>(id, shared_block::where::per_rank);
      e.block->set_encoded(std::move(enc));
      break;
    }
    default:
      throw decode_error("rankpool: a share_open of unknown mode " + std::to_string(rec.mode));
  }
  std::lock_guard lk(m_);
  entries_[id] = std::move(e);
}

void share_table::close(std::uint64_t id) {
  entry e;
  {
    std::lock_guard lk(m_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    e = std::move(it->second);
    entries_.erase(it);
  }
  e.toucher.reset();  // the thread stops before the window goes
  e.window.close(layout_.node);
}

std::size_t share_table::size() {
  std::lock_guard lk(m_);
  return entries_.size();
}

std::shared_ptr<shared_block> share_table::find(std::uint64_t id) {
  std::lock_guard lk(m_);
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : it->second.block;
}

}  // namespace rankpool::detail
