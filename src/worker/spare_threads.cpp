// The spare threads of a worker's serve loop (see spare_threads.hpp).

#include "worker/spare_threads.hpp"

#include <utility>

namespace rankpool::detail {

spare_threads::~spare_threads() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void spare_threads::start(std::function<void()> body) {
  std::lock_guard lk(m_);
  threads_.emplace_back(std::move(body));
}

void spare_threads::failed(std::exception_ptr e) {
  std::lock_guard lk(m_);
  if (!error_) error_ = std::move(e);
}

void spare_threads::join() {
  // Taken out under the lock: a thread being joined may still start another (slot_keeper).
  std::vector<std::thread> done;
  {
    std::lock_guard lk(m_);
    done.swap(threads_);
  }
  for (auto& t : done) t.join();
  std::lock_guard lk(m_);
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

}  // namespace rankpool::detail
