// RANKPOOL_LOG=prefix: the workers' output lines, each after "[rank@host] " (see line_prefix.hpp).

#include "worker/line_prefix.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <rankpool/errors.hpp>

#include "common/fd_io.hpp"
#include "worker/output_capture.hpp"

namespace rankpool::detail {
namespace {

void close_all(std::initializer_list<int> fds) noexcept {
  for (int fd : fds)
    if (fd >= 0) ::close(fd);
}

}  // namespace

line_prefix::line_prefix(std::string prefix) : prefix_(std::move(prefix)) {
  int pipes[2][2] = {{-1, -1}, {-1, -1}};
  int targets[2] = {-1, -1};
  const bool made = ::pipe2(wake_, O_CLOEXEC) == 0 && ::pipe2(pipes[0], O_CLOEXEC) == 0 &&
                    ::pipe2(pipes[1], O_CLOEXEC) == 0 && (targets[0] = ::fcntl(1, F_DUPFD_CLOEXEC, 3)) >= 0 &&
                    (targets[1] = ::fcntl(2, F_DUPFD_CLOEXEC, 3)) >= 0;
  if (!made) {
    const int err = errno;
    close_all({wake_[0], wake_[1], pipes[0][0], pipes[0][1], pipes[1][0], pipes[1][1], targets[0], targets[1]});
    throw error(std::string("rankpool: cannot set up RANKPOOL_LOG=prefix: ") + std::strerror(err));
  }
  for (int i = 0; i < 2; ++i) streams_[i] = {i + 1, targets[i], pipes[i][0], {}};
  try {
    thread_ = std::thread([this] { pump(); });
  } catch (...) {
    close_all({wake_[0], wake_[1], pipes[0][0], pipes[0][1], pipes[1][0], pipes[1][1], targets[0], targets[1]});
    throw;
  }
  flush_standard_streams();
  // dup2 leaves 1 and 2 without close-on-exec: child processes of tasks write into the pipes too.
  for (int i = 0; i < 2; ++i) {
    ::dup2(pipes[i][1], i + 1);
    ::close(pipes[i][1]);
  }
}

line_prefix::~line_prefix() {
  flush_standard_streams();
  for (const stream& s : streams_) ::dup2(s.target, s.fd);
  const char bye = 0;
  (void)write_all(wake_[1], &bye, 1);
  thread_.join();
  for (const stream& s : streams_) close_all({s.target, s.from});
  close_all({wake_[0], wake_[1]});
}

void line_prefix::emit(stream& s, bool all) {
  std::string out;
  std::size_t begin = 0;
  while (true) {
    const auto nl = s.partial.find('\n', begin);
    if (nl == std::string::npos) break;
    // rankpool's own log lines name their rank already.
    if (s.partial.compare(begin, 9, "rankpool[") != 0) out += prefix_;
    out.append(s.partial, begin, nl + 1 - begin);
    begin = nl + 1;
  }
  if (all && begin < s.partial.size()) {
    out += prefix_;
    out.append(s.partial, begin);
    out += '\n';
    begin = s.partial.size();
  }
  s.partial.erase(0, begin);
  // One write per batch of lines: another process's lines cannot land inside one of them.
  // (A terminal that is gone: nothing better to do with the lines.)
  (void)write_all(s.target, out.data(), out.size());
}

void line_prefix::pump() {
  char buf[8192];
  bool stopping = false;
  bool open[2] = {true, true};  // a pipe whose writers all closed it is left out (poll skips -1)
  while (true) {
    pollfd p[3] = {{open[0] ? streams_[0].from : -1, POLLIN, 0},
                   {open[1] ? streams_[1].from : -1, POLLIN, 0},
                   {wake_[0], POLLIN, 0}};
    // Once told to stop, only what is already in the pipes is read (no waiting).
    const int r = ::poll(p, stopping ? 2 : 3, stopping ? 0 : -1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;  // stopping and nothing left (or poll failed)
    if (!stopping && (p[2].revents & POLLIN)) stopping = true;
    bool read_any = false;
    for (int i = 0; i < 2; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP))) continue;
      const ssize_t k = ::read(streams_[i].from, buf, sizeof buf);
      if (k > 0) {
        streams_[i].partial.append(buf, static_cast<std::size_t>(k));
        emit(streams_[i], false);
        read_any = true;
      } else if (k == 0) {
        open[i] = false;
      }
    }
    if (stopping && !read_any) break;
  }
  for (stream& s : streams_) emit(s, true);
}

}  // namespace rankpool::detail
