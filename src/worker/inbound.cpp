// A worker rank's messages from the root, filed (see inbound.hpp).

#include "worker/inbound.hpp"

#include <memory>
#include <rankpool/detail/buffer.hpp>
#include <rankpool/detail/log.hpp>
#include <vector>

#include "share/share_table.hpp"
#include "wire/framing.hpp"
#include "worker/answer.hpp"
#include "worker/nested_client.hpp"
#include "worker/stop_board.hpp"
#include "worker/thread_team.hpp"

namespace rankpool::detail {

bool inbound::pump(bool between_tasks) {
  bool any = answer_requests(false);
  transport::incoming msg;
  int tag = 0;
  // One probe of any tag says what the root sent first, where polling the control tag and then
  // the task tag took two probes. Under Open MPI on an oversubscribed node every probe that finds
  // nothing is a sched_yield, which hands the core to another rank when one waits for it. A probe
  // sees only what MPI took in before it, so a miss probes again (its progress may have taken a
  // message in) — except between queued tasks, where a message just come is read after the next
  // task: at -n 3, 200 µs tasks, that halved the worker's yields per task. Elsewhere (idle, the
  // watcher's looks) a message read one call later came a backoff or a look later: the round trip
  // at -n 2 rose by 0.8 µs, and a finished result behind a 5 ms task reached the root at p99
  // 1 ms, not 0.2 ms. Messages are read in the order the root sent them, so a cancel sent after a
  // task finds it queued.
  while (!stopping_ && transport::peek(p_.root, p_.comm, tag, !between_tasks)) {
    if (tag != transport::tag_message) {
      // Control messages; or what is read elsewhere (a shared value's bytes, which follow their
      // announcement): every control message is read, then the next task message, if any.
      any |= answer_requests();
      if (tag == transport::tag_control) continue;
    }
    try {
      if (!transport::try_receive(p_.root, p_.comm, msg)) break;
    } catch (const decode_error& e) {
      // A malformed message: say so and keep serving; nothing in it can be trusted to answer.
      RANKPOOL_LOG(warn, "worker rank %d dropped a malformed message: %s", p_.rank, e.what());
      continue;
    }
    any = true;
    handle(msg);
  }
  return any;
}

bool inbound::answer_requests(bool pull) {
  if (pull) p_.board.pull();
  auto requests = p_.board.take_requests();
  if (requests.empty()) return false;
  const auto answer = detail::answer_requests(
      requests, [&](std::uint64_t id) { return p_.team ? p_.team->cancel(id) : p_.queue.cancel(id); },
      [&](std::size_t n) { return p_.team ? p_.team->take_back(n) : p_.queue.take_back(n); });
  RANKPOOL_LOG(debug, "worker rank %d answers %zu requests", p_.rank, requests.size());
  transport::send(answer.data(), answer.size(), p_.root, p_.comm);
  ++answers_;
  return true;
}

void inbound::handle(transport::incoming& msg) {
  auto h = wire::decode_header(msg.bytes.data(), msg.bytes.size());
  auto shared = std::make_shared<const std::vector<char>>(std::move(msg.bytes));
  const char* body = shared->data() + sizeof(wire::header);
  const std::size_t body_n = shared->size() - sizeof(wire::header);
  switch (static_cast<wire::kind>(h.kind)) {
    case wire::kind::shutdown:
      RANKPOOL_LOG(info, "worker rank %d: the root says shut down", p_.rank);
      acknowledge_ = (h.reserved[0] & wire::flag_acknowledge) != 0;
      stopping_ = true;
      // The root sends shutdown when every task is done, so a stop, cancel or take-back still
      // unread is moot. It must not be left behind: MPI reuses a freed communicator's context for a
      // later one, and a stale cancel read by the next pool on this rank would drop a task of the
      // same id. The root sent them before the shutdown, so they have arrived by now.
      p_.board.drop_pending();
      break;
    case wire::kind::task:
      enqueue({h.id, shared, body, body_n, true, (h.reserved[0] & wire::flag_pinned) != 0});
      break;
    case wire::kind::task_batch: {
      const bool each = (h.reserved[0] & wire::flag_answer_each) != 0;
      in_buffer records(body, body_n);
      try {
        for (std::uint64_t i = 0; i < h.id; ++i) {
          auto rec = records.get_value<wire::task_record>();
          if (rec.bytes > records.remaining()) throw decode_error("rankpool: task record longer than its batch");
          enqueue({rec.id, shared, records.current(), static_cast<std::size_t>(rec.bytes), each});
          records.skip(static_cast<std::size_t>(rec.bytes));
        }
      } catch (const decode_error& e) {
        RANKPOOL_LOG(warn, "worker rank %d dropped the rest of a malformed batch: %s", p_.rank, e.what());
      }
      break;
    }
    case wire::kind::share_open:
    case wire::kind::share_close:
      // A shared value comes before any task that names it and leaves after the last one is
      // done, in the order of the task stream, so it is handled at once, even by the watcher
      // while a task runs (the other ranks of the node wait for this one in the window's
      // collective). An isolated child forked earlier would not map a new window: a fresh one
      // is forked before the next task (not now: the watcher may be here while the child runs one).
      if (h.kind == static_cast<std::uint8_t>(wire::kind::share_open)) {
        p_.shares.open(h.id, body, body_n);
      } else {
        p_.shares.close(h.id);
      }
      refork_ = p_.isolated;
      break;
    case wire::kind::nested_result:
      if (p_.nested) p_.nested->deliver(h, body, body_n);
      break;
    default:
      RANKPOOL_LOG(warn, "worker rank %d ignored a message of kind %u", p_.rank, unsigned(h.kind));
      break;
  }
}

void inbound::enqueue(task_queue::item it) {
  if (p_.team) {
    p_.team->push(std::move(it));
  } else {
    p_.queue.push(std::move(it));
  }
}

}  // namespace rankpool::detail
