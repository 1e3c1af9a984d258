// Which team communicators the workers keep (root/team_gather.hpp's team_comms), without MPI:
// a new team is built and kept, a later team on the same ranks reuses it, a spoiled team's
// successor gets a fresh one, the same ranks in another order are another team, and past the
// capacity teams are built and freed as before.

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <rankpool/detail/team.hpp>
#include <vector>

#include "root/team_gather.hpp"

namespace {

using rankpool::detail::team_comms;
using rankpool::detail::team_fresh;

std::shared_ptr<std::atomic<bool>> flag() {
  return std::make_shared<std::atomic<bool>>(false);
}

TEST(team_comms, KeepsReusesAndRenewsAfterASpoiledTeam) {
  team_comms c;
  const std::vector<int> ranks{2, 1, 3};
  const std::uint32_t first = c.word(ranks, flag());
  ASSERT_NE(first & team_fresh, 0u) << "the first team on these ranks builds the communicator";
  const std::uint32_t id = first & ~team_fresh;
  EXPECT_NE(id, 0u);
  auto second = flag();
  EXPECT_EQ(c.word(ranks, second), id) << "the next one reuses it";
  second->store(true);  // that team failed or was stopped
  EXPECT_EQ(c.word(ranks, flag()), id | team_fresh) << "after a spoiled team: a fresh one under the same id";
  EXPECT_EQ(c.word(ranks, flag()), id);
  const std::uint32_t other = c.word({1, 2, 3}, flag());
  EXPECT_NE(other & ~team_fresh, id) << "another order of the ranks is another team";
  EXPECT_NE(other & team_fresh, 0u);
}

TEST(team_comms, PastItsCapacityTeamsAreNotKept) {
  team_comms c;
  for (int r = 0; r < static_cast<int>(team_comms::capacity); ++r) EXPECT_NE(c.word({r, r + 1}, flag()), 0u);
  EXPECT_EQ(c.word({-1, 5}, flag()), 0u);
  EXPECT_EQ(c.word({0, 1}, flag()), 1u) << "the kept ones are still reused";
}

}  // namespace
