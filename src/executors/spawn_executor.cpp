// spawn_executor: the parent starts worker processes of its own executable with
// MPI_Comm_spawn and tells them, in a handshake over the intercommunicator, how to serve; a
// process started that way serves inside its rankpool::environment (or first executor) and
// exits without running the rest of the program.

#include "executors/spawn_executor.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <rankpool/detail/log.hpp>
#include <rankpool/spawn_executor.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/cpu_share.hpp"
#include "common/heap_policy.hpp"
#include "common/self_exe.hpp"
#include "executors/options.hpp"
#include "registry/handshake.hpp"
#include "registry/registry.hpp"
#include "share/node_layout.hpp"
#include "wire/mpi_call.hpp"
#include "wire/transport.hpp"

namespace rankpool {

namespace mpi = detail::mpi;

namespace detail {
namespace {

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
  std::uint8_t capture_output;
  std::uint8_t pad;
  std::uint32_t threads;  // threads_per_worker
  std::uint64_t deadline_ns;
  std::uint64_t max_tasks_per_child;
  code_address initializer;
};

}  // namespace

void serve_if_spawned_worker() {
  static bool checked = false;
  if (checked) return;
  checked = true;
  if (!is_spawned_worker_process()) return;
  int initialized = 0;
  mpi::call("MPI_Initialized", MPI_Initialized, &initialized);
  if (!initialized) return;
  MPI_Comm parent = MPI_COMM_NULL;
  mpi::call("MPI_Comm_get_parent", MPI_Comm_get_parent, &parent);
  if (parent == MPI_COMM_NULL) return;
  int status = 0;
  try {
    mpi::set_errors_return(parent);
    spawn_hello sh{};
    int rank = 0;
    mpi::call("MPI_Comm_rank", MPI_Comm_rank, parent, &rank);
    log::set_spawned(rank);
    mpi::call("MPI_Bcast", MPI_Bcast, &sh, static_cast<int>(sizeof sh), MPI_BYTE, 0, parent);
    hello mine = make_hello();
    std::uint8_t same = same_executable(mine, sh.h);
    transport::send(reinterpret_cast<const char*>(&same), 1, 0, parent);
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
      w.capture_output = sh.capture_output != 0;
      w.deadline_ns = sh.deadline_ns;
      w.max_tasks_per_child = static_cast<std::size_t>(sh.max_tasks_per_child);
      heap_policy::apply_once();
      cpu_share::configure_alone(w.threads, 1);  // the parent's progress thread shares the node
      serve(parent, 0, init, w, node_layout::of_spawned(parent, false));
    }
  } catch (const std::exception& e) {
    RANKPOOL_LOG(error, "spawned worker failed: %s", e.what());
    status = 1;
  }
  if (!mpi::try_call("MPI_Comm_disconnect", MPI_Comm_disconnect, &parent)) status = 1;
  if (!mpi::try_call("MPI_Finalize", MPI_Finalize)) status = 1;
  std::exit(status);
}

namespace {

// The parent's steps, in the order the constructor takes them.

// The parent's progress thread calls MPI: MPI_THREAD_FUNNELED at least, and below
// MPI_THREAD_MULTIPLE the library's calls go one at a time (mpi::serialize_calls).
void require_thread_support() {
  const int provided = mpi::serialize_calls();
  if (provided < MPI_THREAD_FUNNELED)
    throw error("rankpool: spawn_executor needs at least MPI_THREAD_FUNNELED (MPI provides " + level_name(provided) +
                ")");
}

// max_workers, or the free slots of the MPI universe (at least 1).
std::size_t worker_count(std::optional<std::size_t> max_workers) {
  if (max_workers.value_or(0) > 0) return *max_workers;
  int* universe = nullptr;
  int flag = 0;
  mpi::call("MPI_Comm_get_attr", MPI_Comm_get_attr, MPI_COMM_WORLD, MPI_UNIVERSE_SIZE, &universe, &flag);
  int world = 1;
  mpi::call("MPI_Comm_size", MPI_Comm_size, MPI_COMM_WORLD, &world);
  return (flag && universe && *universe > world) ? static_cast<std::size_t>(*universe - world) : 1;
}

// What the spawned workers are told: the parent's fingerprint and how to serve.
spawn_hello spawn_hello_of(const executor_options& o, const worker_config& wcfg) {
  spawn_hello sh{};
  sh.h = make_hello();
  sh.threads = static_cast<std::uint32_t>(wcfg.threads);
  sh.isolate = wcfg.isolate ? 1 : 0;
  sh.capture_output = wcfg.capture_output ? 1 : 0;
  sh.deadline_ns = wcfg.deadline_ns;
  sh.max_tasks_per_child = wcfg.max_tasks_per_child;
  if (o.initializer) {
    auto* fp = o.initializer.target<void (*)()>();
    if (!fp || !*fp)
      throw std::invalid_argument(
          "rankpool: spawn_executor's initializer must hold a plain function pointer (spawned processes find it "
          "by address); lambdas with captures and other function objects cannot be sent");
    sh.has_initializer = 1;
    sh.initializer = encode_code_address(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(*fp)));
  }
  return sh;
}

// The MPI_Info of `pairs` (checked by spawn_info_of; MPI_INFO_NULL when there are none); the
// caller frees it.
MPI_Info spawn_info(const std::vector<std::pair<std::string, std::string>>& pairs) {
  if (pairs.empty()) return MPI_INFO_NULL;
  MPI_Info info = MPI_INFO_NULL;
  mpi::call("MPI_Info_create", MPI_Info_create, &info);
  try {
    for (const auto& [key, value] : pairs) mpi::call("MPI_Info_set", MPI_Info_set, info, key.c_str(), value.c_str());
  } catch (...) {
    mpi::try_call("MPI_Info_free", MPI_Info_free, &info);
    throw;
  }
  return info;
}

// Starts n copies of this executable, placed by `info_pairs` and given `extra` arguments after
// the worker flag; the intercommunicator to them returns errors.
MPI_Comm spawn_workers(std::size_t n, const std::vector<std::pair<std::string, std::string>>& info_pairs,
                       const std::vector<std::string>& extra) {
  std::string path = self_executable();
  if (path.empty()) throw error("rankpool: spawn_executor cannot find its own executable (/proc/self/exe)");
  // MPI_Comm_spawn takes char** (not const): the strings are copied into buffers of our own.
  std::vector<std::vector<char>> storage;
  storage.emplace_back(spawned_worker_flag, spawned_worker_flag + std::strlen(spawned_worker_flag) + 1);
  for (const auto& a : extra) storage.emplace_back(a.c_str(), a.c_str() + a.size() + 1);
  std::vector<char*> args;
  for (auto& a : storage) args.push_back(a.data());
  args.push_back(nullptr);
  MPI_Info info = spawn_info(info_pairs);
  MPI_Comm inter = MPI_COMM_NULL;
  std::vector<int> errcodes(n, MPI_SUCCESS);
  // A spawn the MPI refuses (no slots, a build that cannot spawn) is reported on MPI_COMM_SELF,
  // whose handler aborts by default: for the call it returns errors, so the refusal becomes an
  // mpi_error the caller can catch, and the program's handler is put back after.
  MPI_Errhandler before = MPI_ERRHANDLER_NULL;
  mpi::call("MPI_Comm_get_errhandler", MPI_Comm_get_errhandler, MPI_COMM_SELF, &before);
  mpi::set_errors_return(MPI_COMM_SELF);
  const auto restore = [&] {
    if (info != MPI_INFO_NULL) mpi::try_call("MPI_Info_free", MPI_Info_free, &info);
    mpi::try_call("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler, MPI_COMM_SELF, before);
    mpi::try_call("MPI_Errhandler_free", MPI_Errhandler_free, &before);
  };
  try {
    mpi::call("MPI_Comm_spawn", MPI_Comm_spawn, path.c_str(), args.data(), static_cast<int>(n), info, 0, MPI_COMM_SELF,
              &inter, errcodes.data());
  } catch (...) {
    restore();
    throw;
  }
  restore();
  for (std::size_t i = 0; i < n; ++i) mpi::check("MPI_Comm_spawn (a worker failed to start)", errcodes[i]);
  return inter;
}

// The handshake: every worker hears `sh` and answers whether it runs the same executable. On any
// failure the intercommunicator is disconnected before the error leaves.
void greet(MPI_Comm& inter, spawn_hello sh, std::size_t n) {  // a copy: MPI_Bcast takes a non-const buffer
  int mismatched = 0;
  try {
    mpi::set_errors_return(inter);
    mpi::call("MPI_Bcast", MPI_Bcast, &sh, static_cast<int>(sizeof sh), MPI_BYTE, MPI_ROOT, inter);
    for (std::size_t i = 0; i < n; ++i) {
      std::uint8_t same = 0;
      transport::receive_small(reinterpret_cast<char*>(&same), 1, static_cast<int>(i), inter);
      if (!same) ++mismatched;
    }
  } catch (...) {
    mpi::try_call("MPI_Comm_disconnect", MPI_Comm_disconnect, &inter);
    throw;
  }
  if (mismatched) {
    mpi::try_call("MPI_Comm_disconnect", MPI_Comm_disconnect, &inter);
    throw error("rankpool: " + std::to_string(mismatched) + " spawned workers run a different executable than " +
                sh.h.exe);
  }
}

}  // namespace

}  // namespace detail

spawn_executor::spawn_executor(executor_options o) {
  detail::require_mpi("spawn_executor");
  detail::serve_if_spawned_worker();
  detail::require_thread_support();
  const std::size_t n = detail::worker_count(detail::max_workers_of(o));
  journal_ = detail::journal_of(o);
  retries_ = detail::retry_rule_of(o);
  const detail::worker_config wcfg = detail::worker_config_of(o);
  const detail::spawn_hello sh = detail::spawn_hello_of(o, wcfg);
  detail::heap_policy::apply_once();
  MPI_Comm inter = detail::spawn_workers(n, detail::spawn_info_of(o), detail::spawn_args_of(o));
  detail::greet(inter, sh, n);
  detail::scheduler_config cfg = detail::scheduler_config_of(o, wcfg, "spawn_executor");
  // The children are placed beside this process unless a hostfile says otherwise: count them here.
  cfg.lead_ns =
      detail::cpu_share::lead_ns(detail::cpu_share::configure_alone(cfg.root_computes ? 2 : 1, n * wcfg.threads));
  try {
    cfg.nodes = detail::node_layout::of_spawned(inter, true);  // shared values once per node
  } catch (...) {
    mpi::try_call("MPI_Comm_disconnect", MPI_Comm_disconnect, &inter);
    throw;
  }
  cfg.comm = inter;
  cfg.disconnect = true;
  for (std::size_t i = 0; i < n; ++i) cfg.workers.push_back(static_cast<int>(i));
  core_ = detail::make_scheduler(std::move(cfg));
}

spawn_executor::~spawn_executor() = default;

}  // namespace rankpool
