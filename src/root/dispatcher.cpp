// Where the root's queued tasks go (see dispatcher.hpp).

#include "root/dispatcher.hpp"

#include <rankpool/detail/log.hpp>
#include <string>

#include "root/team_gather.hpp"

namespace rankpool::detail {

// Pops the next task for `slot` that is still wanted, or returns null. A task for worker rank
// `where` is marked running as task `id` there (stop and cancel requests go there) but stays
// withdrawable until it starts; one for the root's own thread (`where` < 0, no slot) stays
// pending, and the thread marks it running when it starts it.
task_ptr dispatcher::next_task(std::optional<std::size_t> slot, std::uint64_t id, int where) {
  while (task_ptr t = b_.queue.pop(slot)) {
    if (where < 0 ? !t->state().done() : t->state().set_running(&b_.stops, id, where, true)) return t;
  }
  return nullptr;
}

// Hands queued tasks to the slots the policy picks until the queue or every window is full.
bool dispatcher::dispatch() {
  bool any = place_teams();
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
    if (!picked.empty() && b_.queue.peek(w)->bytes().size() > batch_task_limit) break;
    task_ptr t = next_task(w, next_id_, dest);
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

// Starts waiting team tasks, in their order, while the policy finds each its idle workers.
bool dispatcher::place_teams() {
  bool any = false;
  while (!b_.teams.empty()) {
    if (b_.teams.front()->state().done()) {  // cancelled while it waited
      b_.teams.pop_front();
      continue;
    }
    auto slots = b_.policy.gather(b_.teams.front()->team);
    if (!slots) return any;
    task_ptr t = std::move(b_.teams.front());
    b_.teams.pop_front();
    launch_team(std::move(t), *slots);
    any = true;
  }
  b_.policy.release_holds();
  return any;
}

// Sends each member of a team its part; the team's future runs from now on (a cancel() fails:
// every member starts at once, on an idle worker).
void dispatcher::launch_team(task_ptr whole, const std::vector<std::size_t>& slots) {
  std::vector<team_gather::member> members;
  std::vector<int> ranks;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    members.push_back({next_id_ + i, b_.workers[slots[i]]});
    ranks.push_back(b_.workers[slots[i]]);
  }
  // The first member's id names the team: unique while it runs, and MPI tags go to 32767 at least.
  const auto tag = static_cast<std::int32_t>(next_id_ % 32768);
  const std::uint64_t first = next_id_;
  next_id_ += slots.size();
  std::vector<char> body = std::move(whole->bytes());
  auto gather = std::make_shared<team_gather>(std::move(whole), members, b_.stops);
  if (!gather->whole().state().set_running(gather.get(), first, ranks[0], false)) return;  // cancelled
  const std::uint32_t cache = team_comms_.word(ranks, gather->spoiled());
  if (log::enabled(log::level::debug)) {
    std::string where;
    for (int r : ranks) where += (where.empty() ? "" : ",") + std::to_string(r);
    RANKPOOL_LOG(debug, "team task %llu starts on ranks %s", static_cast<unsigned long long>(first), where.c_str());
  }
  for (std::size_t i = 0; i < slots.size(); ++i) {
    std::vector<std::pair<std::uint64_t, task_ptr>> one;
    one.emplace_back(members[i].id, std::make_unique<team_part>(gather, i, member_body(body, i, ranks, tag, cache)));
    b_.policy.sent(slots[i], 1);
    b_.sender.send(one, slots[i], ranks[i], true);
  }
}

// The root's own compute slot (root_computes) takes up to `room` tasks.
bool dispatcher::give_local(std::size_t room) {
  std::vector<task_ptr> handed;
  while (handed.size() < room) {
    task_ptr t = next_task(std::nullopt, 0, -1);
    if (!t) break;
    handed.push_back(std::move(t));
  }
  if (handed.empty()) return false;
  b_.policy.sent(b_.policy.root_slot(), handed.size());
  b_.local->give(handed);
  return true;
}

}  // namespace rankpool::detail
