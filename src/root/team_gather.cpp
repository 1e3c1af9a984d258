// A team task's members and their results on the root (see team_gather.hpp).

#include "root/team_gather.hpp"

#include <cstring>
#include <rankpool/detail/team.hpp>
#include <rankpool/errors.hpp>

namespace rankpool::detail {

team_gather::team_gather(task_ptr whole, std::vector<member> members, stop_sink& stops)
    : whole_(std::move(whole)), members_(std::move(members)), stops_(stops), answered_(members_.size(), false) {}

void team_gather::request_stop(std::uint64_t, int) noexcept {
  spoiled_->store(true, std::memory_order_release);
  for (const auto& m : members_) stops_.request_stop(m.id, m.rank);
}

void team_gather::stop_unanswered() noexcept {
  spoiled_->store(true, std::memory_order_release);
  for (std::size_t i = 0; i < members_.size(); ++i)
    if (!answered_[i]) stops_.request_stop(members_[i].id, members_[i].rank);
}

bool team_gather::answer(std::size_t m) noexcept {
  if (m >= members_.size() || answered_[m]) return false;
  answered_[m] = true;
  ++answers_;
  return true;
}

void team_gather::fail_team(std::exception_ptr e) noexcept {
  failed_ = true;
  whole_->fail(std::move(e));
  stop_unanswered();
}

void team_gather::lose(std::size_t m, std::exception_ptr e) noexcept {
  if (answer(m) && !failed_) fail_team(std::move(e));
}

void team_gather::arrive(std::size_t m, reader& in) noexcept {
  if (!answer(m) || failed_) return;  // a failed future: the rest only end their part
  try {
    const char* at = in.raw().current();
    const std::size_t n = in.raw().remaining();
    if (in.raw().get_value<std::uint8_t>() != result_ok) return fail_team(read_exception(in));
    if (m == 0) first_.assign(at, at + n);
  } catch (...) {
    return fail_team(make_result_decode_error(std::current_exception()));
  }
  if (answers_ < members_.size()) return;
  reader value(first_.data(), first_.size());
  whole_->complete_from(value);
  first_ = {};
}

team_part::team_part(std::shared_ptr<team_gather> gather, std::size_t member, std::vector<char> bytes)
    : gather_(std::move(gather)), member_(member) {
  state_ = gather_->whole().state().shared_from_this();
  bytes_ = std::move(bytes);
  team = 1;  // its time says nothing about one-rank tasks: it stays out of the window's mean
}

void team_part::run_here(time_point) noexcept {
  fail(std::make_exception_ptr(invalid_state_error("rankpool: a team task cannot run on the root")));
}

std::uint32_t team_comms::word(const std::vector<int>& ranks, std::shared_ptr<const std::atomic<bool>> spoiled) {
  auto it = kept_.find(ranks);
  if (it == kept_.end()) {
    if (kept_.size() >= capacity) return 0;
    const auto id = static_cast<std::uint32_t>(kept_.size() + 1);
    kept_.emplace(ranks, entry{id, std::move(spoiled)});
    return id | team_fresh;
  }
  const bool fresh = it->second.last && it->second.last->load(std::memory_order_acquire);
  it->second.last = std::move(spoiled);
  return it->second.id | (fresh ? team_fresh : 0);
}

std::vector<char> member_body(const std::vector<char>& whole, std::size_t m, const std::vector<int>& ranks,
                              std::int32_t tag, std::uint32_t cache) {
  // Header room, then the invoker key: the record goes right after them.
  constexpr std::size_t head = task_header_room + sizeof(std::uint64_t);
  if (whole.size() < head) throw invalid_state_error("rankpool: a team task without its encoded body");
  std::vector<char> out;
  out.reserve(whole.size() + team_record_bytes(ranks.size()));
  out.insert(out.end(), whole.begin(), whole.begin() + head);
  const team_record rec{static_cast<std::uint32_t>(ranks.size()), static_cast<std::uint32_t>(m), tag, cache};
  const auto* r = reinterpret_cast<const char*>(&rec);
  out.insert(out.end(), r, r + sizeof rec);
  for (int rank : ranks) {
    const auto v = static_cast<std::int32_t>(rank);
    const auto* p = reinterpret_cast<const char*>(&v);
    out.insert(out.end(), p, p + sizeof v);
  }
  out.insert(out.end(), whole.begin() + head, whole.end());
  return out;
}

}  // namespace rankpool::detail
