// The worker's serve loop: receive a task, find its invoker, run it, send the result. Idle
// workers spin briefly, then sleep with growing pauses, so oversubscribed nodes stay fast.

#include <cstdio>
#include <thread>

#include "mpi_core.hpp"
#include "transport.hpp"
#include "wire.hpp"
#include "worker_identity.hpp"

namespace rankpool::detail {
namespace {

void send_control(wire::kind k, std::uint64_t id, writer& w, MPI_Comm comm, int root) {
  auto& bytes = w.raw().bytes();
  wire::put_header(bytes.data(), k, id, bytes.size() - sizeof(wire::header));
  transport::send(bytes.data(), bytes.size(), root, comm);
}

}  // namespace

void serve(MPI_Comm comm, int root, const std::function<void()>& initializer) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  this_worker().rank = rank;

  std::exception_ptr init_error;
  if (initializer) {
    try {
      initializer();
    } catch (...) {
      init_error = std::current_exception();
      writer w;
      reserve_header(w);
      write_exception(w, init_error);
      send_control(wire::kind::init_failed, 0, w, comm, root);
    }
  }

  transport::incoming msg;
  transport::backoff pace;
  std::vector<char> reuse;
  while (true) {
    bool got = false;
    try {
      got = transport::try_receive(root, comm, msg);
    } catch (const decode_error& e) {
      // A malformed message from the root: say so and keep serving; the root's future (if any)
      // is identified by nothing we can trust.
      std::fprintf(stderr, "rankpool: worker rank %d dropped a malformed message: %s\n", rank, e.what());
      continue;
    }
    if (!got) {
      auto pause = pace.next();
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
      continue;
    }
    pace.reset();
    auto h = wire::decode_header(msg.bytes.data(), msg.bytes.size());
    if (h.kind == static_cast<std::uint8_t>(wire::kind::shutdown)) break;
    if (h.kind != static_cast<std::uint8_t>(wire::kind::task)) {
      std::fprintf(stderr, "rankpool: worker rank %d ignored a message of kind %u\n", rank, unsigned(h.kind));
      continue;
    }
    writer out(std::move(reuse));
    reserve_header(out);
    if (init_error) {
      write_exception(out, std::make_exception_ptr(broken_executor(
                               "rankpool: the executor is broken: the initializer failed on rank " +
                               std::to_string(rank))));
    } else {
      reader in(msg.bytes.data() + sizeof(wire::header), msg.bytes.size() - sizeof(wire::header));
      invoke_fn fn = nullptr;
      try {
        auto key = in.raw().get_value<std::uint64_t>();
        fn = find_invoker(key);
        if (!fn)
          throw error("rankpool: task type " + std::to_string(key) +
                      " is unknown in this executable (do all ranks run the same program?)");
      } catch (...) {
        write_exception(out, std::current_exception());
      }
      if (fn) fn(in, out);
    }
    out.reset_archive();
    send_control(wire::kind::result, h.id, out, comm, root);
    reuse = out.take();
  }
}

}  // namespace rankpool::detail
