# sweep: a parameter sweep whose points run on teams of 2 and 4 ranks (map_parallel), checked
# against a serial run of each point; see sweep.cpp.

add_executable(sweep ${CMAKE_CURRENT_LIST_DIR}/sweep.cpp)
target_link_libraries(sweep PRIVATE rankpool CLI11::CLI11)
rankpool_set_warnings(sweep)

if(NOT RANKPOOL_BUILD_TESTS)
  return()
endif()
include(RankpoolTesting)

# 9 ranks: 8 workers, two teams of 4 or four of 2 at once (oversubscribed on small machines).
rankpool_add_mpi_test(sweep RANKS 9 TIMEOUT 240 LABELS sweep ARGS --points 6 --grid 512 --iterations 1500)
set_tests_properties(sweep.9ranks PROPERTIES PASS_REGULAR_EXPRESSION "sweep: every point matched the serial run")

# Bad arguments: status 2 and a message naming the problem, at 3 ranks (2 workers).
rankpool_refusal_tests(sweep 3
  "team_too_large|sweep: rankpool: a team task of 4 worker ranks on a pool of 2|--teams|4"
  "zero_points|--points: Value 0 not in range|--points|0"
  "unknown_option|The following argument was not expected: --frobnicate|--frobnicate")
