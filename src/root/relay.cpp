// Tasks that tasks submit, relayed by the root (see relay.hpp).

#include "root/relay.hpp"

#include <cstring>
#include <rankpool/detail/exception_codec.hpp>
#include <rankpool/detail/registry.hpp>
#include <rankpool/errors.hpp>
#include <string>

#include "wire/framing.hpp"

namespace rankpool::detail {
namespace {

// A task some worker's task submitted: its body as the worker encoded it, run wherever the
// scheduler puts it; its value is the result body, which goes back to that worker unread.
class relay_task final : public task {
 public:
  relay_task(std::shared_ptr<shared_state<std::vector<char>>> s, const char* body, std::size_t n,
             std::weak_ptr<relay_outbox> out, int rank, std::uint64_t number)
      : typed_(std::move(s)), out_(std::move(out)), rank_(rank), number_(number) {
    state_ = typed_;
    bytes_.resize(task_header_room + n);
    std::memcpy(bytes_.data() + task_header_room, body, n);
    if (n >= sizeof key_) std::memcpy(&key_, body, sizeof key_);
  }
  const char* type_name() const noexcept override {
    const char* name = invoker_name(key_);
    return name ? name : "nested task";
  }
  // The root's own thread (root_computes) runs it: the invoker writes the result body here.
  void run_here(time_point deadline) noexcept override {
    writer out;
    invoke_fn fn = find_invoker(key_);
    if (!fn) {
      fail(std::make_exception_ptr(error("rankpool: a nested task's type is unknown on the root")));
      return;
    }
    reader in(bytes_.data() + task_header_room + sizeof key_, bytes_.size() - task_header_room - sizeof key_);
    fn(in, out);
    if (std::chrono::steady_clock::now() > deadline) {
      fail(std::make_exception_ptr(deadline_error(0, "the root")));
      return;
    }
    out.reset_archive();
    typed_->set_value(out.take());
  }
  void complete_from(reader& in) noexcept override {
    try {
      const auto& raw = in.raw();
      typed_->set_value(std::vector<char>(raw.current(), raw.current() + raw.remaining()));
    } catch (...) {
      fail(std::current_exception());
    }
  }

  // The worker that submitted it asked it back too late: it hears so now.
  void withdraw_refused() noexcept override {
    if (auto box = out_.lock()) {
      try {
        box->queue(rank_, number_, wire::flag_refused, {});
      } catch (...) {  // out of memory: the worker's cancel() waits for the result instead
      }
    }
  }

 private:
  std::shared_ptr<shared_state<std::vector<char>>> typed_;
  std::weak_ptr<relay_outbox> out_;
  int rank_;
  std::uint64_t number_;
  std::uint64_t key_ = 0;
};

// Queues the reply of a relay that ended: its result body, the exception it failed with, or the
// cancelled flag.
void reply(relay_outbox& box, int rank, std::uint64_t number, const future<std::vector<char>>& f) {
  if (f.cancelled()) {
    box.queue(rank, number, wire::flag_cancelled, {});
  } else if (auto e = f.exception()) {
    writer w;
    write_exception(w, e);
    w.reset_archive();
    box.queue(rank, number, 0, w.take());
  } else {
    box.queue(rank, number, 0, f.result());
  }
}

}  // namespace

void relay_outbox::queue(int rank, std::uint64_t number, std::uint8_t flags, const std::vector<char>& body) {
  std::vector<char> bytes(sizeof(wire::header) + body.size());
  wire::put_header(bytes.data(), wire::kind::nested_result, number, body.size(), flags);
  if (!body.empty()) std::memcpy(bytes.data() + sizeof(wire::header), body.data(), body.size());
  std::lock_guard lk(m);
  if (!flags || flags == wire::flag_cancelled) live.erase({rank, number});
  ready.push_back({std::move(bytes), {}, rank});
}

relays::relays(MPI_Comm comm) : comm_(comm) {}

task_ptr relays::take(int rank, std::uint64_t number, const char* body, std::size_t n) {
  const bool whole = n >= sizeof(wire::nested_record) + sizeof(std::uint64_t);
  wire::nested_record rec{};
  if (whole) std::memcpy(&rec, body, sizeof rec);
  auto s = std::make_shared<shared_state<std::vector<char>>>();
  const std::size_t skip = whole ? sizeof rec : n;
  auto t = std::make_unique<relay_task>(s, body + skip, n - skip, out_, rank, number);
  t->priority = rec.priority;
  t->nested = true;
  if (rec.retries) t->retry = std::make_shared<const retry_rule>(retry_rule{rec.retries, {}});
  {
    std::lock_guard lk(out_->m);
    out_->live[{rank, number}] = s;
  }
  std::weak_ptr<relay_outbox> out = out_;
  s->add_callback([out, rank, number](const future<std::vector<char>>& f) {
    if (auto box = out.lock()) reply(*box, rank, number, f);
  });
  if (!whole) {
    // The worker's future must hear of it, or its task would wait forever.
    t->fail(std::make_exception_ptr(
        decode_error("rankpool: the root received a nested task of " + std::to_string(n) + " bytes, too short")));
    return nullptr;
  }
  return t;
}

void relays::cancel(int rank, std::uint64_t number, const in_flight_map& running, const std::vector<int>& workers,
                    stop_queue& stops) {
  std::shared_ptr<state_base> s;
  {
    std::lock_guard lk(out_->m);
    auto it = out_->live.find({rank, number});
    if (it != out_->live.end()) s = it->second.lock();
  }
  if (!s) return;  // done: its outcome is on its way, and the worker's cancel() learns from it
  if (s->get_status() == status::pending) {
    s->cancel();  // still on the root: the callback replies
    return;
  }
  if (s->ask_withdraw()) {
    for (const auto& [id, entry] : running) {
      if (&entry.t->state() != s.get()) continue;
      stops.withdraw_later(id, workers[entry.worker]);
      return;
    }
  }
  // Started (or on the root's own thread): it runs on, and the worker's cancel() returns false.
  out_->queue(rank, number, wire::flag_refused, {});
}

bool relays::send_ready() {
  {
    std::lock_guard lk(out_->m);
    while (!out_->ready.empty()) {
      sending_.push_back(std::move(out_->ready.front()));
      out_->ready.pop_front();
      auto& r = sending_.back();
      r.send.start(r.bytes.data(), r.bytes.size(), r.rank, comm_);
    }
  }
  while (!sending_.empty() && sending_.front().send.test()) sending_.pop_front();
  return !sending_.empty();
}

}  // namespace rankpool::detail
