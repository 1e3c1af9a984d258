#pragma once
// Internal: a team task at its workers (rankpool/detail/team.hpp). The dispatcher sends each
// member its own task, a team_part, in the books under its own id like any task; the gather the
// parts share combines their results. Team rank 0's value completes the future once every member
// has answered; the first exception of any member fails it at once, and the members that have
// not answered are asked to stop (stop_requested() turns true for them: they may be waiting on
// the failed member inside the team). A stop requested on the future reaches every member. Runs
// on the progress thread, except request_stop (any thread).

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <rankpool/detail/state.hpp>
#include <rankpool/detail/task.hpp>
#include <vector>

namespace rankpool::detail {

class team_gather final : public stop_sink {
 public:
  /// A member's task id and its worker's rank.
  struct member {
    std::uint64_t id;
    int rank;
  };
  /// Gathers for `whole` (the submitted team task) run by `members`, team rank i first; stop
  /// requests go to `stops`.
  team_gather(task_ptr whole, std::vector<member> members, stop_sink& stops);

  /// The submitted team task.
  task& whole() noexcept { return *whole_; }
  /// Raised once the team failed or a stop was asked for it: its communicator may hold an
  /// operation a member never joined, and the next team on its ranks gets a fresh one.
  std::shared_ptr<const std::atomic<bool>> spoiled() const { return spoiled_; }
  /// Asks every member to stop (a stop on the team's future); any thread.
  void request_stop(std::uint64_t task_id, int where) noexcept override;
  /// Member `m` answered with the result body at `in` (status byte, then value or exception).
  void arrive(std::size_t m, reader& in) noexcept;
  /// Member `m` will not run (its worker returned it unstarted): the team fails with `e`, as
  /// when a member's task fails.
  void lose(std::size_t m, std::exception_ptr e) noexcept;

 private:
  // Counts member `m`'s answer; false when it is no member or answered already.
  bool answer(std::size_t m) noexcept;
  // The future fails with `e`, the members still at work are asked to stop.
  void fail_team(std::exception_ptr e) noexcept;
  void stop_unanswered() noexcept;

  task_ptr whole_;
  std::vector<member> members_;  // fixed at construction: request_stop reads it from any thread
  stop_sink& stops_;
  std::vector<bool> answered_;
  std::size_t answers_ = 0;
  bool failed_ = false;
  std::vector<char> first_;  // team rank 0's result body, until every member has answered
  std::shared_ptr<std::atomic<bool>> spoiled_ = std::make_shared<std::atomic<bool>>(false);
};

/// Which team communicators the workers keep (team_record::cache). Building one
/// (MPI_Comm_create_group) costs its members a few collective rounds, up to a millisecond on a
/// busy node, each time a team starts; the members keep the communicators of the first
/// `capacity` distinct teams (ranks in team order) of a pool instead, and a later team on the
/// same ranks reuses it. After a team on them was spoiled, the next one gets a fresh one.
/// Progress thread only.
class team_comms {
 public:
  static constexpr std::size_t capacity = 64;
  /// The record's cache word for a team starting on `ranks`, whose gather raises `spoiled`:
  /// 0 (build and free one), a kept id, or a new id with team_fresh.
  std::uint32_t word(const std::vector<int>& ranks, std::shared_ptr<const std::atomic<bool>> spoiled);

 private:
  struct entry {
    std::uint32_t id;
    std::shared_ptr<const std::atomic<bool>> last;  // the last team's flag on these ranks
  };
  std::map<std::vector<int>, entry> kept_;
};

/// One member's share of a team task: its bytes are the body for that member, its state is the
/// team's (a broken pool fails the team's future through any part).
class team_part final : public task {
 public:
  team_part(std::shared_ptr<team_gather> gather, std::size_t member, std::vector<char> bytes);
  void run_here(time_point) noexcept override;
  void complete_from(reader& in) noexcept override { gather_->arrive(member_, in); }
  /// This member will not run: its team fails with `e` (team_gather::lose).
  void lost(std::exception_ptr e) noexcept { gather_->lose(member_, std::move(e)); }
  const char* type_name() const noexcept override { return gather_->whole().type_name(); }
  const void* function_address() const noexcept override { return gather_->whole().function_address(); }

 private:
  std::shared_ptr<team_gather> gather_;
  std::size_t member_;
};

/// The body member `m` of a team of `ranks` gets: `whole` (header room, invoker key, callable,
/// arguments) with the team record and the ranks after the invoker key; `tag` builds the
/// team's communicator, `cache` says whether to keep it (team_comms::word).
std::vector<char> member_body(const std::vector<char>& whole, std::size_t m, const std::vector<int>& ranks,
                              std::int32_t tag, std::uint32_t cache);

}  // namespace rankpool::detail
