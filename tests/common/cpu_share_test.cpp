// The decision "may this rank spin?" (src/common/cpu_share), without a launcher: the rule over
// made-up facts, the settings' parsing, the mask union, and configure_alone over the
// environment a launcher would set.

#include "common/cpu_share.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <optional>
#include <rankpool/detail/spin.hpp>
#include <string>

namespace cs = rankpool::detail::cpu_share;

namespace {

cs::facts node(std::size_t demand, std::size_t cpus) {
  cs::facts f;
  f.demand = demand;
  f.cpus = cpus;
  return f;
}

cpu_set_t mask_of(std::initializer_list<int> cpus) {
  cpu_set_t m;
  CPU_ZERO(&m);
  for (int c : cpus) CPU_SET(c, &m);
  return m;
}

// Sets an environment variable for one test and restores the old value after it.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~scoped_env() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(cpu_share, spins_only_with_a_core_per_busy_thread) {
  EXPECT_TRUE(cs::may_spin(node(2, 2)));
  EXPECT_TRUE(cs::may_spin(node(3, 16)));
  EXPECT_FALSE(cs::may_spin(node(3, 2)));  // -n 3 on the 2-core machine
  EXPECT_FALSE(cs::may_spin(node(9, 8)));
}

TEST(cpu_share, rankpool_spin_overrides_everything) {
  auto f = node(3, 2);
  f.spin_env = true;
  f.mpi_yields = true;
  EXPECT_TRUE(cs::may_spin(f));
  f = node(1, 16);
  f.spin_env = false;
  EXPECT_FALSE(cs::may_spin(f));
}

TEST(cpu_share, open_mpi_yielding_means_no_spin) {
  auto f = node(2, 16);
  f.mpi_yields = true;
  EXPECT_FALSE(cs::may_spin(f));
  f.mpi_yields = false;  // set off explicitly: the count decides
  EXPECT_TRUE(cs::may_spin(f));
}

TEST(cpu_share, parses_boolean_settings) {
  for (const char* yes : {"1", "true", "YES", "On"}) EXPECT_EQ(cs::parse_bool(yes), true) << yes;
  for (const char* no : {"0", "false", "No", "OFF"}) EXPECT_EQ(cs::parse_bool(no), false) << no;
  EXPECT_EQ(cs::parse_bool(nullptr), std::nullopt);
  EXPECT_EQ(cs::parse_bool(""), std::nullopt);
  EXPECT_EQ(cs::parse_bool("2"), std::nullopt);
}

TEST(cpu_share, counts_the_union_of_bound_ranks_masks) {
  // Open MPI binds each of 2 ranks to a core of its own: each mask has 1 CPU, the node 2.
  EXPECT_EQ(cs::union_count({mask_of({0}), mask_of({1})}), 2u);
  EXPECT_EQ(cs::union_count({mask_of({0, 1}), mask_of({0, 1}), mask_of({0, 1})}), 2u);
  EXPECT_EQ(cs::union_count({}), 0u);
  EXPECT_GE(cs::union_count({cs::own_mask()}), 1u);
}

TEST(cpu_share, fitting_workers_leave_a_cpu_per_worker_thread) {
  EXPECT_EQ(cs::fitting_workers(2, 1, 0), 2u);   // -n 8 on 2 cores: two workers, the root sleeps
  EXPECT_EQ(cs::fitting_workers(2, 1, 1), 1u);   // a computing root takes one of the two
  EXPECT_EQ(cs::fitting_workers(16, 4, 0), 4u);  // threads_per_worker 4: four ranks of four threads
  EXPECT_EQ(cs::fitting_workers(16, 3, 1), 5u);  // 15 CPUs left, whole workers only
  EXPECT_EQ(cs::fitting_workers(2, 4, 0), 1u);   // never none: a node's first worker always runs
  EXPECT_EQ(cs::fitting_workers(1, 1, 1), 1u);
  EXPECT_EQ(cs::fitting_workers(0, 0, 0), 1u);  // no CPU known, no threads given: still one
}

TEST(cpu_share, sleeping_ranks_keep_more_work_in_flight) {
  EXPECT_GT(cs::lead_ns(false), 10 * cs::lead_ns(true));
}

TEST(cpu_share, configure_alone_reads_the_launcher_environment) {
  scoped_env spin("RANKPOOL_SPIN", nullptr);
  scoped_env yield("OMPI_MCA_mpi_yield_when_idle", "0");
  const auto cpus = cs::union_count({cs::own_mask()});
  {
    scoped_env local("OMPI_COMM_WORLD_LOCAL_SIZE", std::to_string(cpus + 1).c_str());
    EXPECT_FALSE(cs::configure_alone(1, 0));
    EXPECT_FALSE(rankpool::detail::spin_allowed());
  }
  {
    scoped_env local("OMPI_COMM_WORLD_LOCAL_SIZE", "1");
    EXPECT_TRUE(cs::configure_alone(1, 0));
    EXPECT_TRUE(rankpool::detail::spin_allowed());
    scoped_env forced("RANKPOOL_SPIN", "0");
    EXPECT_FALSE(cs::configure_alone(1, 0));
  }
  {
    scoped_env local("OMPI_COMM_WORLD_LOCAL_SIZE", "1");
    scoped_env yields("OMPI_MCA_mpi_yield_when_idle", "1");
    EXPECT_FALSE(cs::configure_alone(1, 0));
  }
  rankpool::detail::set_spin_allowed(true);
}

}  // namespace
