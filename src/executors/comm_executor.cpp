// comm_executor and spawn_executor: communicator set-up, the start-up handshake (same
// executable and task table on every rank, enough MPI thread support on the root), and the
// choice between the MPI scheduler and local threads.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <rankpool/comm_executor.hpp>
#include <rankpool/detail/log.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "root/scheduler.hpp"
#include "executors/options.hpp"
#include "registry/registry.hpp"
#include "executors/spawn.hpp"
#include "wire/transport.hpp"
#include "wire/framing.hpp"

namespace rankpool {
namespace detail {
namespace {

using transport::check;

// What every rank tells the others at start-up.
struct hello {
  char fingerprint[32];
  char exe[160];
  std::int32_t thread_level;
  std::int32_t pad = 0;
};

hello make_hello() {
  hello h{};
  auto fp = executable_fingerprint();
  std::memcpy(h.fingerprint, fp.data(), std::min(fp.size(), sizeof h.fingerprint));
  char path[4096] = {};
  auto n = readlink("/proc/self/exe", path, sizeof path - 1);
  std::string exe = n > 0 ? std::string(path, static_cast<std::size_t>(n)) : "?";
  std::snprintf(h.exe, sizeof h.exe, "%s", exe.c_str());
  MPI_Query_thread(&h.thread_level);
  return h;
}

std::string level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE:
      return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED:
      return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED:
      return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE:
      return "MPI_THREAD_MULTIPLE";
    default:
      return "an unknown thread level";
  }
}

void require_mpi(const char* who) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized)
    throw invalid_state_error(std::string("rankpool: ") + who +
                              " needs MPI to be initialized: create a rankpool::environment first "
                              "(or call MPI_Init_thread with MPI_THREAD_MULTIPLE)");
  // Log lines name the rank in MPI_COMM_WORLD (a spawned worker's world is its own job).
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  log::set_rank(world_rank);
}

// Collective over `comm`: every rank learns whether all run the same executable and whether the
// root can drive a pool; on a mismatch every rank throws the same message, so none hangs.
void handshake(MPI_Comm comm, int root, bool needs_threads) {
  int size = 0;
  MPI_Comm_size(comm, &size);
  hello mine = make_hello();
  std::vector<hello> all(static_cast<std::size_t>(size));
  check(MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, comm), "MPI_Allgather");
  const hello& r = all[static_cast<std::size_t>(root)];
  std::ostringstream differing;
  int bad = 0;
  for (int i = 0; i < size; ++i) {
    const hello& h = all[static_cast<std::size_t>(i)];
    if (std::memcmp(h.fingerprint, r.fingerprint, sizeof r.fingerprint) != 0) {
      if (bad++ < 8) differing << (bad > 1 ? ", " : "") << "rank " << i << " runs " << h.exe;
    }
  }
  if (bad) {
    std::ostringstream msg;
    msg << "rankpool: the ranks do not run the same executable (every rank must run the same program): root rank "
        << root << " runs " << r.exe << ", but " << differing.str() << (bad > 8 ? ", ..." : "");
    throw error(msg.str());
  }
  if (needs_threads && r.thread_level < MPI_THREAD_MULTIPLE)
    throw error(
        "rankpool: comm_executor needs MPI_THREAD_MULTIPLE on the root (its progress thread calls MPI while "
        "the program runs), but MPI provides " +
        level_name(r.thread_level) +
        "; initialize MPI with MPI_Init_thread(..., MPI_THREAD_MULTIPLE, ...) or use rankpool::environment");
}

std::size_t in_flight_of(const executor_options& o) {
  return option_size("RANKPOOL_IN_FLIGHT", o.in_flight).value_or(0);
}
std::size_t threads_of(const executor_options& o) {
  return std::max<std::size_t>(1, option_size("RANKPOOL_THREADS_PER_WORKER", o.threads_per_worker).value_or(1));
}
std::uint64_t deadline_of(const executor_options& o) {
  std::optional<std::chrono::duration<double>> d = o.task_deadline;
  if (!d) {
    if (const char* e = std::getenv("RANKPOOL_TASK_DEADLINE"); e && *e) {
      char* end = nullptr;
      double secs = std::strtod(e, &end);
      if (end == e || *end || !(secs > 0))
        throw error(std::string("rankpool: environment variable RANKPOOL_TASK_DEADLINE=") + e +
                    " is not a positive number of seconds");
      d = std::chrono::duration<double>(secs);
    }
  }
  if (!d) return 0;
  if (!(d->count() > 0)) throw std::invalid_argument("rankpool: task_deadline must be positive");
  return static_cast<std::uint64_t>(d->count() * 1e9);
}

bool isolate_of(const executor_options& o) {
  bool iso = option_bool("RANKPOOL_ISOLATE", o.isolate).value_or(false);
  if (iso && threads_of(o) > 1)
    throw std::invalid_argument("rankpool: isolate and threads_per_worker > 1 cannot be combined");
  return iso;
}

worker_config worker_config_of(const executor_options& o) {
  worker_config w;
  w.threads = threads_of(o);
  w.isolate = isolate_of(o);
  w.deadline_ns = deadline_of(o);
  return w;
}

bool root_computes_of(const executor_options& o) {
  return option_bool("RANKPOOL_ROOT_COMPUTES", o.root_computes).value_or(false);
}

bool is_spawned_worker_process() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t start = 0;
  while (start < all.size()) {
    auto end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    if (all.compare(start, end - start, spawned_worker_flag) == 0) return true;
    start = end + 1;
  }
  return false;
}

// Spawn handshake messages: the root sends its hello and the initializer's address; the worker
// answers with one byte (1 = same executable).
struct spawn_hello {
  hello h;
  std::uint8_t has_initializer;
  std::uint8_t isolate;
  std::uint8_t pad[2];
  std::uint32_t threads;  // threads_per_worker
  std::uint64_t deadline_ns;
  code_address initializer;
};

}  // namespace

void serve_if_spawned_worker() {
  static bool checked = false;
  if (checked) return;
  checked = true;
  if (!is_spawned_worker_process()) return;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return;
  MPI_Comm parent = MPI_COMM_NULL;
  MPI_Comm_get_parent(&parent);
  if (parent == MPI_COMM_NULL) return;
  int status = 0;
  try {
    spawn_hello sh{};
    int rank = 0;
    MPI_Comm_rank(parent, &rank);
    log::set_spawned(rank);
    check(MPI_Bcast(&sh, sizeof sh, MPI_BYTE, 0, parent), "MPI_Bcast");
    hello mine = make_hello();
    std::uint8_t same = std::memcmp(mine.fingerprint, sh.h.fingerprint, sizeof mine.fingerprint) == 0;
    check(MPI_Send(&same, 1, MPI_BYTE, 0, transport::tag_message, parent), "MPI_Send");
    if (!same) {
      RANKPOOL_LOG(error, "spawned worker %s differs from its parent %s", mine.exe, sh.h.exe);
      status = 1;
    } else {
      std::function<void()> init;
      if (sh.has_initializer) {
        auto fn = reinterpret_cast<void (*)()>(reinterpret_cast<std::uintptr_t>(decode_code_address(sh.initializer)));
        init = fn;
      }
      worker_config w;
      w.threads = sh.threads == 0 ? 1 : sh.threads;
      w.isolate = sh.isolate != 0;
      w.deadline_ns = sh.deadline_ns;
      serve(parent, 0, init, w);
    }
  } catch (const std::exception& e) {
    RANKPOOL_LOG(error, "spawned worker failed: %s", e.what());
    status = 1;
  }
  MPI_Comm_disconnect(&parent);
  MPI_Finalize();
  std::exit(status);
}

}  // namespace detail

comm_executor::comm_executor(MPI_Comm comm, int root, executor_options o) {
  detail::require_mpi("comm_executor");
  detail::serve_if_spawned_worker();
  int size = 0, rank = 0;
  detail::check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  detail::check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  if (root < 0 || root >= size)
    throw std::invalid_argument("rankpool: comm_executor root " + std::to_string(root) +
                                " is not a rank of the communicator (size " + std::to_string(size) + ")");
  int inter = 0;
  MPI_Comm_test_inter(comm, &inter);
  if (inter) throw std::invalid_argument("rankpool: comm_executor needs an intra-communicator");

  // Checked before any collective: every rank reads the same options and agrees.
  const detail::worker_config wcfg = detail::worker_config_of(o);
  MPI_Comm dup = MPI_COMM_NULL;
  detail::check(MPI_Comm_dup(comm, &dup), "MPI_Comm_dup");
  try {
    detail::handshake(dup, root, size > 1);
  } catch (...) {
    MPI_Comm_free(&dup);
    throw;
  }
  auto max_workers = detail::option_size("RANKPOOL_MAX_WORKERS", o.max_workers);

  if (rank == root) {
    if (auto path = o.journal ? o.journal : detail::option_string("RANKPOOL_JOURNAL"))
      journal_ = detail::journal::open(*path);
  }
  if (size == 1) {
    MPI_Comm_free(&dup);
    is_root_ = true;
    std::size_t n = max_workers.value_or(std::max(1u, std::thread::hardware_concurrency()));
    core_ = detail::make_thread_core(n == 0 ? 1 : n, std::move(o.initializer), wcfg.deadline_ns, &o, "comm_executor");
    return;
  }

  std::size_t usable = static_cast<std::size_t>(size - 1);
  std::size_t n = std::min(usable, max_workers.value_or(usable));
  if (n == 0) n = 1;
  if (rank == root) {
    is_root_ = true;
    detail::scheduler_config cfg;
    cfg.comm = dup;
    cfg.in_flight = detail::in_flight_of(o);
    cfg.root_computes = detail::root_computes_of(o);
    cfg.threads_per_worker = wcfg.threads;
    cfg.task_deadline_ns = wcfg.deadline_ns;
    cfg.telemetry = detail::telemetry_config_of(o);
    for (int r = 0; r < size; ++r) {
      if (r == root) continue;
      (cfg.workers.size() < n ? cfg.workers : cfg.idle_ranks).push_back(r);
    }
    core_ = detail::make_scheduler(std::move(cfg));
    return;
  }
  // A worker rank: serve (or, when left out by max_workers, only wait for the shutdown).
  std::size_t my_index = static_cast<std::size_t>(rank < root ? rank : rank - 1);
  try {
    detail::serve(dup, root, my_index < n ? o.initializer : std::function<void()>(), wcfg);
  } catch (...) {
    MPI_Comm_free(&dup);
    throw;
  }
  MPI_Comm_free(&dup);
}

comm_executor::~comm_executor() = default;

spawn_executor::spawn_executor(executor_options o) {
  detail::require_mpi("spawn_executor");
  detail::serve_if_spawned_worker();
  int provided = 0;
  MPI_Query_thread(&provided);
  if (provided < MPI_THREAD_MULTIPLE)
    throw error("rankpool: spawn_executor needs MPI_THREAD_MULTIPLE (MPI provides " + detail::level_name(provided) +
                ")");
  auto max_workers = detail::option_size("RANKPOOL_MAX_WORKERS", o.max_workers);
  std::size_t n = max_workers.value_or(0);
  if (n == 0) {
    int* universe = nullptr;
    int flag = 0;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_UNIVERSE_SIZE, &universe, &flag);
    int world = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    n = (flag && universe && *universe > world) ? static_cast<std::size_t>(*universe - world) : 1;
  }

  if (auto path = o.journal ? o.journal : detail::option_string("RANKPOOL_JOURNAL"))
    journal_ = detail::journal::open(*path);
  detail::spawn_hello sh{};
  sh.h = detail::make_hello();
  const detail::worker_config wcfg = detail::worker_config_of(o);
  sh.threads = static_cast<std::uint32_t>(wcfg.threads);
  sh.isolate = wcfg.isolate ? 1 : 0;
  sh.deadline_ns = wcfg.deadline_ns;
  if (o.initializer) {
    auto* fp = o.initializer.target<void (*)()>();
    if (!fp || !*fp)
      throw std::invalid_argument(
          "rankpool: spawn_executor's initializer must hold a plain function pointer (spawned processes find it "
          "by address); lambdas with captures and other function objects cannot be sent");
    sh.has_initializer = 1;
    sh.initializer = detail::encode_code_address(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(*fp)));
  }

  char path[4096] = {};
  auto len = readlink("/proc/self/exe", path, sizeof path - 1);
  if (len <= 0) throw error("rankpool: spawn_executor cannot find its own executable (/proc/self/exe)");
  char flag_arg[64];
  std::snprintf(flag_arg, sizeof flag_arg, "%s", detail::spawned_worker_flag);
  char* args[] = {flag_arg, nullptr};
  MPI_Comm inter = MPI_COMM_NULL;
  std::vector<int> errcodes(n, MPI_SUCCESS);
  detail::check(
      MPI_Comm_spawn(path, args, static_cast<int>(n), MPI_INFO_NULL, 0, MPI_COMM_SELF, &inter, errcodes.data()),
      "MPI_Comm_spawn");
  for (std::size_t i = 0; i < n; ++i) detail::check(errcodes[i], "MPI_Comm_spawn (a worker failed to start)");

  detail::check(MPI_Bcast(&sh, sizeof sh, MPI_BYTE, MPI_ROOT, inter), "MPI_Bcast");
  int mismatched = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint8_t same = 0;
    detail::check(
        MPI_Recv(&same, 1, MPI_BYTE, static_cast<int>(i), detail::transport::tag_message, inter, MPI_STATUS_IGNORE),
        "MPI_Recv");
    if (!same) ++mismatched;
  }
  if (mismatched) {
    MPI_Comm_disconnect(&inter);
    throw error("rankpool: " + std::to_string(mismatched) + " spawned workers run a different executable than " +
                sh.h.exe);
  }
  detail::scheduler_config cfg;
  cfg.comm = inter;
  cfg.disconnect = true;
  cfg.in_flight = detail::in_flight_of(o);
  cfg.root_computes = detail::root_computes_of(o);
  cfg.threads_per_worker = wcfg.threads;
  cfg.task_deadline_ns = wcfg.deadline_ns;
  cfg.telemetry = detail::telemetry_config_of(o);
  cfg.name = "spawn_executor";
  for (std::size_t i = 0; i < n; ++i) cfg.workers.push_back(static_cast<int>(i));
  core_ = detail::make_scheduler(std::move(cfg));
}

spawn_executor::~spawn_executor() = default;

}  // namespace rankpool
