// Running one task body on a worker (see run_task.hpp).

#include "worker/run_task.hpp"

#include <rankpool/errors.hpp>
#include <rankpool/this_task.hpp>
#include <string>

#include "common/worker_identity.hpp"
#include "registry/registry.hpp"
#include "worker/crash.hpp"
#include "worker/stop_board.hpp"

namespace rankpool::detail {

void run_body(std::uint64_t id, const char* body, std::size_t n, writer& out) {
  reader in(body, n);
  invoke_fn fn = nullptr;
  std::uint64_t key = 0;
  try {
    key = in.raw().get_value<std::uint64_t>();
    fn = find_invoker(key);
    if (!fn)
      throw error("rankpool: task type " + std::to_string(key) +
                  " is unknown in this executable (do all ranks run the same program?)");
  } catch (...) {
    write_exception(out, std::current_exception());
  }
  if (!fn) return;
  crash::task_scope scope(id, invoker_name(key));
  fn(in, out);
}

task_timing run_task(std::uint64_t id, const char* body, std::size_t n, writer& out, stop_board& board, bool owns_mpi,
                     std::uint64_t deadline_ns) {
  using clock = std::chrono::steady_clock;
  const std::size_t mark = out.raw().size();
  task_timing t;
  t.started = clock::now();
  {
    // The serve loop read control messages just before: the first look can wait an interval.
    running_task rt{&board, id, owns_mpi, owns_mpi ? t.started + stop_poll_interval : t.started};
    task_context ctx;
    ctx.poll = poll_stop;
    ctx.poll_arg = &rt;
    if (deadline_ns) ctx.deadline = t.started + std::chrono::nanoseconds(deadline_ns);
    task_context_scope scope(ctx);
    run_body(id, body, n, out);
  }
  t.exec_ns = elapsed_ns(t.started);
  if (deadline_ns && t.exec_ns > deadline_ns) {
    out.reset_archive();
    out.raw().truncate(mark);
    write_exception(out, overran(deadline_ns));
  }
  board.forget(id);
  return t;
}

std::exception_ptr overran(std::uint64_t deadline_ns, bool killed) {
  const auto& me = this_worker();
  return std::make_exception_ptr(
      deadline_error(deadline_ns, "worker rank " + std::to_string(me.rank) + " on " + me.host, killed));
}

std::exception_ptr broken_by_initializer() {
  return std::make_exception_ptr(broken_executor("rankpool: the executor is broken: the initializer failed on rank " +
                                                 std::to_string(this_worker().rank)));
}

}  // namespace rankpool::detail
