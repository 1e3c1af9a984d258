// Letting the worker ranks go (see release.hpp).

#include "root/release.hpp"

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <unordered_set>

#include "common/doorbell.hpp"
#include "wire/framing.hpp"
#include "wire/mpi_call.hpp"
#include "wire/transport.hpp"

namespace rankpool::detail {
namespace {

constexpr auto release_timeout = std::chrono::seconds(30);

// Every shutdown asks for a bye: the root drains until each has come.
void send_shutdown(MPI_Comm comm, rank_lists ranks, node_bells* bells) {
  char buf[sizeof(wire::header)];
  wire::put_header(buf, wire::kind::shutdown, 0, 0, wire::flag_acknowledge);
  for (const auto* list : ranks)
    for (int r : *list) {
      transport::send(buf, sizeof buf, r, comm);
      if (bells) bells->ring(r);
    }
}

bool is_bye(const transport::incoming& msg) noexcept {
  try {
    return wire::decode_header(msg.bytes.data(), msg.bytes.size()).kind == static_cast<std::uint8_t>(wire::kind::bye);
  } catch (const decode_error&) {
    return false;
  }
}

// Drops messages until every rank in `waiting` said bye or the time is up; the ranks that did not.
std::unordered_set<int> drain_until_bye(MPI_Comm comm, std::unordered_set<int> waiting) {
  const auto give_up = std::chrono::steady_clock::now() + release_timeout;
  transport::backoff pace;
  transport::incoming msg;
  while (!waiting.empty() && std::chrono::steady_clock::now() < give_up) {
    bool got = false;
    try {
      got = transport::try_receive(MPI_ANY_SOURCE, comm, msg);
    } catch (const decode_error&) {
      continue;  // a malformed message is dropped like any other
    }
    if (!got) {
      std::this_thread::sleep_for(pace.next());
      continue;
    }
    pace.reset();
    if (is_bye(msg)) waiting.erase(msg.source);
  }
  return waiting;
}

}  // namespace

void release_ranks(MPI_Comm comm, rank_lists ranks, node_bells* bells) noexcept {
  std::string trouble;
  try {
    send_shutdown(comm, ranks, bells);
    std::unordered_set<int> all;
    for (const auto* list : ranks) all.insert(list->begin(), list->end());
    const auto silent = drain_until_bye(comm, std::move(all));
    if (silent.empty()) return;
    trouble = "no answer within " + std::to_string(release_timeout.count()) + " s from rank(s)";
    for (int r : silent) trouble += " " + std::to_string(r);
  } catch (const std::exception& e) {
    trouble = e.what();
  }
  std::fprintf(stderr, "rankpool: the pool cannot stop its workers (%s); aborting the job\n", trouble.c_str());
  mpi::try_call("MPI_Abort", MPI_Abort, comm, 1);
}

}  // namespace rankpool::detail
