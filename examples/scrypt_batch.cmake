# scrypt_batch: scrypt of many passwords over MPI ranks (see scrypt_batch.cpp), and its tests.
#
# This file has two modes. Included by examples/CMakeLists.txt, it defines the target and the
# tests. Run as `cmake -D... -P scrypt_batch.cmake -- <command...>`, it is the tests' checker: it
# runs the command and checks its exit status, its stdout and a piece of its stderr, which a bare
# add_test cannot do (WILL_FAIL would accept any failure, a crash included).

if(CMAKE_SCRIPT_MODE_FILE)
  # Checker. SB_STDIN: file fed to stdin (default /dev/null, so that nothing waits on a terminal).
  # SB_EXPECT_RC: exit status (default 0). SB_EXPECT_STDOUT_FILE: exact stdout, if given.
  # SB_EXPECT_STDOUT_SUBSTRING / SB_EXPECT_STDERR: a substring stdout / stderr must contain, if given.
  set(cmd)
  set(seen_separator FALSE)
  math(EXPR last "${CMAKE_ARGC} - 1")
  foreach(i RANGE ${last})
    if(seen_separator)
      list(APPEND cmd "${CMAKE_ARGV${i}}")
    elseif(CMAKE_ARGV${i} STREQUAL "--")
      set(seen_separator TRUE)
    endif()
  endforeach()
  if(NOT cmd)
    message(FATAL_ERROR "usage: cmake [-DSB_...=...] -P scrypt_batch.cmake -- <command> [args...]")
  endif()
  if(NOT DEFINED SB_STDIN)
    set(SB_STDIN /dev/null)
  endif()
  if(NOT DEFINED SB_EXPECT_RC)
    set(SB_EXPECT_RC 0)
  endif()
  execute_process(COMMAND ${cmd} INPUT_FILE "${SB_STDIN}" OUTPUT_VARIABLE out ERROR_VARIABLE err
                  RESULT_VARIABLE rc)
  set(problems)
  if(NOT rc STREQUAL SB_EXPECT_RC)
    list(APPEND problems "exit status '${rc}', expected ${SB_EXPECT_RC}")
  endif()
  if(DEFINED SB_EXPECT_STDOUT_FILE)
    file(READ "${SB_EXPECT_STDOUT_FILE}" expected_out)
    if(NOT out STREQUAL expected_out)
      list(APPEND problems "stdout differs; expected:\n${expected_out}")
    endif()
  endif()
  if(DEFINED SB_EXPECT_STDOUT_SUBSTRING)
    string(FIND "${out}" "${SB_EXPECT_STDOUT_SUBSTRING}" at)
    if(at EQUAL -1)
      list(APPEND problems "stdout lacks '${SB_EXPECT_STDOUT_SUBSTRING}'")
    endif()
  endif()
  if(DEFINED SB_EXPECT_STDERR)
    string(FIND "${err}" "${SB_EXPECT_STDERR}" at)
    if(at EQUAL -1)
      list(APPEND problems "stderr lacks '${SB_EXPECT_STDERR}'")
    endif()
  endif()
  list(JOIN cmd " " cmd_text)
  if(problems)
    list(JOIN problems "\n" problems_text)
    message(FATAL_ERROR "${cmd_text}\n${problems_text}\n--- stdout:\n${out}\n--- stderr:\n${err}")
  endif()
  message(STATUS "ok: ${cmd_text}\n--- stderr:\n${err}")
  return()
endif()

add_executable(scrypt_batch ${CMAKE_CURRENT_LIST_DIR}/scrypt_batch.cpp)
target_link_libraries(scrypt_batch PRIVATE rankpool rankpool_atomic_file OpenSSL::Crypto CLI11::CLI11)
rankpool_set_warnings(scrypt_batch)

if(NOT RANKPOOL_BUILD_TESTS)
  return()
endif()

# The top-level CMakeLists.txt calls enable_testing() only after add_subdirectory(examples), and
# CMake writes no CTestTestfile for a directory whose scope lacks it: without this call the tests
# below would silently never exist.
enable_testing()

# The same launcher flags and environment as cmake/RankpoolTesting.cmake.
include(RankpoolTesting)
rankpool_mpiexec_preflags(_sb_preflags)
set(_sb_env "${RANKPOOL_MPI_TEST_ENV}")
set(_sb_dir ${CMAKE_CURRENT_BINARY_DIR}/scrypt_batch_tests)
set(_sb_checker ${CMAKE_CURRENT_LIST_FILE})

# _sb_add_test(<name> RANKS n [STDIN file] [RC status] [STDOUT_FILE file] [STDOUT text] [STDERR text]
#              [TIMEOUT s] ARGS scrypt_batch-arguments...)
function(_sb_add_test name)
  cmake_parse_arguments(arg "" "RANKS;STDIN;RC;STDOUT_FILE;STDOUT;STDERR;TIMEOUT" "ARGS" ${ARGN})
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 60)
  endif()
  set(defs)
  if(DEFINED arg_STDIN)
    list(APPEND defs "-DSB_STDIN=${arg_STDIN}")
  endif()
  if(DEFINED arg_RC)
    list(APPEND defs "-DSB_EXPECT_RC=${arg_RC}")
  endif()
  if(DEFINED arg_STDOUT_FILE)
    list(APPEND defs "-DSB_EXPECT_STDOUT_FILE=${arg_STDOUT_FILE}")
  endif()
  if(DEFINED arg_STDOUT)
    list(APPEND defs "-DSB_EXPECT_STDOUT_SUBSTRING=${arg_STDOUT}")
  endif()
  if(DEFINED arg_STDERR)
    list(APPEND defs "-DSB_EXPECT_STDERR=${arg_STDERR}")
  endif()
  add_test(NAME ${name}
    COMMAND ${CMAKE_COMMAND} ${defs} -P ${_sb_checker} --
            ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${arg_RANKS} ${_sb_preflags} $<TARGET_FILE:scrypt_batch>
            ${MPIEXEC_POSTFLAGS} ${arg_ARGS})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${arg_TIMEOUT} PROCESSORS 1 LABELS "mpi;scrypt_batch"
    ENVIRONMENT "${_sb_env}")
endfunction()

# In one process on a thread_executor (scrypt_batch.cpp included with SCRYPT_BATCH_NO_MAIN): -o
# when a hash fails after others succeeded, which needs a task that fails on a chosen line.
find_package(GTest REQUIRED)
include(RankpoolTesting)
add_executable(scrypt_batch_test ${PROJECT_SOURCE_DIR}/tests/examples/scrypt_batch_test.cpp)
target_include_directories(scrypt_batch_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(scrypt_batch_test PRIVATE rankpool rankpool_atomic_file OpenSSL::Crypto CLI11::CLI11
                      GTest::gtest GTest::gtest_main)
rankpool_set_warnings(scrypt_batch_test)
rankpool_add_unit_test(scrypt_batch_test TIMEOUT 60)

# (a) RFC 7914 section 12 vectors (dkLen 64; the N=1048576 one is left out as too slow). The
# inputs also exercise the line rules: an empty line, a CRLF ending, a last line without "\n".
file(WRITE ${_sb_dir}/rfc1.in "\n")
file(WRITE ${_sb_dir}/rfc1.out
  "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906\n")
file(WRITE ${_sb_dir}/rfc2.in "password\r\n")
file(WRITE ${_sb_dir}/rfc2.out
  "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640\n")
file(WRITE ${_sb_dir}/rfc3.in "pleaseletmein")
file(WRITE ${_sb_dir}/rfc3.out
  "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887\n")
file(WRITE ${_sb_dir}/empty "")
foreach(n 1 2 4)
  _sb_add_test(scrypt_batch.rfc7914_1.${n}ranks RANKS ${n} STDIN ${_sb_dir}/rfc1.in STDOUT_FILE ${_sb_dir}/rfc1.out
    ARGS -n 16 -r 1 -p 1)
  _sb_add_test(scrypt_batch.rfc7914_2.${n}ranks RANKS ${n} STDOUT_FILE ${_sb_dir}/rfc2.out
    ARGS -n 1024 -r 8 -p 16 --salt NaCl --dklen 64 ${_sb_dir}/rfc2.in)
  _sb_add_test(scrypt_batch.rfc7914_3.${n}ranks RANKS ${n} STDIN ${_sb_dir}/rfc3.in STDOUT_FILE ${_sb_dir}/rfc3.out
    ARGS --salt-hex 536f6469756d43686c6f72696465 -)
endforeach()
_sb_add_test(scrypt_batch.empty_input RANKS 2 STDIN ${_sb_dir}/empty STDOUT_FILE ${_sb_dir}/empty ARGS -n 16 -r 1)
_sb_add_test(scrypt_batch.help RANKS 2 STDOUT "usage: scrypt_batch" ARGS --help)

# A hash that fails inside its task (OpenSSL cannot allocate 8 EiB) is reported with OpenSSL's
# message and exit status 1, whether it ran locally (one rank) or on a worker.
foreach(n 1 3)
  _sb_add_test(scrypt_batch.task_failure.${n}ranks RANKS ${n} STDIN ${_sb_dir}/rfc1.in RC 1
    STDOUT_FILE ${_sb_dir}/empty STDERR "scrypt_batch: input line 1: EVP_PBE_scrypt failed: "
    ARGS -n 18014398509481984 -r 4 --maxmem 18446744073709551615)
endforeach()

# (b) Random passwords against Python's hashlib.scrypt, computed at test time.
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  set(_sb_launch --mpiexec=${MPIEXEC_EXECUTABLE} --numproc-flag=${MPIEXEC_NUMPROC_FLAG} --exe=$<TARGET_FILE:scrypt_batch>)
  foreach(f IN LISTS _sb_preflags)
    list(APPEND _sb_launch --preflag=${f})
  endforeach()
  foreach(f IN LISTS MPIEXEC_POSTFLAGS)
    list(APPEND _sb_launch --postflag=${f})
  endforeach()
  set(_sb_variants
    "defaults|--ranks=3"
    "salt_utf8|--ranks=3|--salt=sel de mer ü|--n=1024|--r=8|--p=1|--chunksize=3|--stdin"
    "salt_hex|--ranks=3|--salt-hex=00ff10Ab|--n=16|--r=3|--p=2|--dklen=37|--chunksize=5"
    "dklen_1|--ranks=3|--salt=x|--n=2|--r=1|--p=3|--dklen=1|--stdin")
  foreach(v IN LISTS _sb_variants)
    string(REPLACE "|" ";" v "${v}")
    list(POP_FRONT v vname)
    add_test(NAME scrypt_batch.hashlib_${vname}
      COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/examples/scrypt_check.py ${_sb_launch} ${v})
    set_tests_properties(scrypt_batch.hashlib_${vname} PROPERTIES TIMEOUT 180 PROCESSORS 1 SKIP_RETURN_CODE 77
      LABELS "mpi;scrypt_batch" ENVIRONMENT "${_sb_env}")
  endforeach()

  # -o FILE; the cases specific to scrypt_batch there: the file holds exactly what stdout would,
  # and a failed hash leaves an existing file untouched.
  rankpool_output_file_test(scrypt_batch ${Python3_EXECUTABLE} "${_sb_preflags}" "${_sb_env}")
else()
  message(STATUS "scrypt_batch: no python3 found; the comparison with hashlib.scrypt is not tested")
endif()

# (c) Refused parameters: exit status 2, nothing on stdout, and the message on stderr. Run on two
# ranks, so that a refusal on the root must still release the worker.
set(_sb_bad
  "n_not_power_of_two|-n must be a power of two greater than 1 (got 1000)|-n|1000"
  "n_one|-n must be a power of two greater than 1 (got 1)|-n1"
  "n_too_big_for_r|-n must be below 2^(16*r) = 65536|-n|65536|-r|1"
  "r_zero|-r must be at least 1|-r|0"
  "p_zero|-p must be at least 1|-p=0"
  "rp_too_big|-r times -p must be below 2^30|-r|32768|-p|32768"
  "dklen_zero|--dklen must be at least 1|--dklen|0"
  "dklen_huge|--dklen must be at most 1048576|--dklen=1048577"
  "maxmem|scrypt with n=16384, r=8, p=1 needs 16780288 bytes of memory per hash, above --maxmem 16000000|--maxmem|16000000"
  "maxmem_default|scrypt with n=2097152, r=8, p=1 needs 2147486720 bytes of memory per hash, above the default maxmem of 2147483648 bytes|-n|2097152"
  "not_a_number|option -n: '16k' is not a non-negative integer|-n|16k"
  "bad_hex_salt|--salt-hex: 'zz' is not hex|--salt-hex|zz"
  "odd_hex_salt|--salt-hex: odd number of hex digits|--salt-hex=abc"
  "two_salts|give either --salt or --salt-hex, not both|--salt|a|--salt-hex|61"
  "missing_value|option -n needs a value|-n"
  "empty_output|option -o needs a file name|-o="
  "output_in_missing_folder|${_sb_dir}/no-such-folder/out: cannot create the output file in '${_sb_dir}/no-such-folder': No such file or directory|-o|${_sb_dir}/no-such-folder/out"
  "missing_file|cannot open input file '${_sb_dir}/no-such-file': No such file or directory|${_sb_dir}/no-such-file"
  "directory_input|cannot read input file '${_sb_dir}': Is a directory|${_sb_dir}"
  "two_files|more than one input file|${_sb_dir}/rfc1.in|${_sb_dir}/rfc2.in"
  "unknown_option|unknown option '--bogus'|--bogus"
  "unknown_short_option|unknown option '-x'|-x")
foreach(t IN LISTS _sb_bad)
  string(REPLACE "|" ";" t "${t}")
  list(POP_FRONT t tname tmessage)
  _sb_add_test(scrypt_batch.refuses_${tname} RANKS 2 STDIN ${_sb_dir}/rfc1.in RC 2 STDOUT_FILE ${_sb_dir}/empty
    STDERR "scrypt_batch: ${tmessage}" ARGS ${t})
endforeach()
