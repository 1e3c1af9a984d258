// svd_batch: the singular values of every matrix of a (K, M, N) float64 stack, farmed out to
// MPI ranks by a rankpool::comm_executor.
//
//     mpirun -n 8 svd_batch stack.npy -o singular_values.npy --check
//
// Exit status: 0 on success, 1 when --check finds a difference or the computation fails,
// 2 for a bad option or bad input.

#include <mpi.h>
#include <sys/resource.h>
#include <unistd.h>

#include <Eigen/Core>
#include <Eigen/SVD>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <limits>
#include <new>
#include <optional>
#include <random>
#include <ranges>
#include <rankpool/eigen.hpp>
#include <rankpool/rankpool.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "atomic_file.hpp"
#include "command_line.hpp"
#include "h5.hpp"
#include "npy.hpp"

namespace svd_batch {

/// A bad option or bad input: reported in one line, exit status 2.
class bad_input : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The shape of a stack: K matrices of M x N doubles, each row-major, one after the other (the
/// .npy layout). Travels with every task, beside the handle of the stack's data. `fingerprint`
/// (only with --journal) makes a journal's keys tell one input from another, for the data itself
/// never travels.
struct shape {
  std::size_t count = 0;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::uint64_t fingerprint = 0;
};

/// A stack: its shape, and its elements placed once per node by the pool (executor.share).
struct stack {
  svd_batch::shape shape;
  rankpool::shared<std::vector<double>> data;
};

/// Matrix `k` of a stack's elements `all`, converted from the file's row-major layout to
/// Eigen's column-major one.
Eigen::MatrixXd matrix_at(std::span<const double> all, const shape& s, std::size_t k) {
  using row_major = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const double* first = all.data() + k * s.rows * s.cols;
  return Eigen::Map<const row_major>(first, static_cast<Eigen::Index>(s.rows), static_cast<Eigen::Index>(s.cols));
}

/// The singular values of one matrix, by Eigen's JacobiSVD.
Eigen::VectorXd singular_values(const Eigen::MatrixXd& m) {
  return m.jacobiSvd().singularValues();
}

/// The task: the singular values of matrix `k`, read in place from the node's copy of the
/// stack. A free function, so that workers find it by address; the serial check calls this same
/// function in the same executable, which is what makes bit-identical results a fair test.
Eigen::VectorXd singular_values_of(const rankpool::shared<std::vector<double>>& data, shape s, std::size_t k) {
  return singular_values(matrix_at(data.view(), s, k));
}

/// The singular values of every matrix of `s`, in order, computed on `pool`'s workers: a map of
/// singular_values_of over the matrices' indices, in chunks of `chunksize` indices, so a task
/// carries a range of indices and the handle, never matrices. With `journal`, results of a killed
/// earlier run with the same input and chunk size are taken from that file instead of computed
/// again (MPI executors only). `progress`: the progress bar switch (map_options::progress;
/// unset: on when stderr is a terminal). The map is contiguous (map_options::contiguous): each
/// worker takes the matrices of its own stretch of the stack first, whose pages it mapped while
/// the stack was filled, rather than pages from all of it.
template <class Executor>
std::vector<Eigen::VectorXd> compute(Executor& pool, const stack& s, std::size_t chunksize,
                                     std::optional<std::string> journal = {}, std::optional<bool> progress = {}) {
  std::vector<Eigen::VectorXd> out;
  out.reserve(s.shape.count);
  rankpool::map_options mo{.chunksize = chunksize, .progress = progress, .contiguous = true};
  if constexpr (std::is_same_v<Executor, rankpool::comm_executor>) mo.journal = std::move(journal);
  const auto indices = std::views::iota(std::size_t{0}, s.shape.count);
  for (Eigen::VectorXd& v : pool.map(rankpool::partial(singular_values_of, s.data, s.shape), indices, mo))
    out.push_back(std::move(v));
  return out;
}

// Keeps the core honest: it must build for local threads as well as for MPI ranks.
template std::vector<Eigen::VectorXd> compute(rankpool::thread_executor&, const stack&, std::size_t,
                                              std::optional<std::string>, std::optional<bool>);

namespace {

constexpr const char* usage_text =
    "usage: svd_batch [IN] [-o OUT] [--check] [--count K --rows M --cols N --seed S]\n"
    "                 [--chunksize C] [--journal FILE] [--progress | --no-progress] [--help]\n"
    "\n"
    "Computes the singular values of each matrix of a float64 (K, M, N) C-order .npy stack, or of\n"
    "a floating-point (K, M, N) HDF5 dataset, with Eigen's JacobiSVD, farming the matrices out to\n"
    "MPI ranks (mpirun -n P svd_batch ...).\n"
    "\n"
    "  IN              input stack: in.npy, or FILE:/DATASET (stack.h5:/data) for HDF5;\n"
    "                  without it a random stack is generated\n"
    "  -o, --output F  write the singular values as a float64 (K, min(M, N)) .npy file, or\n"
    "                  as the dataset of a new HDF5 file when F is FILE:/DATASET;\n"
    "                  it is created before anything is computed (a path that cannot be\n"
    "                  written fails at once) and replaces F only once it is complete\n"
    "  --check         recompute serially on rank 0 and require bit-identical results;\n"
    "                  prints the speedup over the serial run\n"
    "  --count K       generated stack: number of matrices (default 2000)\n"
    "  --rows M        generated stack: rows per matrix (default 1000)\n"
    "  --cols N        generated stack: columns per matrix (default 10)\n"
    "  --seed S        generated stack: random seed (default 0)\n"
    "  --chunksize C   matrices per task (default: about 512 KiB of matrices, and at\n"
    "                  least 8 tasks per worker)\n"
    "  --journal FILE  keep finished results in FILE; a re-run after a kill (same input,\n"
    "                  same chunk size) takes them from there instead of computing again\n"
    "  --progress      progress bar on stderr even when it is not a terminal (plain lines\n"
    "                  every RANKPOOL_PROGRESS_INTERVAL seconds, default 10)\n"
    "  --no-progress   no progress bar (default: shown when stderr is a terminal, or as\n"
    "                  RANKPOOL_PROGRESS=1/0 says)\n"
    "  -h, --help      show this help\n"
    "\n"
    "Where mpirun places more ranks on a node than it has cores, the ranks beyond one per core\n"
    "stay idle (the tasks only compute); RANKPOOL_FIT_CORES=0 puts every rank to work.\n"
    "\n"
    "Exit status: 0 success, 1 check mismatch or failure, 2 bad option or input.\n";

struct options {
  std::optional<std::string> input;
  std::optional<std::string> output;
  std::optional<std::string> journal;
  bool check = false;
  bool help = false;
  std::optional<bool> progress;
  std::optional<std::size_t> count, rows, cols, chunksize;
  std::optional<std::uint64_t> seed;
};

std::uint64_t parse_number(std::string_view option, std::string_view text, bool allow_zero) {
  const command_line::decimal d = command_line::read_decimal(text);
  if (d.error == command_line::decimal::status::too_large)
    throw bad_input(std::string(option) + ": '" + std::string(text) + "' is too large");
  if (d.error != command_line::decimal::status::ok || (d.value == 0 && !allow_zero))
    throw bad_input(std::string(option) + ": '" + std::string(text) + "' is not a " +
                    (allow_zero ? "non-negative" : "positive") + " integer");
  return d.value;
}

std::size_t parse_size(std::string_view option, std::string_view text) {
  const std::uint64_t v = parse_number(option, text, false);
  if (v > std::numeric_limits<std::size_t>::max())
    throw bad_input(std::string(option) + ": '" + std::string(text) + "' is too large");
  return static_cast<std::size_t>(v);
}

options parse_options(int argc, char** argv) {
  options o;
  // Values join long options only: "--count=5", but "-ofile" is an unknown option.
  command_line::parser<bad_input> cl({argv + 1, argv + argc});
  cl.unknown([](const std::string& word) { return "unknown option '" + word + "' (try --help)"; });
  cl.flag_with_value([](const std::string& name) { return "option " + name + " takes no value"; });
  cl.flag("-h,--help", [&] { o.help = true; });
  cl.flag("--check", [&] { o.check = true; });
  cl.flag("--progress", [&] { o.progress = true; });
  cl.flag("--no-progress", [&] { o.progress = false; });
  cl.option("--journal", [&](const std::string&, const std::string& file) { o.journal = file; });
  cl.option("-o,--output", [&](const std::string& name, const std::string& file) {
    if (file.empty()) throw bad_input("option " + name + " needs a file name");
    o.output = file;
  });
  cl.option("--count", [&](const std::string& name, const std::string& v) { o.count = parse_size(name, v); });
  cl.option("--rows", [&](const std::string& name, const std::string& v) { o.rows = parse_size(name, v); });
  cl.option("--cols", [&](const std::string& name, const std::string& v) { o.cols = parse_size(name, v); });
  cl.option("--seed", [&](const std::string& name, const std::string& v) { o.seed = parse_number(name, v, true); });
  cl.option("--chunksize", [&](const std::string& name, const std::string& v) { o.chunksize = parse_size(name, v); });
  cl.operands([&](const std::string& word) {
    if (o.input) throw bad_input("more than one input file ('" + *o.input + "', '" + word + "')");
    if (word.empty()) throw bad_input("the input file name is empty");
    o.input = word;
  });
  cl.parse();
  if (o.input && (o.count || o.rows || o.cols || o.seed))
    throw bad_input(
        "--count, --rows, --cols and --seed describe a generated stack; they cannot be used with an "
        "input file");
  return o;
}

// Throws bad_input when a stack of this shape cannot be addressed.
void check_addressable(std::size_t count, std::size_t rows, std::size_t cols) {
  if (rows > std::numeric_limits<std::size_t>::max() / cols ||
      count > std::numeric_limits<std::size_t>::max() / sizeof(double) / (rows * cols))
    throw bad_input("a stack of " + std::to_string(count) + " matrices of " + std::to_string(rows) + " x " +
                    std::to_string(cols) + " is too large to address");
}

// A seeded normal stack, drawn straight into the pool's shared window (never held twice).
template <class Executor>
stack random_stack(Executor& pool, std::size_t count, std::size_t rows, std::size_t cols, std::uint64_t seed) {
  check_addressable(count, rows, cols);
  stack s{{count, rows, cols, 0}, {}};
  s.data = pool.template share_array<double>(count * rows * cols, [&](std::span<double> to) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> normal;
    for (double& x : to) x = normal(gen);
  });
  return s;
}

// JacobiSVD gives no meaningful answer for NaN or infinity: throws bad_input saying where the
// first one is in the stack read from `name`.
void check_finite(const stack& s, const std::string& name) {
  const std::span<const double> all = s.data.view();
  const auto bad = std::ranges::find_if(all, [](double x) { return !std::isfinite(x); });
  if (bad == all.end()) return;
  const auto at = static_cast<std::size_t>(bad - all.begin());
  const std::size_t per = s.shape.rows * s.shape.cols;
  throw bad_input(name + ": matrix " + std::to_string(at / per) + " holds a non-finite value (" + std::to_string(*bad) +
                  ") at row " + std::to_string(at % per / s.shape.cols) + ", column " +
                  std::to_string(at % s.shape.cols) + "; singular values need finite input");
}

// The stack of an .npy file: checked, mapped, and copied once into the pool's shared window.
template <class Executor>
stack read_stack(Executor& pool, const std::string& path) {
  const npy::mapped_stack file(path);
  const auto& shp = file.shape();
  stack s{{shp[0], shp[1], shp[2], 0}, {}};
  s.data = pool.template share_array<double>(file.count(), [&](std::span<double> to) { file.copy_to(to.data()); });
  check_finite(s, path);
  return s;
}

// The stack of an HDF5 dataset: checked, and read once straight into the pool's shared window
// (HDF5 converts other floating-point types to float64 on the way).
template <class Executor>
stack read_stack(Executor& pool, const h5::location& where) {
  const h5::stack_reader file(where);
  const auto& shp = file.shape();
  check_addressable(shp[0], shp[1], shp[2]);
  stack s{{shp[0], shp[1], shp[2], 0}, {}};
  s.data = pool.template share_array<double>(shp[0] * shp[1] * shp[2], [&](std::span<double> to) { file.read(to); });
  check_finite(s, where.shown());
  return s;
}

// A cheap digest of the stack's bytes, for the journal's keys (see shape::fingerprint).
std::uint64_t fingerprint_of(std::span<const double> all) {
  const std::string_view bytes(reinterpret_cast<const char*>(all.data()), all.size_bytes());
  return static_cast<std::uint64_t>(std::hash<std::string_view>{}(bytes));
}

// Writes the singular values, a (K, min(M, N)) float64 matrix, to `out`: as .npy, or as the
// dataset `h5_dataset` of a new HDF5 file; then puts the file in place.
void write_output(atomic_file::atomic_output& out, const std::optional<h5::location>& h5_dataset, const shape& s,
                  const std::vector<Eigen::VectorXd>& sv) {
  const std::size_t p = std::min(s.rows, s.cols);
  std::vector<double> flat;
  flat.reserve(s.count * p);
  for (const Eigen::VectorXd& v : sv) {
    if (static_cast<std::size_t>(v.size()) != p)
      throw std::logic_error("a result holds " + std::to_string(v.size()) + " singular values instead of " +
                             std::to_string(p));
    flat.insert(flat.end(), v.data(), v.data() + v.size());
  }
  if (h5_dataset) {
    h5::write_matrix(out.temporary(), h5_dataset->dataset, h5_dataset->shown(), s.count, p, flat);
  } else {
    const std::array<std::size_t, 2> dims{s.count, p};
    npy::write(out.file(), out.destination().string(), dims, flat);
  }
  out.commit();
}

// Throws bad_input when the output file is the input file: the output is a new file, which would
// take the input's place (and, for HDF5, every other dataset in it).
void check_not_input(const std::string& input_file, const std::string& output_file) {
  std::error_code ec;
  if (std::filesystem::equivalent(input_file, output_file, ec))
    throw bad_input(output_file +
                    ": the output would replace the input file (svd_batch writes a new file); name another");
}

// Rank 0's resident memory now, in bytes (/proc/self/statm, in pages); 0 where it cannot be read.
double resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const bool read = std::fscanf(f, "%llu %llu", &size, &resident) == 2;
  std::fclose(f);
  return read ? static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) : 0;
}

// Rank 0's peak resident memory against the stack's size: the stack is held once, in the
// node's window (a second copy would show as about twice the input). The growth over what the
// process held before the input (`before`: MPI, the libraries, the started pool, about 25 MB
// whatever the stack) is what the stack cost; the peak is the whole process.
void report_memory(const shape& k, double before) {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  const double peak = static_cast<double>(u.ru_maxrss) * 1024.0;
  const auto input = static_cast<double>(k.count * k.rows * k.cols * sizeof(double));
  std::printf(
      "memory:    rank 0 peak resident %.1f MB, %.2f x the input (%.1f MB); grew %.1f MB, %.2f x the input, "
      "over the %.1f MB held before it\n",
      peak / 1e6, peak / input, input / 1e6, (peak - before) / 1e6, (peak - before) / input, before / 1e6);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// The pool's options. The tasks only compute, so where mpirun placed more ranks on a node than
/// it has cores, only as many workers as the cores run them (executor_options::fit_cores): seven
/// workers time-sharing 2 cores spent more CPU per matrix than two (a bare static split of the
/// stack over 7 processes was 5-25% slower than over 2 on the 2-core VM). RANKPOOL_FIT_CORES=0 in
/// the environment puts every rank to work.
rankpool::executor_options pool_options() {
  rankpool::executor_options o;
  if (std::getenv("RANKPOOL_FIT_CORES") == nullptr) o.fit_cores = true;
  return o;
}

int run(rankpool::comm_executor& pool, int argc, char** argv) {
  const options opt = parse_options(argc, argv);
  if (opt.help) {
    std::fputs(usage_text, stdout);
    return 0;
  }
  // Created before the input is read and the matrices computed, so that an output that cannot
  // be created fails the run at once instead of after all the work; removed again unless the
  // results are all written. A failure is an atomic_file::error (= npy::error): exit status 2.
  // HDF5 names are FILE:/DATASET; anything else is an .npy file.
  const std::optional<h5::location> in_h5 = opt.input ? h5::parse(*opt.input) : std::nullopt;
  const std::optional<h5::location> out_h5 = opt.output ? h5::parse(*opt.output) : std::nullopt;
  const std::string out_file = out_h5 ? out_h5->file : opt.output.value_or("");
  if (opt.input && opt.output) check_not_input(in_h5 ? in_h5->file : *opt.input, out_file);
  std::optional<atomic_file::atomic_output> output;
  if (opt.output) output.emplace(out_file);

  const double resident_before = resident_bytes();
  auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t sent_before = rankpool::detail::share_bytes_sent();
  std::string origin;
  stack s;
  if (in_h5) {
    s = read_stack(pool, *in_h5);
    origin = in_h5->shown();
  } else if (opt.input) {
    s = read_stack(pool, *opt.input);
    origin = *opt.input;
  } else {
    const std::uint64_t seed = opt.seed.value_or(0);
    s = random_stack(pool, opt.count.value_or(2000), opt.rows.value_or(1000), opt.cols.value_or(10), seed);
    origin = "random (seed " + std::to_string(seed) + ")";
  }
  if (opt.journal) s.shape.fingerprint = fingerprint_of(s.data.view());
  const double load_s = seconds_since(t0);
  const shape& k = s.shape;

  int ranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const std::size_t workers = pool.num_workers();
  // Tasks carry indices only (the matrices are in every node's shared window), so a chunk is
  // sized for balance alone: about 16 per worker (the map's automatic size).
  const std::size_t chunksize =
      opt.chunksize.value_or(rankpool::comm_executor::auto_chunksize(k.count, std::max<std::size_t>(workers, 1)));
  std::printf("input:     %s, %zu %s of %zu x %zu, shared once per node (%.3f s)\n", origin.c_str(), k.count,
              k.count == 1 ? "matrix" : "matrices", k.rows, k.cols, load_s);
  // What the root sent of the stack: one copy per node other than its own (0 on one machine).
  std::printf("placed:    %zu bytes of input, %llu bytes sent by rank 0 to other nodes\n",
              k.count * k.rows * k.cols * sizeof(double),
              static_cast<unsigned long long>(rankpool::detail::share_bytes_sent() - sent_before));
  std::printf("workers:   %zu on %d MPI rank%s, chunksize %zu\n", workers, ranks, ranks == 1 ? "" : "s", chunksize);
  std::fflush(stdout);

  // Held open across the map, which opens the same file, so its counters cover this run.
  std::shared_ptr<rankpool::detail::journal> journal;
  if (opt.journal) journal = rankpool::detail::journal::open(*opt.journal);
  t0 = std::chrono::steady_clock::now();
  const std::vector<Eigen::VectorXd> sv = compute(pool, s, chunksize, opt.journal, opt.progress);
  const double parallel_s = seconds_since(t0);
  std::printf("parallel:  %.3f s, %.1f matrices/s\n", parallel_s, static_cast<double>(k.count) / parallel_s);
  if (journal)
    std::printf("journal:   %s, %zu of %zu tasks taken from an earlier run\n", opt.journal->c_str(), journal->hits(),
                (k.count + chunksize - 1) / chunksize);

  if (opt.output) {
    write_output(*output, out_h5, k, sv);
    std::printf("output:    %s, shape (%zu, %zu)\n", opt.output->c_str(), k.count, std::min(k.rows, k.cols));
  }
  report_memory(k, resident_before);
  std::fflush(stdout);
  if (!opt.check) return 0;

  t0 = std::chrono::steady_clock::now();
  std::vector<Eigen::VectorXd> serial;
  serial.reserve(k.count);
  for (std::size_t i = 0; i < k.count; ++i) serial.push_back(singular_values_of(s.data, k, i));
  const double serial_s = seconds_since(t0);
  std::printf("serial:    %.3f s, %.1f matrices/s, speedup %.2fx\n", serial_s, static_cast<double>(k.count) / serial_s,
              serial_s / parallel_s);

  std::size_t differing = 0;
  double max_diff = 0;
  for (std::size_t i = 0; i < k.count; ++i) {
    if (sv[i].size() != serial[i].size()) {
      ++differing;
      max_diff = std::numeric_limits<double>::infinity();
      continue;
    }
    bool same = true;
    for (Eigen::Index j = 0; j < sv[i].size(); ++j) {
      same = same && sv[i][j] == serial[i][j];
      max_diff = std::max(max_diff, std::abs(sv[i][j] - serial[i][j]));
    }
    if (!same) ++differing;
  }
  if (differing != 0) {
    std::printf("check:     FAILED, %zu of %zu results differ (max abs difference %.17g)\n", differing, k.count,
                max_diff);
    std::fflush(stdout);
    std::fprintf(stderr, "svd_batch: check failed: %zu of %zu results differ from the serial run\n", differing,
                 k.count);
    return 1;
  }
  std::printf("check:     passed, all %zu results bit-identical (max abs difference %g)\n", k.count, max_diff);
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace svd_batch

int main(int argc, char** argv) {
  // Every path out of main goes through here: a bad option or input is one line and status 2,
  // anything else one line and status 1, never an uncaught exception.
  try {
    rankpool::environment env(argc, argv);
    rankpool::comm_executor pool(MPI_COMM_WORLD, 0, svd_batch::pool_options());
    if (!pool.is_root()) return 0;
    return svd_batch::run(pool, argc, argv);
  } catch (const svd_batch::bad_input& e) {
    std::fprintf(stderr, "svd_batch: %s\n", e.what());
    return 2;
  } catch (const npy::error& e) {  // the input, or the output file (atomic_file::error)
    std::fprintf(stderr, "svd_batch: %s\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "svd_batch: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "svd_batch: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "svd_batch: unknown error\n");
    return 1;
  }
}
