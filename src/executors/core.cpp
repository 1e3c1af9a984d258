// The process-wide list of live executor cores, so displays that are not tied to one executor
// (the progress bar of as_completed) can say how many workers are busy.

#include <algorithm>
#include <mutex>
#include <rankpool/detail/core.hpp>
#include <rankpool/errors.hpp>
#include <vector>

namespace rankpool::detail {
namespace {

struct core_list {
  std::mutex m;
  std::vector<const executor_core*> cores;
};

core_list& cores() {
  static auto* list = new core_list;  // never destroyed: cores may outlive static destruction
  return *list;
}

}  // namespace

executor_core::executor_core() {
  auto& l = cores();
  std::lock_guard lk(l.m);
  l.cores.push_back(this);
}

executor_core::~executor_core() {
  auto& l = cores();
  std::lock_guard lk(l.m);
  std::erase(l.cores, this);
}

void executor_core::check_team(std::size_t) const {
  throw invalid_state_error("rankpool: this executor runs no team tasks (submit_parallel needs an MPI executor)");
}

worker_counts live_workers() noexcept {
  worker_counts c;
  auto& l = cores();
  std::lock_guard lk(l.m);
  for (const auto* core : l.cores) {
    c.busy += core->busy_.load(std::memory_order_relaxed);
    c.total += core->workers_.load(std::memory_order_relaxed);
  }
  return c;
}

}  // namespace rankpool::detail
