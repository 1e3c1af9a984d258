# rankpool_add_mpi_test(<target> RANKS 1 2 4 5 [TIMEOUT s] [ARGS ...])
# One ctest per rank count, named <target>.<N>ranks, run through mpiexec with a timeout
# (a deadlock just hangs otherwise) and --oversubscribe for Open MPI (CI has 2 cores).
function(rankpool_add_mpi_test target)
  cmake_parse_arguments(arg "" "TIMEOUT" "RANKS;ARGS;LABELS" ${ARGN})
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 120)
  endif()
  if(NOT arg_RANKS)
    set(arg_RANKS 1 2 4 5)
  endif()
  set(preflags ${MPIEXEC_PREFLAGS})
  if(MPI_CXX_LIBRARY_VERSION_STRING MATCHES "Open MPI" OR MPIEXEC_EXECUTABLE MATCHES "openmpi|orterun")
    list(APPEND preflags --oversubscribe)
  endif()
  foreach(n IN LISTS arg_RANKS)
    set(name ${target}.${n}ranks)
    add_test(NAME ${name}
      COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${n} ${preflags} $<TARGET_FILE:${target}>
              ${MPIEXEC_POSTFLAGS} ${arg_ARGS})
    set_tests_properties(${name} PROPERTIES TIMEOUT ${arg_TIMEOUT} PROCESSORS 1
      LABELS "mpi;${arg_LABELS}"
      ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OMPI_MCA_btl_vader_single_copy_mechanism=none")
  endforeach()
endfunction()

# rankpool_add_unit_test(<target>): a plain (non-MPI) GoogleTest executable, one ctest.
function(rankpool_add_unit_test target)
  cmake_parse_arguments(arg "" "TIMEOUT" "" ${ARGN})
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 120)
  endif()
  add_test(NAME ${target} COMMAND $<TARGET_FILE:${target}>)
  set_tests_properties(${target} PROPERTIES TIMEOUT ${arg_TIMEOUT} LABELS unit)
endfunction()
