// What the root does with each message from a worker (see intake.hpp).

#include "root/intake.hpp"

#include <algorithm>
#include <rankpool/detail/exception_codec.hpp>
#include <rankpool/detail/log.hpp>
#include <rankpool/errors.hpp>
#include <string>

#include "common/text.hpp"
#include "root/team_gather.hpp"
#include "wire/framing.hpp"

namespace rankpool::detail {

intake::intake(const std::vector<int>& workers, books b, failures f) : b_(b), fail_(std::move(f)), workers_(workers) {
  for (std::size_t i = 0; i < workers.size(); ++i) index_of_rank_[workers[i]] = i;
}

void intake::handle(transport::incoming& msg) {
  auto wit = index_of_rank_.find(msg.source);
  wire::header h;
  try {
    if (wit == index_of_rank_.end()) throw decode_error("message from a rank that is not a worker");
    h = wire::decode_header(msg.bytes.data(), msg.bytes.size());
  } catch (const std::exception& e) {
    RANKPOOL_LOG(warn, "root dropped a malformed message from rank %d: %s", msg.source, e.what());
    return;
  }
  in_buffer body(msg.bytes.data() + sizeof(wire::header), msg.bytes.size() - sizeof(wire::header));
  if (h.kind == static_cast<std::uint8_t>(wire::kind::init_failed)) {
    std::exception_ptr cause;
    try {
      reader in(body.current(), body.remaining());
      if (in.raw().get_value<std::uint8_t>() == result_exception) cause = read_exception(in);
    } catch (...) {
    }
    fail_.broken("rankpool: the executor is broken: the initializer failed on worker rank " +
                     std::to_string(msg.source) + (cause ? ": " + describe(cause) : std::string()),
                 cause);
    return;
  }
  if (h.kind == static_cast<std::uint8_t>(wire::kind::worker_failed)) {
    fail_.lost(wit->second, msg.source, std::string(body.current(), body.remaining()));
    return;
  }
  if (h.kind == static_cast<std::uint8_t>(wire::kind::answer)) {
    take_answer(wit->second, msg.source, h, body);
    return;
  }
  if (h.kind >= static_cast<std::uint8_t>(wire::kind::nested_submit) &&
      h.kind <= static_cast<std::uint8_t>(wire::kind::nested_cancel)) {
    take_nested(wit->second, msg.source, h, body);
    return;
  }
  if (h.kind != static_cast<std::uint8_t>(wire::kind::result_batch)) {
    RANKPOOL_LOG(warn, "root ignored a message of kind %u from rank %d", unsigned(h.kind), msg.source);
    return;
  }
  const std::int64_t received = b_.watch.stamp();
  try {
    for (std::uint64_t i = 0; i < h.id; ++i) {
      auto rec = body.get_value<wire::result_record>();
      if (rec.bytes > body.remaining()) throw decode_error("result record longer than its message");
      complete(rec, body.current(), wit->second, msg.source, received);
      body.skip(static_cast<std::size_t>(rec.bytes));
    }
  } catch (const std::exception& e) {
    RANKPOOL_LOG(warn, "root dropped the rest of a malformed result batch from rank %d: %s", msg.source, e.what());
  }
  b_.watch.received(received, h.id, msg.bytes.size());
}

void intake::complete(const wire::result_record& rec, const char* data, std::size_t worker, int rank,
                      std::int64_t received) {
  auto it = b_.running.find(rec.id);
  if (it == b_.running.end() || it->second.worker != worker) {
    RANKPOOL_LOG(warn, "root ignored a result for unknown task %llu from rank %d",
                 static_cast<unsigned long long>(rec.id), rank);
    return;
  }
  b_.watch.result(*it->second.t, worker, rec, it->second.dispatched, it->second.bytes_in, received);
  auto entry = std::move(it->second);
  b_.running.erase(it);
  // A team's part says nothing about the one-rank tasks whose mean sizes the windows.
  b_.policy.finished(worker, 1, entry.t->team ? std::nullopt : std::optional<std::uint64_t>(rec.exec_ns));
  entry.send.wait();  // the worker answered, so the send is over: this only releases it
  // The captured output (capture_output) ends the body; the batch loop checked rec.bytes.
  if (rec.output_bytes > rec.bytes) {
    entry.t->fail(std::make_exception_ptr(decode_error("rankpool: a result's output is longer than the result")));
    return;
  }
  const auto n = static_cast<std::size_t>(rec.bytes - rec.output_bytes);
  std::string output(data + n, rec.output_bytes);
  // Decoded here only when it matters: a retry, or a message to end with the output.
  std::exception_ptr failed = entry.t->retry || !output.empty() ? whole_failure(data, n) : nullptr;
  if (failed && !output.empty()) failed = with_message_suffix(failed, output_suffix(output));
  if (!output.empty()) entry.t->state().set_output(std::move(output));
  if (failed) {
    // Queued again behind the waiting tasks of its priority (their turn came first).
    if (entry.t->retry_or_fail(std::move(failed))) b_.queue.push(std::move(entry.t));
    return;
  }
  reader in(data, n);
  entry.t->complete_from(in);
}

// A message about the tasks a task submitted (this_pool()): a new one joins the queue, before
// the waiting tasks of its priority (enqueue); a cancel asks it back; a task that waits on them
// lends its thread, so its slot takes one more task until the thread is reclaimed.
void intake::take_nested(std::size_t w, int rank, const wire::header& h, in_buffer& body) {
  switch (static_cast<wire::kind>(h.kind)) {
    case wire::kind::nested_submit: {
      std::vector<task_ptr> one;
      one.push_back(b_.nested.take(rank, h.id, body.current(), body.remaining()));
      if (!one.front()) {
        RANKPOOL_LOG(warn, "root refused a malformed nested task from rank %d", rank);
        return;
      }
      b_.watch.submitted(one);
      if (auto e = fail_.broken_error()) {
        one.front()->fail(e);
        return;
      }
      b_.queue.push(std::move(one.front()));
      break;
    }
    case wire::kind::nested_cancel:
      b_.nested.cancel(rank, h.id, b_.running, workers_, b_.stops);
      break;
    case wire::kind::nested_lend:
      b_.policy.lent(w);
      break;
    default:  // nested_reclaim
      b_.policy.reclaimed(w);
      break;
  }
}

// What a failed task's message ends with when its output was captured.
std::string intake::output_suffix(const std::string& output) {
  std::string tail = "\n--- output of the task ---\n" + output;
  if (tail.back() != '\n') tail += '\n';
  return tail;
}

// The exception of a result that failed as a whole (a task's error, a crash, a deadline), or
// null for a value (or a chunk, whose elements fail one by one) and for a record that does not
// decode, which complete_from reports.
std::exception_ptr intake::whole_failure(const char* data, std::size_t n) noexcept {
  try {
    reader in(data, n);
    if (in.raw().get_value<std::uint8_t>() == result_ok) return nullptr;
    return read_exception(in);
  } catch (...) {
    return nullptr;
  }
}

// A worker's answer to cancel and take-back requests: the tasks it will not run, and the
// cancels that came after their task started. A returned task is cancelled if a cancel()
// asked for it, and otherwise goes back before the queued tasks of its priority, in its order.
void intake::take_answer(std::size_t w, int rank, const wire::header& h, in_buffer& body) {
  b_.control.answered(w, static_cast<std::size_t>(h.id));
  std::vector<std::pair<std::uint64_t, task_ptr>> back;
  std::size_t gone = 0;
  try {
    const auto counts = body.get_value<wire::answer_counts>();
    for (std::uint64_t i = 0; i < counts.returned + counts.refused; ++i) {
      const auto id = body.get_value<std::uint64_t>();
      auto it = b_.running.find(id);
      if (it == b_.running.end() || it->second.worker != w) continue;
      if (i >= counts.returned) {
        it->second.t->state().refuse_withdraw();
        it->second.t->withdraw_refused();
        continue;
      }
      auto entry = std::move(it->second);
      b_.running.erase(it);
      ++gone;
      if (entry.t->state().withdrawn()) {
        b_.sender.retire(std::move(entry));  // a task cancelled before it arrived may still be on its way
      } else {
        entry.send.wait();  // the worker had it, so this only releases the send
        if (!entry.t->team) {
          back.emplace_back(id, std::move(entry.t));
          continue;
        }
        // A team's member runs where its partners wait for it or not at all (workers keep it):
        // one that comes back fails its team as a member's failure does (the others are asked
        // to stop, the communicator is not reused). Only team_parts are sent with `team` set.
        auto e = std::make_exception_ptr(
            invalid_state_error("rankpool: rank " + std::to_string(rank) + " returned a team task's member unstarted"));
        if (auto* part = dynamic_cast<team_part*>(entry.t.get())) {
          part->lost(std::move(e));
        } else {
          entry.t->fail(std::move(e));
        }
      }
    }
  } catch (const std::exception& e) {
    RANKPOOL_LOG(warn, "root dropped the rest of a malformed answer from rank %d: %s", rank, e.what());
  }
  b_.policy.returned(w, gone);
  std::sort(back.begin(), back.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (auto& [id, t] : back) b_.queue.push_taken_back(std::move(t));
  if (!back.empty()) RANKPOOL_LOG(debug, "rank %d returned %zu unstarted tasks", rank, back.size());
}

}  // namespace rankpool::detail
