// The slots of threads that run tasks (see slot_keeper.hpp).

#include "common/slot_keeper.hpp"

namespace rankpool::detail {

slot_keeper::slot_keeper(std::function<void()> spawn, std::function<void()> wake)
    : spawn_(std::move(spawn)), wake_(std::move(wake)) {}

bool slot_keeper::lend() {
  bool start = false;
  {
    std::lock_guard lk(m_);
    if (closed_) return false;
    ++free_;
    // Reclaimers and spares (parked, or started and on their way) take the free slots; one
    // more thread is started when they are too few.
    if (free_ > reclaimers_ + spares_) {
      ++spares_;
      start = true;
    }
  }
  cv_.notify_all();
  if (start) spawn_();
  return true;
}

void slot_keeper::reclaim() {
  {
    std::lock_guard lk(m_);
    ++reclaimers_;
  }
  wake_();  // a holder asleep for want of work gives its slot up
  std::unique_lock lk(m_);
  cv_.wait(lk, [&] { return free_ > 0 || closed_; });
  if (free_ > 0) --free_;
  --reclaimers_;
}

bool slot_keeper::between_tasks() {
  std::unique_lock lk(m_);
  if (closed_) return false;
  if (reclaimers_ == 0) return true;
  ++free_;
  cv_.notify_all();
  ++spares_;
  return park_locked(lk);
}

bool slot_keeper::reclaim_pending() const {
  // Without the lock: the serve loop looks before every task, and a reclaimer that is missed
  // once is seen at the next look (it also wakes the holders).
  return reclaimers_.load(std::memory_order_relaxed) > 0;
}

bool slot_keeper::take_slot() {
  std::unique_lock lk(m_);
  return park_locked(lk);
}

// A spare (counted in spares_) waits for a slot no reclaimer wants.
bool slot_keeper::park_locked(std::unique_lock<std::mutex>& lk) {
  cv_.wait(lk, [&] { return closed_ || (free_ > 0 && reclaimers_ == 0); });
  --spares_;
  if (closed_) return false;
  --free_;
  return true;
}

void slot_keeper::close() {
  {
    std::lock_guard lk(m_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace rankpool::detail
