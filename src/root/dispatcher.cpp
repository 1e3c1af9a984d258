// Where the root's queued tasks go (see dispatcher.hpp).

#include "root/dispatcher.hpp"

namespace rankpool::detail {

// Pops the next task that is still wanted, or returns null. A task for worker rank `where`
// is marked running as task `id` there (stop and cancel requests go there) but stays
// withdrawable until it starts; one for the root's own thread (`where` < 0) stays pending,
// and the thread marks it running when it starts it.
task_ptr dispatcher::next_task(std::uint64_t id, int where) {
  while (!b_.queue.empty()) {
    task_ptr t = std::move(b_.queue.front());
    b_.queue.pop_front();
    if (where < 0 ? !t->state().done() : t->state().set_running(&b_.stops, id, where, true)) return t;
  }
  return nullptr;
}

// Hands queued tasks to the slots the policy picks until the queue or every window is full.
bool dispatcher::dispatch() {
  bool any = false;
  while (!b_.queue.empty()) {
    const auto p = b_.policy.next(b_.queue.size());
    if (!p) break;
    if (b_.local && p->slot == b_.policy.root_slot()) {
      if (!give_local(p->room)) break;
    } else if (!send_to(p->slot, p->room)) {
      break;
    }
    any = true;
  }
  return any;
}

// Sends up to `room` tasks to worker w: one large task alone, or small ones in one batch.
bool dispatcher::send_to(std::size_t w, std::size_t room) {
  const int dest = b_.workers[w];
  std::vector<std::pair<std::uint64_t, task_ptr>> picked;
  std::size_t bytes = 0;
  while (picked.size() < room && bytes < batch_byte_limit && !b_.queue.empty()) {
    // A large task goes alone: first, or never into a batch.
    if (!picked.empty() && b_.queue.front()->bytes().size() > batch_task_limit) break;
    task_ptr t = next_task(next_id_, dest);
    if (!t) break;
    bytes += t->bytes().size();
    picked.emplace_back(next_id_++, std::move(t));
    if (picked.front().second->bytes().size() > batch_task_limit) break;
  }
  if (picked.empty()) return false;
  b_.policy.sent(w, picked.size());
  b_.sender.send(picked, w, dest, b_.policy.answer_each());
  return true;
}

// The root's own compute slot (root_computes) takes up to `room` tasks.
bool dispatcher::give_local(std::size_t room) {
  std::vector<task_ptr> handed;
  while (handed.size() < room) {
    task_ptr t = next_task(0, -1);
    if (!t) break;
    handed.push_back(std::move(t));
  }
  if (handed.empty()) return false;
  b_.policy.sent(b_.policy.root_slot(), handed.size());
  b_.local->give(handed);
  return true;
}

}  // namespace rankpool::detail
