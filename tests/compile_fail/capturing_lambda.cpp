// A capturing lambda cannot be rebuilt on a worker: the captured values must travel as arguments.
#include <rankpool/rankpool.hpp>

void use(rankpool::comm_executor& pool, int offset) {
  pool.submit([offset](int x) { return x + offset; }, 1);
}
