# pipeline: a tiled Cholesky factorization whose tasks take futures as arguments (see
# pipeline.cpp), and its tests.
#
# The bad-argument tests use scrypt_batch.cmake's checker (its script mode checks an exit status
# and a piece of stderr together, which a bare add_test cannot do).

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

# Bad arguments: status 2 and a message naming the problem, at 2 ranks so that a refusal on the
# root must still release the worker.
rankpool_mpiexec_preflags(_pl_preflags)
set(_pl_bad
  "zero_tiles|pipeline: --tiles: '0' is not a positive integer|--tiles|0"
  "too_large|pipeline: a matrix of 2048 x 2048 tiles of 1024 rows is too large|--tiles|2048|--tile-size|1024"
  "unknown_option|pipeline: unknown option '--frobnicate' (try --help)|--frobnicate")
foreach(t IN LISTS _pl_bad)
  string(REPLACE "|" ";" t "${t}")
  list(POP_FRONT t tname tmessage)
  add_test(NAME pipeline.bad.${tname}
    COMMAND ${CMAKE_COMMAND} -DSB_EXPECT_RC=2 "-DSB_EXPECT_STDERR=${tmessage}" -P ${CMAKE_CURRENT_LIST_DIR}/scrypt_batch.cmake --
            ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${_pl_preflags} $<TARGET_FILE:pipeline>
            ${MPIEXEC_POSTFLAGS} ${t})
  set_tests_properties(pipeline.bad.${tname} PROPERTIES TIMEOUT 60 PROCESSORS 1 LABELS "mpi;bad-input;pipeline"
    ENVIRONMENT "${RANKPOOL_MPI_TEST_ENV}")
endforeach()
