// pipeline: a tiled (blocked) Cholesky factorization A = L L^T run on the ranks of an MPI job by
// a rankpool::comm_executor, its task graph built with futures as task arguments.
//
//     mpirun -n 4 pipeline --tiles 10 --tile-size 200 --seed 0
//
// What it shows: tasks with real dependencies, expressed by passing one task's future as an
// argument of the next submit. The matrix is NT x NT tiles of T x T (Eigen::MatrixXd); every
// step of the right-looking algorithm is a free function that takes tiles by value and returns
// a tile (potrf, trsm, syrk, gemm), submitted with the futures of the tiles it reads. The root
// keeps only a 2-D table of the futures of the current tiles, and each update replaces a tile's
// future with the future of the task that updates it. The whole graph is submitted at once and
// no thread waits for any of it: a task goes to a worker when its last input finishes. A map
// over the futures of the diagonal tiles (log det A) runs beside the factorization, each part
// as soon as its tile is factored. The tiles themselves are made by tasks too, so the root sends
// no matrix data at all; it only collects L at the end.
//
// L is checked against a serial Eigen::LLT of the same matrix on rank 0: the largest
// |L - L_llt|, relative to the largest |L_llt|, must stay within --tolerance (the two orders of
// operations round differently, so the results agree to about 1e-15, not bit for bit).
//
// Exit status: 0 success; 1 the check failed or a task failed; 2 bad arguments.

#include <mpi.h>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <optional>
#include <random>
#include <rankpool/eigen.hpp>
#include <rankpool/rankpool.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace pipeline {

using tile = Eigen::MatrixXd;

/// A bad argument: reported in one line, exit status 2.
class bad_input : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- the tasks: free functions, so that every worker finds them by address ------------------

/// Tile (i, j), i >= j, of the test matrix of `tiles` x `tiles` tiles of `size` x `size`, the same
/// on every rank for the same seed (the serial check rebuilds the matrix from it). Entries off
/// the diagonal are uniform in [-1, 1] and the diagonal is N + 1 (N = tiles x size, plus a
/// uniform part): a symmetric, strictly diagonally dominant matrix with a positive diagonal is
/// positive definite, so no seed ever gives a matrix that Cholesky cannot factor.
tile make_tile(std::uint64_t seed, std::size_t tiles, std::size_t size, std::size_t i, std::size_t j) {
  // One generator per tile, seeded by its position: tiles are made independently, in any
  // order, on any rank, and still form the same matrix.
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(j)};
  std::mt19937_64 gen(seq);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  const auto t = static_cast<Eigen::Index>(size);
  tile a(t, t);
  for (Eigen::Index c = 0; c < t; ++c)
    for (Eigen::Index r = 0; r < t; ++r) a(r, c) = uniform(gen);
  if (i != j) return a;
  tile d = (a + a.transpose()) * 0.5;  // a diagonal tile is symmetric itself
  d.diagonal().array() += static_cast<double>(tiles * size) + 1.0;
  return d;
}

/// Factors a diagonal tile: its lower Cholesky factor L_kk (zeros above the diagonal). Reads
/// only the lower triangle of `a`, which is all that syrk keeps up to date.
tile potrf(tile a) {
  Eigen::LLT<tile> llt(a);
  if (llt.info() != Eigen::Success) throw std::domain_error("potrf: a diagonal tile is not positive definite");
  return llt.matrixL();
}

/// A tile below the diagonal of the panel: A_ik L_kk^-T, by a triangular solve from the right.
tile trsm(tile a, tile l_kk) {
  l_kk.triangularView<Eigen::Lower>().transpose().solveInPlace<Eigen::OnTheRight>(a);
  return a;
}

/// A diagonal tile after panel k: A_ii - L_ik L_ik^T. Only the lower triangle is updated (half
/// the work); potrf reads no more.
tile syrk(tile c, tile l_ik) {
  c.selfadjointView<Eigen::Lower>().rankUpdate(l_ik, -1.0);
  return c;
}

/// A tile below the diagonal after panel k: A_ij - L_ik L_jk^T.
tile gemm(tile c, tile l_ik, tile l_jk) {
  c.noalias() -= l_ik * l_jk.transpose();
  return c;
}

/// This diagonal tile's share of log det A = 2 sum log L_kk(r, r) (the map over futures).
double log_det_part(tile l_kk) {
  return 2.0 * l_kk.diagonal().array().log().sum();
}

// ---- the task graph ------------------------------------------------------------------------

/// How many tasks of each kind the factorization submitted.
struct task_counts {
  std::size_t make = 0, potrf = 0, trsm = 0, syrk = 0, gemm = 0, log_det = 0;
  std::size_t total() const { return make + potrf + trsm + syrk + gemm + log_det; }
};

/// The result of the parallel factorization.
struct factorization {
  tile l;               // N x N, lower triangular
  double log_det = 0;   // from the map over the diagonal tiles
  double submit_s = 0;  // submitting the whole graph (no task had to finish for it)
  task_counts tasks;
};

/// Factors the test matrix on `pool`: the right-looking tiled Cholesky algorithm, every step a
/// task whose inputs are the futures of the tiles it reads. Only collecting L waits.
template <class Executor>
factorization factor(Executor& pool, std::uint64_t seed, std::size_t nt, std::size_t ts) {
  using clock = std::chrono::steady_clock;
  factorization out;
  task_counts& n = out.tasks;
  const auto t0 = clock::now();

  // a[i][j] (j <= i): the future of tile (i, j) as it is now. The upper triangle is never
  // stored: the matrix is symmetric and the factor lower triangular.
  std::vector<std::vector<rankpool::future<tile>>> a(nt);
  for (std::size_t i = 0; i < nt; ++i)
    for (std::size_t j = 0; j <= i; ++j, ++n.make) a[i].push_back(pool.submit(make_tile, seed, nt, ts, i, j));

  // Priorities steer the tasks that are ready at the same time: the panel (potrf, trsm) and the
  // updates of column k + 1, which the next panel waits for, are the critical path; the rest of
  // the trailing matrix can wait for a free worker.
  constexpr int panel = 2, next_panel = 1, trailing = 0;
  std::vector<rankpool::future<tile>> diagonal;  // the factored diagonal tiles, for log det
  for (std::size_t k = 0; k < nt; ++k) {
    a[k][k] = pool.submit_with({.priority = panel}, potrf, a[k][k]);
    ++n.potrf;
    diagonal.push_back(a[k][k]);
    for (std::size_t i = k + 1; i < nt; ++i, ++n.trsm)
      a[i][k] = pool.submit_with({.priority = panel}, trsm, a[i][k], a[k][k]);
    for (std::size_t i = k + 1; i < nt; ++i) {
      // Each update takes the tile's current future and replaces it, so the next update of the
      // same tile runs after this one; the old tile is freed once the tasks that read it have
      // taken its value.
      a[i][i] = pool.submit_with({.priority = i == k + 1 ? next_panel : trailing}, syrk, a[i][i], a[i][k]);
      ++n.syrk;
      for (std::size_t j = k + 1; j < i; ++j, ++n.gemm)
        a[i][j] = pool.submit_with({.priority = j == k + 1 ? next_panel : trailing}, gemm, a[i][j], a[i][k], a[j][k]);
    }
  }
  // A map over futures: each part starts when its diagonal tile is factored (chunks of one
  // element, so no part waits for a later tile), while the factorization goes on.
  auto parts = pool.map(log_det_part, diagonal, {.chunksize = 1});
  n.log_det = diagonal.size();
  out.submit_s = std::chrono::duration<double>(clock::now() - t0).count();

  // Only now does this thread wait: for the tiles of L, as each is done. A task that failed
  // rethrows here, and so does every task that depended on it.
  const auto t = static_cast<Eigen::Index>(ts);
  out.l = tile::Zero(t * static_cast<Eigen::Index>(nt), t * static_cast<Eigen::Index>(nt));
  for (std::size_t i = 0; i < nt; ++i)
    for (std::size_t j = 0; j <= i; ++j)
      out.l.block(static_cast<Eigen::Index>(i) * t, static_cast<Eigen::Index>(j) * t, t, t) = a[i][j].result();
  for (double p : parts) out.log_det += p;
  return out;
}

// Keeps the graph honest: it must build for local threads as well as for MPI ranks.
template factorization factor(rankpool::thread_executor&, std::uint64_t, std::size_t, std::size_t);

// ---- command line --------------------------------------------------------------------------

constexpr const char* usage_text =
    "usage: pipeline [--tiles NT] [--tile-size T] [--seed S] [--tolerance X] [--help]\n"
    "\n"
    "Tiled Cholesky factorization of a random symmetric positive definite matrix of NT x NT\n"
    "tiles of T x T, every tile operation a task, dependencies passed as futures; checked\n"
    "against a serial Eigen::LLT on rank 0 (mpirun -n P pipeline ...).\n"
    "\n"
    "  --tiles NT       tiles per side (default 10)\n"
    "  --tile-size T    rows and columns of a tile (default 200)\n"
    "  --seed S         random seed of the matrix (default 0)\n"
    "  --tolerance X    largest |L - L_llt| allowed, relative to the largest |L_llt|\n"
    "                   (default 1e-8)\n"
    "  -h, --help       show this help\n"
    "\n"
    "Exit status: 0 success, 1 check failed or a task failed, 2 bad arguments.\n";

struct options {
  std::size_t tiles = 10;
  std::size_t tile_size = 200;
  std::uint64_t seed = 0;
  double tolerance = 1e-8;
  bool help = false;
};

std::uint64_t parse_integer(std::string_view option, std::string_view text, bool allow_zero) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range)
    throw bad_input(std::string(option) + ": '" + std::string(text) + "' is too large");
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || (v == 0 && !allow_zero))
    throw bad_input(std::string(option) + ": '" + std::string(text) + "' is not a " +
                    (allow_zero ? "non-negative" : "positive") + " integer");
  return v;
}

// Rows of the whole matrix, at most: far beyond any memory (the root holds the matrix twice,
// A for the serial check and L), but it keeps every size computation below overflow.
constexpr std::size_t max_rows = std::size_t{1} << 20;

std::size_t parse_dimension(std::string_view option, std::string_view text) {
  const std::uint64_t v = parse_integer(option, text, false);
  if (v > max_rows) throw bad_input(std::string(option) + ": '" + std::string(text) + "' is too large");
  return static_cast<std::size_t>(v);
}

double parse_positive(std::string_view option, std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v) || v <= 0)
    throw bad_input(std::string(option) + ": '" + s + "' is not a positive number");
  return v;
}

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    std::string_view name = arg;
    std::optional<std::string_view> attached;  // --option=value
    if (arg.starts_with("--") && arg.find('=') != std::string_view::npos) {
      name = arg.substr(0, arg.find('='));
      attached = arg.substr(arg.find('=') + 1);
    }
    const std::string shown(name);
    auto value = [&]() -> std::string_view {
      if (attached) return *attached;
      if (i + 1 >= argc) throw bad_input("option " + shown + " needs a value");
      return argv[++i];
    };
    if (name == "-h" || name == "--help") {
      if (attached) throw bad_input("option " + shown + " takes no value");
      o.help = true;
    } else if (name == "--tiles") {
      o.tiles = parse_dimension(name, value());
    } else if (name == "--tile-size") {
      o.tile_size = parse_dimension(name, value());
    } else if (name == "--seed") {
      o.seed = parse_integer(name, value(), true);
    } else if (name == "--tolerance") {
      o.tolerance = parse_positive(name, value());
    } else if (arg.starts_with("-")) {
      throw bad_input("unknown option '" + std::string(arg) + "' (try --help)");
    } else {
      throw bad_input("unexpected argument '" + std::string(arg) + "' (try --help)");
    }
  }
  if (o.tiles * o.tile_size > max_rows)
    throw bad_input("a matrix of " + std::to_string(o.tiles) + " x " + std::to_string(o.tiles) + " tiles of " +
                    std::to_string(o.tile_size) + " rows is too large (at most " + std::to_string(max_rows) +
                    " rows in all)");
  return o;
}

// ---- the program ---------------------------------------------------------------------------

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The whole test matrix on rank 0, from the same tiles the tasks made (upper tiles mirrored).
tile whole_matrix(const options& o) {
  const auto t = static_cast<Eigen::Index>(o.tile_size);
  const auto n = t * static_cast<Eigen::Index>(o.tiles);
  tile a(n, n);
  for (std::size_t i = 0; i < o.tiles; ++i) {
    for (std::size_t j = 0; j <= i; ++j) {
      const tile b = make_tile(o.seed, o.tiles, o.tile_size, i, j);
      const auto r = static_cast<Eigen::Index>(i) * t, c = static_cast<Eigen::Index>(j) * t;
      a.block(r, c, t, t) = b;
      if (i != j) a.block(c, r, t, t) = b.transpose();
    }
  }
  return a;
}

int run(rankpool::comm_executor& pool, int argc, char** argv) {
  const options o = parse_options(argc, argv);
  if (o.help) {
    std::fputs(usage_text, stdout);
    return 0;
  }
  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const std::size_t n = o.tiles * o.tile_size;
  std::printf("matrix:    %zu x %zu, %zu x %zu tiles of %zu x %zu, seed %llu\n", n, n, o.tiles, o.tiles, o.tile_size,
              o.tile_size, static_cast<unsigned long long>(o.seed));
  std::printf("workers:   %zu on %d MPI rank%s\n", pool.num_workers(), ranks, ranks == 1 ? " (local threads)" : "s");
  std::fflush(stdout);

  auto t0 = std::chrono::steady_clock::now();
  const factorization f = factor(pool, o.seed, o.tiles, o.tile_size);
  const double parallel_s = seconds_since(t0);
  const task_counts& k = f.tasks;
  std::printf("tasks:     %zu: %zu make_tile, %zu potrf, %zu trsm, %zu syrk, %zu gemm, %zu log-det parts\n", k.total(),
              k.make, k.potrf, k.trsm, k.syrk, k.gemm, k.log_det);
  std::printf("parallel:  %.3f s (the whole graph submitted in %.4f s, without waiting)\n", parallel_s, f.submit_s);
  std::fflush(stdout);

  const tile a = whole_matrix(o);
  t0 = std::chrono::steady_clock::now();
  const Eigen::LLT<tile> llt(a);
  const double serial_s = seconds_since(t0);
  if (llt.info() != Eigen::Success) throw std::runtime_error("the serial Eigen::LLT failed");
  const tile reference = llt.matrixL();
  std::printf("serial:    %.3f s (Eigen::LLT of the whole matrix on rank 0)\n", serial_s);

  const double max_error = (f.l - reference).cwiseAbs().maxCoeff();
  const double relative = max_error / reference.cwiseAbs().maxCoeff();
  const double log_det = 2.0 * reference.diagonal().array().log().sum();
  const double log_det_error = std::abs(f.log_det - log_det) / std::max(1.0, std::abs(log_det));
  // Written as `error <= tolerance` so that a NaN fails the check.
  const bool ok = relative <= o.tolerance && log_det_error <= o.tolerance;
  std::printf(
      "check:     %s: max |L - L_llt| = %.3g (%.3g relative, tolerance %.3g); log det A = %.10g (%.3g relative)\n",
      ok ? "passed" : "FAILED", max_error, relative, o.tolerance, f.log_det, log_det_error);
  std::fflush(stdout);
  if (!ok) {
    std::fprintf(stderr,
                 "pipeline: check failed: the tiled factor differs from Eigen::LLT by %.3g (relative), "
                 "log det by %.3g, tolerance %.3g\n",
                 relative, log_det_error, o.tolerance);
    return 1;
  }
  return 0;
}

}  // namespace pipeline

int main(int argc, char** argv) {
  // Every path out of main goes through here: a bad argument is one line and status 2, anything
  // else (a task's exception included) one line and status 1, never an uncaught exception.
  try {
    rankpool::environment env(argc, argv);
    rankpool::comm_executor pool;   // MPI_COMM_WORLD, root 0; one rank: local threads
    if (!pool.is_root()) return 0;  // a worker served tasks in the constructor until the root shut down
    return pipeline::run(pool, argc, argv);
  } catch (const pipeline::bad_input& e) {
    std::fprintf(stderr, "pipeline: %s\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "pipeline: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pipeline: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "pipeline: unknown error\n");
    return 1;
  }
}
