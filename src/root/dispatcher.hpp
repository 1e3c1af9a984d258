#pragma once
// Internal: moving the root's queued tasks to the slots dispatch_policy picks: a batch (or one
// large task) to a worker, or a share to the root's own thread. A task sent to a worker is marked
// running there, under a new id, but stays withdrawable until it starts.

#include <cstdint>
#include <deque>
#include <rankpool/detail/task.hpp>
#include <vector>

#include "root/dispatch_policy.hpp"
#include "root/root_queue.hpp"
#include "root/root_slot.hpp"
#include "root/stop_queue.hpp"
#include "root/task_sender.hpp"
#include "root/team_gather.hpp"

namespace rankpool::detail {

class dispatcher {
 public:
  /// The scheduler's parts that dispatch uses.
  struct books {
    root_queue& queue;                // tasks waiting on the root
    std::deque<task_ptr>& teams;      // team tasks waiting on the root (submit_parallel)
    dispatch_policy& policy;          // which slot, how many
    task_sender& sender;              // sends to workers
    stop_queue& stops;                // where the tasks' stop and cancel requests go
    const std::vector<int>& workers;  // worker slot -> rank
    root_slot* local;                 // the root's own compute slot, or null
  };
  explicit dispatcher(books b) : b_(b) {}
  /// The root's own compute slot, once it exists.
  void set_local(root_slot* local) { b_.local = local; }

  /// Starts the waiting team tasks that have their workers (the policy gathers them), then
  /// hands queued tasks to the slots the policy picks until the queue or every window is full;
  /// true when any task left.
  bool dispatch();

 private:
  bool place_teams();
  void launch_team(task_ptr whole, const std::vector<std::size_t>& slots);
  task_ptr next_task(std::optional<std::size_t> slot, std::uint64_t id, int where);
  bool send_to(std::size_t w, std::size_t room);
  bool give_local(std::size_t room);

  books b_;
  team_comms team_comms_;      // the team communicators the workers keep
  std::uint64_t next_id_ = 1;  // task ids, unique per pool and rising per worker
};

}  // namespace rankpool::detail
