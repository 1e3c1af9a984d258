# Sanitizer builds (presets asan and tsan): included right after project() through
# CMAKE_PROJECT_INCLUDE, so the project's own CMakeLists.txt need not know about it.
#
# Builds sanitizers/defaults.cpp.in, with the suppression files of sanitizers/ pasted in, into
# one object that every executable links (CMAKE_EXE_LINKER_FLAGS): the sanitizer settings then
# travel with the binaries. That matters for MPI ranks started on another host, which Open MPI
# starts without the caller's environment (and it cannot forward a value containing '=', as
# every *SAN_OPTIONS value does), and it makes a test binary run by hand behave as under ctest.
#
# RANKPOOL_SANITIZER_DEFAULTS_OBJECT is set to the object's path (the asan test preset passes it
# to the package tests' consumer builds through LDFLAGS).

# Normalized: configure_file lists its input among the files that re-run CMake as well, and Ninja
# refuses one file named in two spellings ("cmake/../sanitizers" and "sanitizers").
cmake_path(SET _rp_san_dir NORMALIZE "${CMAKE_CURRENT_LIST_DIR}/../sanitizers")
file(READ ${_rp_san_dir}/lsan.supp RANKPOOL_LSAN_SUPPRESSIONS)
file(READ ${_rp_san_dir}/tsan.supp RANKPOOL_TSAN_SUPPRESSIONS)
set(_rp_san_src ${CMAKE_BINARY_DIR}/rankpool_sanitizer_defaults.cpp)
set(RANKPOOL_SANITIZER_DEFAULTS_OBJECT ${CMAKE_BINARY_DIR}/rankpool_sanitizer_defaults.o)
configure_file(${_rp_san_dir}/defaults.cpp.in ${_rp_san_src} @ONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${_rp_san_dir}/defaults.cpp.in ${_rp_san_dir}/lsan.supp ${_rp_san_dir}/tsan.supp)

# Compiled now, with the build's own flags (which select the sanitizer, hence the functions).
# The linked copy's name carries a hash of the source: an edited suppression file changes the
# link line, so every executable relinks (a plain object in the linker flags is no dependency).
separate_arguments(_rp_san_flags UNIX_COMMAND "${CMAKE_CXX_FLAGS}")
execute_process(
  COMMAND ${CMAKE_CXX_COMPILER} ${_rp_san_flags} -c ${_rp_san_src} -o ${RANKPOOL_SANITIZER_DEFAULTS_OBJECT}
  RESULT_VARIABLE _rp_san_rc ERROR_VARIABLE _rp_san_err)
if(NOT _rp_san_rc EQUAL 0)
  message(FATAL_ERROR "rankpool: cannot compile the sanitizer defaults:\n${_rp_san_err}")
endif()
file(MD5 ${_rp_san_src} _rp_san_hash)
string(SUBSTRING ${_rp_san_hash} 0 12 _rp_san_hash)
set(_rp_san_linked ${CMAKE_BINARY_DIR}/rankpool_sanitizer_defaults-${_rp_san_hash}.o)
file(COPY_FILE ${RANKPOOL_SANITIZER_DEFAULTS_OBJECT} ${_rp_san_linked} ONLY_IF_DIFFERENT)
string(APPEND CMAKE_EXE_LINKER_FLAGS " ${_rp_san_linked}")
message(STATUS "rankpool: sanitizer defaults linked into every executable (${_rp_san_linked})")
