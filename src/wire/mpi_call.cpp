// The checked MPI call (see mpi_call.hpp): the error it throws, and the test hook that makes a
// chosen call fail.

#include "wire/mpi_call.hpp"

#include <mutex>
#include <rankpool/detail/log.hpp>
#include <rankpool/errors.hpp>

namespace rankpool::detail::mpi {
namespace {

struct injection {
  std::mutex m;
  std::string routine;
  int remaining = 0;
  int code = MPI_ERR_OTHER;
};

injection& armed_injection() {
  static injection i;
  return i;
}

}  // namespace

void raise(const char* routine, int rc) {
  // MPI_Error_class and MPI_Error_string are not checked: they are what a check would report
  // with, and MPI lets them run even after a failure (and before MPI_Init).
  int cls = MPI_ERR_UNKNOWN;
  if (MPI_Error_class(rc, &cls) != MPI_SUCCESS) cls = MPI_ERR_UNKNOWN;
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  std::string what = len > 0 ? std::string(text, static_cast<std::size_t>(len)) : "error code " + std::to_string(rc);
  throw mpi_error(routine, rc, cls, what);
}

void inject_failure(const std::string& routine, int nth, int code) {
  auto& i = armed_injection();
  std::lock_guard l(i.m);
  i.routine = routine;
  i.remaining = nth;
  i.code = code;
  injection_armed().store(nth > 0, std::memory_order_relaxed);
}

bool take_injected(const char* routine, int& code) {
  auto& i = armed_injection();
  std::lock_guard l(i.m);
  if (i.remaining <= 0 || i.routine != routine || --i.remaining > 0) return false;
  injection_armed().store(false, std::memory_order_relaxed);
  code = i.code;
  return true;
}

void warn_failed(const std::exception& e) noexcept {
  RANKPOOL_LOG(warn, "%s (during clean-up; ignored)", e.what());
}

int serialize_calls() {
  int level = MPI_THREAD_SINGLE;
  call("MPI_Query_thread", MPI_Query_thread, &level);
  if (level < MPI_THREAD_MULTIPLE && !gate().on.exchange(true))
    RANKPOOL_LOG(info, "MPI provides less than MPI_THREAD_MULTIPLE: rankpool's MPI calls go one at a time");
  return level;
}

void set_errors_return(MPI_Comm comm) {
  call("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler, comm, MPI_ERRORS_RETURN);
}

}  // namespace rankpool::detail::mpi
