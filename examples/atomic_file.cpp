#include "atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>

namespace atomic_file {

namespace fs = std::filesystem;

error::error(const std::string& file, const std::string& problem)
    : std::runtime_error(file + ": " + problem), file_(file), problem_(problem) {}

namespace {

std::string reason(int e) {
  return std::strerror(e);
}

// Six letters and digits, as mkstemp uses. mkstemp itself is not used because it creates the
// file with mode 0600, where the output has always been created as fopen does (0666 less the
// umask); open(O_EXCL) with a name of our own keeps that.
std::string random_suffix(std::random_device& rd) {
  static constexpr char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string s(6, '\0');
  for (char& c : s) c = letters[rd() % (sizeof letters - 1)];
  return s;
}

}  // namespace

atomic_output::atomic_output(const fs::path& destination) : destination_(destination) {
  const std::string name = destination.string();
  if (name.empty()) throw error(name, "the output file name is empty");
  if (!destination.has_filename()) throw error(name, "cannot create the output file: " + reason(EISDIR));

  // Through a symbolic link the output has always gone to the file it points to; renaming over
  // the link itself would replace the link instead.
  std::error_code ec;
  target_ = fs::is_symlink(destination, ec) ? fs::weakly_canonical(destination, ec) : destination;
  if (ec || target_.empty()) target_ = destination;

  // A destination that exists must be one the run could have written: a directory would only
  // fail at the rename, after all the computing, and a read-only file is kept read-only.
  struct stat st {};
  bool keep_mode = false;
  if (::stat(target_.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw error(name, "cannot create the output file: " + reason(EISDIR));
    if (::access(target_.c_str(), W_OK) != 0) throw error(name, "cannot write the output file: " + reason(errno));
    keep_mode = S_ISREG(st.st_mode);
  }

  // In the destination's folder, so that the rename stays within one file system (and is atomic).
  const fs::path folder = target_.has_parent_path() ? target_.parent_path() : fs::path(".");
  std::random_device rd;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temporary_ = folder / ("." + target_.filename().string() + "." + random_suffix(rd));
    fd = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    const int e = errno;
    temporary_.clear();
    throw error(name, "cannot create the output file in '" + folder.string() + "': " + reason(e));
  }
  // Rewriting an existing file used to keep its permissions; so does replacing it. Best effort:
  // a file we may write but not chmod simply gets the default mode.
  if (keep_mode) (void)::fchmod(fd, st.st_mode & 07777);
  file_ = ::fdopen(fd, "wb");
  if (!file_) {
    const int e = errno;
    ::close(fd);
    discard();
    throw error(name, "cannot create the output file: " + reason(e));
  }
}

atomic_output::~atomic_output() {
  discard();
}

void atomic_output::discard() noexcept {
  if (file_) std::fclose(file_);
  file_ = nullptr;
  if (!temporary_.empty()) ::unlink(temporary_.c_str());
  temporary_.clear();
}

void atomic_output::commit() {
  commit_as(target_);
}

void atomic_output::commit_as(const fs::path& other) {
  // Errors name what the caller asked for: the destination, or the other name given.
  const std::string name = other == target_ ? destination_.string() : other.string();
  if (!file_) throw std::logic_error(name + ": atomic_output committed twice");

  // fflush hands the data to the kernel; fsync makes it durable before the rename makes it
  // visible, or a crash could leave a complete-looking name over an empty file.
  errno = 0;
  bool ok = std::fflush(file_) == 0 && std::ferror(file_) == 0;
  int e = errno;
  if (ok && ::fsync(::fileno(file_)) != 0) {
    ok = false;
    e = errno;
  }
  const bool closed = std::fclose(file_) == 0;
  if (ok && !closed) e = errno;
  file_ = nullptr;
  if (!ok || !closed) {
    discard();
    throw error(name, "cannot write the output file: " + reason(e != 0 ? e : EIO));
  }
  if (std::rename(temporary_.c_str(), other.c_str()) != 0) {
    e = errno;
    const std::string from = temporary_.string();
    discard();
    throw error(name, "cannot put the output file in place (rename from '" + from + "'): " + reason(e));
  }
  temporary_.clear();

  // The rename is durable only once the folder is synced. It has happened either way, so a
  // failure here (some file systems refuse fsync on a directory) is no reason to report the
  // output as lost.
  const fs::path folder = other.has_parent_path() ? other.parent_path() : fs::path(".");
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
}

}  // namespace atomic_file
