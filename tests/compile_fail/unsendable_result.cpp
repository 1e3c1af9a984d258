// A result that cannot be serialized cannot come back from the worker; the diagnostic names its
// type (owning_result).
#include <memory>
#include <rankpool/rankpool.hpp>

struct owning_result {
  std::unique_ptr<int> p;
};

owning_result make(int x) {
  return {std::make_unique<int>(x)};
}

void use(rankpool::comm_executor& pool) {
  pool.submit(make, 1);
}
