// A function object with a serialize member is rebuilt by default-constructing it on the worker
// and loading its state, so it needs a default constructor.
#include <rankpool/rankpool.hpp>

struct scaled {
  explicit scaled(double f) : factor(f) {}
  double operator()(double x) const { return factor * x; }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& factor;
  }
  double factor;
};

void use(rankpool::comm_executor& pool) {
  pool.submit(scaled(2.0), 1.5);
}
