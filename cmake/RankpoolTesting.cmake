# Whether MPIEXEC_EXECUTABLE is Open MPI's (asked once: `mpiexec --version` names it; the
# library version string is empty unless CMake was told to determine it).
function(rankpool_mpiexec_is_openmpi out)
  if(NOT DEFINED CACHE{RANKPOOL_MPIEXEC_IS_OPENMPI})
    execute_process(COMMAND ${MPIEXEC_EXECUTABLE} --version OUTPUT_VARIABLE v ERROR_VARIABLE v)
    if(v MATCHES "Open MPI|OpenRTE")
      set(RANKPOOL_MPIEXEC_IS_OPENMPI ON CACHE INTERNAL "")
    else()
      set(RANKPOOL_MPIEXEC_IS_OPENMPI OFF CACHE INTERNAL "")
    endif()
  endif()
  set(${out} ${RANKPOOL_MPIEXEC_IS_OPENMPI} PARENT_SCOPE)
endfunction()

# rankpool_mpiexec_preflags(<out>): MPIEXEC_PREFLAGS and what the launcher needs for more
# processes than cores (CI has 2): Open MPI's --oversubscribe; MPICH's Hydra needs no flag.
function(rankpool_mpiexec_preflags out)
  set(flags ${MPIEXEC_PREFLAGS})
  rankpool_mpiexec_is_openmpi(openmpi)
  if(openmpi)
    list(APPEND flags --oversubscribe)
  endif()
  set(${out} ${flags} PARENT_SCOPE)
endfunction()

# The environment of every MPI test: Open MPI may run as root and oversubscribe, and its
# single-copy mechanism (CMA) is off, which containers forbid. odls_base_sigkill_timeout 0: when a
# rank exits non-zero, as every bad-input test's rank does, Open MPI's launcher otherwise waits a
# second or two before it kills the job (2.4 s against 0.4 s for a one-rank job, measured), time
# that about a hundred such tests per suite spend idle. MPICH ignores these variables and needs
# none of its own here.
set(RANKPOOL_MPI_TEST_ENV
    "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OMPI_MCA_btl_vader_single_copy_mechanism=none;OMPI_MCA_odls_base_sigkill_timeout=0")

# rankpool_add_mpi_test(<target> RANKS 1 2 4 5 [TIMEOUT s] [ARGS ...] [LABELS ...] [WRAPPER cmd...]
#                       [NAME name])
# One ctest per rank count, named <name>.<N>ranks (name: the target's, unless NAME gives another,
# for runs of one program with different ARGS), run through mpiexec with a timeout
# (a deadlock just hangs otherwise) and the launcher flags of rankpool_mpiexec_preflags. WRAPPER,
# when given, is put before mpiexec (tests/support/rerun_spawn_hang.sh for the spawn tests).
function(rankpool_add_mpi_test target)
  cmake_parse_arguments(arg "" "TIMEOUT;NAME" "RANKS;ARGS;LABELS;WRAPPER" ${ARGN})
  if(NOT arg_NAME)
    set(arg_NAME ${target})
  endif()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 120)
  endif()
  if(NOT arg_RANKS)
    set(arg_RANKS 1 2 4 5)
  endif()
  rankpool_mpiexec_preflags(preflags)
  foreach(n IN LISTS arg_RANKS)
    set(name ${arg_NAME}.${n}ranks)
    add_test(NAME ${name}
      COMMAND ${arg_WRAPPER} ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${n} ${preflags} $<TARGET_FILE:${target}>
              ${MPIEXEC_POSTFLAGS} ${arg_ARGS})
    set_tests_properties(${name} PROPERTIES TIMEOUT ${arg_TIMEOUT} PROCESSORS 1
      LABELS "mpi;${arg_LABELS}"
      ENVIRONMENT "${RANKPOOL_MPI_TEST_ENV}")
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
