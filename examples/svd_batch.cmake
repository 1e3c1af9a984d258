# svd_batch: singular values of a (K, M, N) stack of matrices over MPI ranks, and the .npy
# reader/writer it uses. Included by examples/CMakeLists.txt.

add_library(rankpool_npy STATIC ${CMAKE_CURRENT_LIST_DIR}/npy.cpp)
target_include_directories(rankpool_npy PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_compile_features(rankpool_npy PUBLIC cxx_std_20)
target_link_libraries(rankpool_npy PUBLIC rankpool_atomic_file)
rankpool_set_warnings(rankpool_npy)

add_executable(svd_batch ${CMAKE_CURRENT_LIST_DIR}/svd_batch.cpp)
target_link_libraries(svd_batch PRIVATE rankpool rankpool_npy)
rankpool_set_warnings(svd_batch)

if(RANKPOOL_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(RankpoolTesting)

  set(RANKPOOL_PYTHON /usr/bin/python3 CACHE FILEPATH "Python interpreter with NumPy for svd_batch's cross-checks")
  execute_process(COMMAND ${RANKPOOL_PYTHON} -c "import numpy" RESULT_VARIABLE svd_batch_numpy_rc
                  OUTPUT_QUIET ERROR_QUIET)

  # The reader/writer on its own. Its main also writes the malformed files the tests below feed
  # to svd_batch (npy_test --write-fixtures DIR), so both test the very same broken files.
  add_executable(npy_test ${PROJECT_SOURCE_DIR}/tests/examples/npy_test.cpp)
  target_link_libraries(npy_test PRIVATE rankpool_npy GTest::gtest)
  target_compile_definitions(npy_test PRIVATE RANKPOOL_PYTHON="${RANKPOOL_PYTHON}")
  rankpool_set_warnings(npy_test)
  rankpool_add_unit_test(npy_test)

  # Parallel against serial, bit for bit, at several rank counts (svd_batch.<N>ranks).
  rankpool_add_mpi_test(svd_batch RANKS 1 2 4 5 TIMEOUT 120
    ARGS --check --count 60 --rows 40 --cols 7 --seed 3 --chunksize 4)

  # The same launcher line and environment as rankpool_add_mpi_test uses.
  rankpool_mpiexec_preflags(svd_batch_preflags)
  set(svd_batch_env "${RANKPOOL_MPI_TEST_ENV}")
  set(svd_batch_data ${CMAKE_CURRENT_BINARY_DIR}/svd_batch_tests)

  # Against NumPy's LAPACK SVD, tall and wide matrices, at 4 ranks.
  foreach(case "tall 150 60 8" "wide 40 5 9")
    string(REPLACE " " ";" case "${case}")
    list(GET case 0 kind)
    list(SUBLIST case 1 3 shape)
    set(name svd_batch.numpy_${kind})
    if(svd_batch_numpy_rc EQUAL 0)
      add_test(NAME ${name}
        COMMAND ${RANKPOOL_PYTHON} ${PROJECT_SOURCE_DIR}/tests/examples/svd_check.py --shape ${shape} --seed 11
                --workdir ${svd_batch_data}/numpy_${kind} --
                ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 4 ${svd_batch_preflags} $<TARGET_FILE:svd_batch>
                ${MPIEXEC_POSTFLAGS})
      set_tests_properties(${name} PROPERTIES TIMEOUT 120 PROCESSORS 1 LABELS "mpi;numpy"
        ENVIRONMENT "${svd_batch_env}")
    else()
      add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E true)
      set_tests_properties(${name} PROPERTIES DISABLED TRUE)
    endif()
  endforeach()
  if(NOT svd_batch_numpy_rc EQUAL 0)
    message(STATUS "svd_batch: ${RANKPOOL_PYTHON} with NumPy not found; the NumPy cross-checks are disabled")
  endif()

  # The output file (-o): created before computing, put in place atomically (examples/CMakeLists.txt).
  rankpool_output_file_test(svd_batch ${RANKPOOL_PYTHON} "${svd_batch_preflags}" "${svd_batch_env}")

  # Bad input: svd_batch must exit with status 2 and one line "svd_batch: <what is wrong>",
  # never crash. The expectation is a set of literal fragments separated by '|' that must all
  # appear, the first on a line starting with "svd_batch: ".
  set(svd_batch_expect ${CMAKE_CURRENT_BINARY_DIR}/svd_batch_expect.cmake)
  file(WRITE ${svd_batch_expect} [==[
string(REPLACE "|" ";" command "${COMMAND}")
string(REPLACE "|" ";" fragments "${EXPECT}")
execute_process(COMMAND ${command} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("exit status: ${status}\n--- stdout\n${out}--- stderr\n${err}---")
if(NOT status STREQUAL STATUS)
  message(FATAL_ERROR "expected exit status ${STATUS}, got '${status}'")
endif()
if(err MATCHES "terminate called|uncaught|Segmentation|core dumped|Aborted|signal")
  message(FATAL_ERROR "svd_batch crashed instead of reporting the error")
endif()
set(first TRUE)
foreach(fragment IN LISTS fragments)
  string(FIND "${err}" "${fragment}" at)
  if(at LESS 0)
    message(FATAL_ERROR "stderr lacks the expected text: ${fragment}")
  endif()
  if(first)
    string(SUBSTRING "${err}" 0 ${at} before)
    string(FIND "${before}" "\n" newline REVERSE)
    math(EXPR start "${newline} + 1")
    string(SUBSTRING "${err}" ${start} 11 prefix)
    if(NOT prefix STREQUAL "svd_batch: ")
      message(FATAL_ERROR "the message is not on a line starting with 'svd_batch: '")
    endif()
    set(first FALSE)
  endif()
endforeach()
]==])

  add_test(NAME svd_batch.bad.fixtures COMMAND npy_test --write-fixtures ${svd_batch_data}/bad)
  set_tests_properties(svd_batch.bad.fixtures PROPERTIES TIMEOUT 30 FIXTURES_SETUP svd_batch_bad_files)

  function(svd_batch_bad_input_test name expect)
    string(JOIN "|" command ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 1 ${svd_batch_preflags}
           $<TARGET_FILE:svd_batch> ${MPIEXEC_POSTFLAGS} ${ARGN})
    add_test(NAME svd_batch.bad.${name}
      COMMAND ${CMAKE_COMMAND} -DCOMMAND=${command} -DSTATUS=2 -DEXPECT=${expect} -P ${svd_batch_expect})
    set_tests_properties(svd_batch.bad.${name} PROPERTIES TIMEOUT 60 PROCESSORS 1 LABELS "mpi;bad-input"
      ENVIRONMENT "${svd_batch_env}" FIXTURES_REQUIRED svd_batch_bad_files)
  endfunction()

  set(d ${svd_batch_data}/bad)
  svd_batch_bad_input_test(missing_file "missing.npy: cannot open file: No such file or directory" ${d}/missing.npy)
  svd_batch_bad_input_test(bad_magic "bad_magic.npy: not a NumPy .npy file: bad magic" ${d}/bad_magic.npy)
  svd_batch_bad_input_test(float32 "float32.npy: dtype '<f4' (float32) found|float64 ('<f8') is required"
    ${d}/float32.npy)
  svd_batch_bad_input_test(fortran_order "fortran.npy: fortran_order is True|C-order data is required"
    ${d}/fortran.npy)
  svd_batch_bad_input_test(two_dimensional
    "matrix2d.npy: shape (4, 5) has 2 dimensions|a 3-D stack of matrices of shape (K, M, N) is required"
    ${d}/matrix2d.npy)
  svd_batch_bad_input_test(truncated_data
    "truncated.npy: truncated data: shape (2, 3, 4) of float64 needs 192 bytes of data but the file holds only 100"
    ${d}/truncated.npy)
  svd_batch_bad_input_test(zero_dimension "zero.npy: shape (3, 0, 2) has a zero dimension" ${d}/zero.npy)
  svd_batch_bad_input_test(non_finite "nonfinite.npy: matrix 1 holds a non-finite value" ${d}/nonfinite.npy)
  svd_batch_bad_input_test(unknown_option "unknown option '--frobnicate' (try --help)" --frobnicate)
  svd_batch_bad_input_test(bad_number "--count: 'ten' is not a positive integer" --count ten)
  svd_batch_bad_input_test(missing_value "option --chunksize needs a value" --chunksize)
  svd_batch_bad_input_test(input_and_generator "cannot be used with an input file" ${d}/float32.npy --count 5)
endif()
