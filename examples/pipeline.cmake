# pipeline: a tiled Cholesky factorization whose tasks take futures as arguments (see
# pipeline.cpp), and its tests.

add_executable(pipeline ${CMAKE_CURRENT_LIST_DIR}/pipeline.cpp)
target_link_libraries(pipeline PRIVATE rankpool)
rankpool_set_warnings(pipeline)

if(NOT RANKPOOL_BUILD_TESTS)
  return()
endif()
include(RankpoolTesting)

# The factorization against Eigen::LLT: at 3 ranks (2 workers, oversubscribed on 2 cores) and
# at 1 rank, where comm_executor runs the tasks on local threads. pipeline.1ranks, .3ranks.
rankpool_add_mpi_test(pipeline RANKS 1 3 TIMEOUT 120 LABELS pipeline ARGS --tiles 6 --tile-size 40 --seed 1)

# Bad arguments: status 2 and a message naming the problem, at 2 ranks.
rankpool_refusal_tests(pipeline 2
  "zero_tiles|pipeline: --tiles: '0' is not a positive integer|--tiles|0"
  "too_large|pipeline: a matrix of 2048 x 2048 tiles of 1024 rows is too large|--tiles|2048|--tile-size|1024"
  "unknown_option|pipeline: unknown option '--frobnicate' (try --help)|--frobnicate")
