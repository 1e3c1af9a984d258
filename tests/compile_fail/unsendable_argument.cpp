// An argument that is neither trivially copyable nor serializable cannot be sent; the
// diagnostic names its type (holds_pointer).
#include <memory>
#include <rankpool/rankpool.hpp>

struct holds_pointer {
  std::unique_ptr<int> p;
};

int read_value(holds_pointer h) {
  return *h.p;
}

void use(rankpool::comm_executor& pool) {
  pool.submit(read_value, holds_pointer{std::make_unique<int>(1)});
}
