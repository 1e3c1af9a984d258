// Capturing a task's output at the file descriptors (see output_capture.hpp).

#include "worker/output_capture.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <rankpool/errors.hpp>

namespace rankpool::detail {

void flush_standard_streams() noexcept {
  try {
    std::cout.flush();
    std::cerr.flush();
    std::clog.flush();
  } catch (...) {  // a stream set to throw: what it held is lost, the task's result is not
  }
  std::fflush(nullptr);
}

namespace {
// dup2 retried on EINTR; a failure leaves the descriptor as it was, which only misplaces output.
void point(int from, int to) noexcept {
  while (::dup2(from, to) < 0 && errno == EINTR) {
  }
}
}  // namespace

output_capture::output_capture() {
  // O_APPEND: after the file is emptied, the next write lands at its start whatever offset the
  // descriptors (shared with a child process) last had.
  file_ = ::memfd_create("rankpool-task-output", MFD_CLOEXEC);
  if (file_ < 0) throw error(std::string("rankpool: cannot make a file to capture output: ") + std::strerror(errno));
  ::fcntl(file_, F_SETFL, ::fcntl(file_, F_GETFL) | O_APPEND);
}

output_capture::~output_capture() {
  if (saved_out_ >= 0) end();
  ::close(file_);
}

void output_capture::begin() {
  flush_standard_streams();
  clear();
  saved_out_ = ::dup(STDOUT_FILENO);
  saved_err_ = ::dup(STDERR_FILENO);
  point(file_, STDOUT_FILENO);
  point(file_, STDERR_FILENO);
}

std::string output_capture::end() {
  flush_standard_streams();
  if (saved_out_ >= 0) {
    point(saved_out_, STDOUT_FILENO);
    ::close(saved_out_);
  }
  if (saved_err_ >= 0) {
    point(saved_err_, STDERR_FILENO);
    ::close(saved_err_);
  }
  saved_out_ = saved_err_ = -1;
  return take();
}

void output_capture::redirect_for_good() const noexcept {
  point(file_, STDOUT_FILENO);
  point(file_, STDERR_FILENO);
}

std::string output_capture::take() {
  struct stat st {};
  std::string text;
  if (::fstat(file_, &st) == 0 && st.st_size > 0) {
    const auto size = static_cast<std::size_t>(st.st_size);
    const std::size_t keep = size > max_captured_output ? max_captured_output : size;
    if (keep < size) text = "[rankpool: the first " + std::to_string(size - keep) + " bytes of output were dropped]\n";
    const std::size_t head = text.size();
    text.resize(head + keep);
    std::size_t got = 0;
    while (got < keep) {
      const auto k = ::pread(file_, text.data() + head + got, keep - got, static_cast<off_t>(size - keep + got));
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) break;
      got += static_cast<std::size_t>(k);
    }
    text.resize(head + got);
  }
  clear();
  return text;
}

void output_capture::clear() noexcept {
  (void)::ftruncate(file_, 0);
}

}  // namespace rankpool::detail
