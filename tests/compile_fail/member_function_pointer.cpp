// A pointer to member function is not one of the callables a worker can rebuild.
#include <rankpool/rankpool.hpp>

struct counter {
  int n = 0;
  int next() { return ++n; }
};

void use(rankpool::comm_executor& pool) {
  pool.submit(&counter::next, counter{});
}
