// Positive control: a normal remote submit and map compile, so a failing snippet fails for its
// own reason, not because the harness cannot build anything.
#include <rankpool/rankpool.hpp>
#include <string>
#include <vector>

int square(int x) {
  return x * x;
}

struct scaled {  // a function object with state and a serialize member
  double factor = 1.0;
  double operator()(double x) const { return factor * x; }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& factor;
  }
};

void use(rankpool::comm_executor& pool) {
  auto f = pool.submit(square, 3);
  auto g = pool.submit([](const std::string& s, int n) { return s.size() + static_cast<std::size_t>(n); },
                       std::string("abc"), 2);
  auto h = pool.submit(scaled{2.0}, 1.5);
  std::vector<int> xs{1, 2, 3};
  for (int y : pool.map(square, xs, {.chunksize = 0})) (void)y;
  (void)f, (void)g, (void)h;
}
