// The 15-line program of the README, built against an installed rankpool.
#include <Eigen/SVD>
#include <cstdio>
#include <rankpool/eigen.hpp>
#include <rankpool/rankpool.hpp>

Eigen::VectorXd singular_values(const Eigen::MatrixXd& m) {
  return m.jacobiSvd().singularValues();
}

int main(int argc, char** argv) {
  rankpool::environment env(argc, argv);
  rankpool::comm_executor pool;
  if (!pool.is_root()) return 0;
  std::vector<Eigen::MatrixXd> mats(20, Eigen::MatrixXd::Identity(4, 3) * 2.0);
  double total = 0;
  for (const Eigen::VectorXd& s : pool.map(singular_values, mats, {.chunksize = 4})) total += s.sum();
  auto g = pool.submit([](int a, int b) { return a + b; }, 2, 3);
  std::printf("consumer: workers=%zu total=%g sum=%d\n", pool.num_workers(), total, g.result());
  return (total == 120.0 && g.result() == 5) ? 0 : 1;
}
