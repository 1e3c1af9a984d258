// A function object without a default constructor cannot be rebuilt on a worker, as a capturing
// lambda cannot.
#include <rankpool/rankpool.hpp>

struct adder {
  explicit adder(int k) : k_(k) {}
  int operator()(int x) const { return x + k_; }
  int k_;
};

void use(rankpool::comm_executor& pool) {
  pool.submit(adder(2), 1);
}
