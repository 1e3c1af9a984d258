# svd_batch: singular values of a (K, M, N) stack of matrices over MPI ranks, and the .npy
# reader/writer it uses. Included by examples/CMakeLists.txt.

add_library(rankpool_npy STATIC ${CMAKE_CURRENT_LIST_DIR}/npy.cpp)
target_include_directories(rankpool_npy PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_compile_features(rankpool_npy PUBLIC cxx_std_20)
target_link_libraries(rankpool_npy PUBLIC rankpool_atomic_file)
rankpool_set_warnings(rankpool_npy)

# HDF5 datasets (stack.h5:/data), through Debian's parallel HDF5 built against Open MPI. Linked
# into a program built against another MPI it would bring a second MPI along: the mpich preset
# turns RANKPOOL_WITH_HDF5 off, and svd_batch then refuses HDF5 names with a clear message.
add_library(rankpool_h5 STATIC ${CMAKE_CURRENT_LIST_DIR}/h5.cpp)
target_include_directories(rankpool_h5 PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(rankpool_h5 PUBLIC rankpool_atomic_file)
rankpool_set_warnings(rankpool_h5)
if(RANKPOOL_WITH_HDF5)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(RANKPOOL_HDF5 REQUIRED IMPORTED_TARGET hdf5-openmpi)
  target_link_libraries(rankpool_h5 PRIVATE PkgConfig::RANKPOOL_HDF5 MPI::MPI_CXX)
  target_compile_definitions(rankpool_h5 PRIVATE RANKPOOL_WITH_HDF5)
endif()

add_executable(svd_batch ${CMAKE_CURRENT_LIST_DIR}/svd_batch.cpp)
target_link_libraries(svd_batch PRIVATE rankpool rankpool_npy rankpool_h5 CLI11::CLI11)
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

  # Rank 0 holds the stack once: its growth over what it held before the input stays within
  # 1.1 x the input, for a generated stack and for an .npy file (memory-mapped, then copied into
  # the window), at 3 ranks. No NumPy needed. Label memory: the asan preset leaves it out (the
  # sanitizer's own shadow and quarantine are resident memory too).
  add_test(NAME svd_batch.memory.3ranks
    COMMAND ${RANKPOOL_PYTHON} ${PROJECT_SOURCE_DIR}/tests/examples/svd_memory_check.py --count 800
            --workdir ${svd_batch_data}/memory --
            ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 3 ${svd_batch_preflags} $<TARGET_FILE:svd_batch>
            ${MPIEXEC_POSTFLAGS})
  set_tests_properties(svd_batch.memory.3ranks PROPERTIES TIMEOUT 120 PROCESSORS 1 LABELS "mpi;memory"
    ENVIRONMENT "${svd_batch_env}")

  # svd_batch leaves ranks beyond the cores idle (executor_options::fit_cores, tested in
  # mpi_executor_test); RANKPOOL_FIT_CORES=0 puts every rank to work, with the same results.
  add_test(NAME svd_batch.every_rank.5ranks
    COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 5 ${svd_batch_preflags} $<TARGET_FILE:svd_batch>
            ${MPIEXEC_POSTFLAGS} --check --count 60 --rows 40 --cols 7 --seed 3 --chunksize 4 --no-progress)
  set_tests_properties(svd_batch.every_rank.5ranks PROPERTIES TIMEOUT 120 PROCESSORS 1 LABELS mpi
    ENVIRONMENT "${svd_batch_env};RANKPOOL_FIT_CORES=0"
    PASS_REGULAR_EXPRESSION "workers: +4 on 5 MPI ranks(.|\n)*check: +passed")

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

  # HDF5 datasets: against h5py and NumPy (tests/examples/svd_h5_check.py), and bad names and
  # files, which h5py writes (the fixture below).
  execute_process(COMMAND ${RANKPOOL_PYTHON} -c "import h5py, numpy" RESULT_VARIABLE svd_batch_h5py_rc
                  OUTPUT_QUIET ERROR_QUIET)
  svd_batch_bad_input_test(h5_without_dataset "stack.h5: an HDF5 file: name the dataset too" stack.h5)
  svd_batch_bad_input_test(h5_output_without_dataset "out.h5: an HDF5 file: name the dataset too" --count 2 -o
                           out.h5)
  if(NOT RANKPOOL_WITH_HDF5)
    svd_batch_bad_input_test(h5_not_built "this svd_batch was built without HDF5" ${d}/good.h5:/data/stack)
  elseif(svd_batch_h5py_rc EQUAL 0)
    add_test(NAME svd_batch.hdf5
      COMMAND ${RANKPOOL_PYTHON} ${PROJECT_SOURCE_DIR}/tests/examples/svd_h5_check.py --workdir ${svd_batch_data}/hdf5
              -- ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 3 ${svd_batch_preflags} $<TARGET_FILE:svd_batch>
              ${MPIEXEC_POSTFLAGS})
    set_tests_properties(svd_batch.hdf5 PROPERTIES TIMEOUT 180 PROCESSORS 1 LABELS "mpi;hdf5"
      ENVIRONMENT "${svd_batch_env}" PASS_REGULAR_EXPRESSION "svd_h5_check: all HDF5 checks passed"
      FAIL_REGULAR_EXPRESSION "FAILED")
    add_test(NAME svd_batch.bad.h5_fixtures
      COMMAND ${RANKPOOL_PYTHON} ${PROJECT_SOURCE_DIR}/tests/examples/svd_h5_check.py --write-fixtures ${d})
    set_tests_properties(svd_batch.bad.h5_fixtures PROPERTIES TIMEOUT 30 FIXTURES_SETUP svd_batch_bad_files)
    svd_batch_bad_input_test(h5_missing_file "missing.h5: No such file or directory" ${d}/missing.h5:/x)
    svd_batch_bad_input_test(h5_not_hdf5 "notes.h5: not an HDF5 file" ${d}/notes.h5:/x)
    svd_batch_bad_input_test(h5_no_dataset "good.h5:/nothing: no such dataset in the file" ${d}/good.h5:/nothing)
    svd_batch_bad_input_test(h5_missing_group "good.h5:/no/such: no such dataset" ${d}/good.h5:/no/such)
    svd_batch_bad_input_test(h5_group "good.h5:/data: not a dataset" ${d}/good.h5:/data)
    svd_batch_bad_input_test(h5_two_dimensional "good.h5:/matrix: has 2 dimensions" ${d}/good.h5:/matrix)
    svd_batch_bad_input_test(h5_integers "good.h5:/ints: holds integer values" ${d}/good.h5:/ints)
    svd_batch_bad_input_test(h5_zero_columns "good.h5:/empty_cols: holds matrices of 3 x 0" ${d}/good.h5:/empty_cols)
    svd_batch_bad_input_test(h5_output_is_input "would replace the input file" ${d}/good.h5:/data/stack -o
                             ${d}/good.h5:/sv)
  else()
    message(STATUS "svd_batch: ${RANKPOOL_PYTHON} with h5py not found; the HDF5 checks are disabled")
  endif()
endif()
