// this_pool() over a pool in this process (see pool_view.hpp).

#include "common/pool_view.hpp"

namespace rankpool::detail {
namespace {

class pool_view final : public executor_core {
 public:
  explicit pool_view(executor_core& pool) : pool_(pool) {}

  void submit(std::vector<task_ptr>& tasks) override {
    for (auto& t : tasks) t->nested = true;
    pool_.submit(tasks);
  }
  // The program that made the pool ends it; a task's view never does.
  void shutdown(bool, bool) override {}
  void terminate(int) override {}
  std::size_t num_workers() const noexcept override { return pool_.num_workers(); }
  bool wants_bytes() const noexcept override { return pool_.wants_bytes(); }
  bool runs_locally() const noexcept override { return pool_.runs_locally(); }
  void check_team(std::size_t k) const override { pool_.check_team(k); }

 private:
  executor_core& pool_;
};

}  // namespace

std::unique_ptr<executor_core> make_pool_view(executor_core& pool) {
  return std::make_unique<pool_view>(pool);
}

}  // namespace rankpool::detail
