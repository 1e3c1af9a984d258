// sweep: a parameter sweep whose every point is itself an MPI-parallel computation, run as team
// tasks (executor.map_parallel). Each point solves the 1-D heat equation's steady state
// -u'' = s * sin(pi x) on [0, 1], u(0) = u(1) = 0, by Jacobi iterations on a grid split across
// the point's team: every member owns a contiguous piece, swaps one halo value with each
// neighbour per iteration (MPI_Sendrecv on the team communicator) and the team sums the squared
// solution at the end (MPI_Allreduce). The same points run in teams of 2 and of 4 ranks, and
// every result is checked against the same iterations on rank 0 alone: the updates are the same
// arithmetic in the same order, so only the final sum's order differs.
//
//     mpirun -n 9 ./sweep --points 8 --grid 2048 --iterations 4000
//
// Exit status: 0 when every point matched, 1 when one did not (or a task failed), 2 for a bad
// command line.

#include <mpi.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <rankpool/rankpool.hpp>
#include <stdexcept>
#include <vector>

namespace sweep {

/// One point of the sweep.
struct point {
  double source = 1;      // s: the strength of the heat source
  int grid = 1024;        // interior grid points
  int iterations = 1000;  // Jacobi sweeps
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& source& grid& iterations;
  }
};

/// The source term at interior point i (of n) for a point of strength s.
double source_at(const point& p, int i) {
  const double h = 1.0 / (p.grid + 1);
  return p.source * std::sin(std::numbers::pi * h * (i + 1));
}

/// Jacobi on the whole grid, on one rank: the reference.
double solve_serial(const point& p) {
  const double h2 = 1.0 / ((p.grid + 1.0) * (p.grid + 1.0));
  std::vector<double> u(static_cast<std::size_t>(p.grid) + 2, 0.0), next = u;
  for (int it = 0; it < p.iterations; ++it) {
    for (int i = 1; i <= p.grid; ++i)
      next[static_cast<std::size_t>(i)] =
          0.5 * (u[static_cast<std::size_t>(i) - 1] + u[static_cast<std::size_t>(i) + 1] + h2 * source_at(p, i - 1));
    std::swap(u, next);
  }
  double sum = 0;
  for (int i = 1; i <= p.grid; ++i) sum += u[static_cast<std::size_t>(i)] * u[static_cast<std::size_t>(i)];
  return std::sqrt(sum / p.grid);
}

/// Jacobi on the team: this member's share of the grid, halos from its neighbours. Returns the
/// root mean square of u over the whole grid (every member returns it; team rank 0's counts).
double solve_on_team(MPI_Comm team, point p) {
  int rank = 0, size = 1;
  MPI_Comm_rank(team, &rank);
  MPI_Comm_size(team, &size);
  if (p.grid < size) throw std::invalid_argument("sweep: fewer grid points than team ranks");
  // Contiguous pieces, the first (grid % size) one point longer.
  const int base = p.grid / size, extra = p.grid % size;
  const int first = rank * base + std::min(rank, extra);
  const int mine = base + (rank < extra ? 1 : 0);
  const int left = rank > 0 ? rank - 1 : MPI_PROC_NULL, right = rank + 1 < size ? rank + 1 : MPI_PROC_NULL;
  const double h2 = 1.0 / ((p.grid + 1.0) * (p.grid + 1.0));
  std::vector<double> u(static_cast<std::size_t>(mine) + 2, 0.0), next = u;  // u[0], u[mine+1]: halos
  for (int it = 0; it < p.iterations; ++it) {
    // Halos: my first value goes left while the right neighbour's first comes in, and back.
    MPI_Sendrecv(&u[1], 1, MPI_DOUBLE, left, 0, &u[static_cast<std::size_t>(mine) + 1], 1, MPI_DOUBLE, right, 0, team,
                 MPI_STATUS_IGNORE);
    MPI_Sendrecv(&u[static_cast<std::size_t>(mine)], 1, MPI_DOUBLE, right, 1, &u[0], 1, MPI_DOUBLE, left, 1, team,
                 MPI_STATUS_IGNORE);
    for (int i = 1; i <= mine; ++i)
      next[static_cast<std::size_t>(i)] = 0.5 * (u[static_cast<std::size_t>(i) - 1] +
                                                 u[static_cast<std::size_t>(i) + 1] + h2 * source_at(p, first + i - 1));
    std::swap(u, next);
  }
  double part = 0, sum = 0;
  for (int i = 1; i <= mine; ++i) part += u[static_cast<std::size_t>(i)] * u[static_cast<std::size_t>(i)];
  MPI_Allreduce(&part, &sum, 1, MPI_DOUBLE, MPI_SUM, team);
  return std::sqrt(sum / p.grid);
}

struct options {
  int points = 6;
  int grid = 1024;
  int iterations = 2000;
  std::vector<int> teams{2, 4};
};

int run(rankpool::comm_executor& pool, const options& o) {
  std::vector<point> points;
  for (int i = 0; i < o.points; ++i) points.push_back({1.0 + i, o.grid, o.iterations});
  std::vector<double> reference;
  for (const auto& p : points) reference.push_back(solve_serial(p));
  std::printf("sweep: %d points, grid %d, %d Jacobi iterations, %zu workers\n", o.points, o.grid, o.iterations,
              pool.num_workers());
  bool ok = true;
  for (int k : o.teams) {
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t i = 0;
    double worst = 0;
    for (double rms : pool.map_parallel(static_cast<std::size_t>(k), solve_on_team, points)) {
      const double err = std::abs(rms - reference[i]) / std::max(std::abs(reference[i]), 1e-300);
      worst = std::max(worst, err);
      if (!(err <= 1e-12)) {
        std::fprintf(stderr, "sweep: point %zu (s = %g) on a team of %d: %.17g, serially %.17g\n", i, points[i].source,
                     k, rms, reference[i]);
        ok = false;
      }
      ++i;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("teams of %d: %zu points in %.3f s, largest relative difference from the serial run %.3g\n", k, i, s,
                worst);
  }
  std::printf("sweep: %s\n", ok ? "every point matched the serial run" : "MISMATCH");
  return ok ? 0 : 1;
}

}  // namespace sweep

int main(int argc, char** argv) {
  try {
    rankpool::environment env(argc, argv);
    rankpool::comm_executor pool;
    if (!pool.is_root()) return 0;  // a worker served team tasks until the root shut down
    sweep::options o;
    CLI::App app{"A parameter sweep whose points run on teams of MPI ranks (rankpool map_parallel)", "sweep"};
    app.add_option("--points", o.points, "points of the sweep")->check(CLI::Range(1, 100000));
    app.add_option("--grid", o.grid, "interior grid points of each solve")->check(CLI::Range(4, 100000000));
    app.add_option("--iterations", o.iterations, "Jacobi iterations of each solve")->check(CLI::Range(1, 100000000));
    app.add_option("--teams", o.teams, "team sizes to run the sweep with")->check(CLI::PositiveNumber);
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      const int rc = app.exit(e);
      return rc == 0 ? 0 : 2;
    }
    return sweep::run(pool, o);
  } catch (const std::invalid_argument& e) {  // a team larger than the pool, a grid smaller than a team
    std::fprintf(stderr, "sweep: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sweep: %s\n", e.what());
    return 1;
  }
}
