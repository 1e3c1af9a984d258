#pragma once
/// \file atomic_file.hpp
/// An output file that is either written whole or not at all, and whose creation is checked
/// before the work that fills it.
///
/// A long run that computes everything and only then finds that its output cannot be created
/// loses all of it; one killed while writing leaves a torn file under the final name. So the
/// file is created first, as a temporary in the destination's folder, and only a complete,
/// flushed and synced file is renamed over the destination (a rename within one file system is
/// atomic: readers see the old file or the new one, never a mixture).

#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace atomic_file {

/// A file that cannot be created, written or put in place (npy::error too, for reading).
/// `what()` is "<file>: <problem>", where <file> is the file as the caller named it.
class error : public std::runtime_error {
 public:
  /// Builds the error for `file` with the description `problem`.
  error(const std::string& file, const std::string& problem);
  /// The destination concerned, as given by the caller.
  const std::string& file() const noexcept { return file_; }
  /// What went wrong (the message without the file name).
  const std::string& problem() const noexcept { return problem_; }

 private:
  std::string file_;
  std::string problem_;
};

/// A file being written for `destination`. The constructor creates ".<name>.XXXXXX" in the
/// destination's folder, so that every reason the output could not be created (a missing or
/// read-only folder, no permission, a destination that is a directory) is found before any
/// computing; file() is where the contents go; commit() puts them in place. Until then an
/// existing destination is left as it is, and if commit() is never reached (an error, an
/// exception) the destructor removes the temporary file.
class atomic_output {
 public:
  /// Creates the temporary file for `destination`. Throws atomic_file::error naming the
  /// destination and the system's reason (strerror) when it cannot be created there.
  explicit atomic_output(const std::filesystem::path& destination);
  /// Removes the temporary file unless it was committed.
  ~atomic_output();
  atomic_output(const atomic_output&) = delete;
  atomic_output& operator=(const atomic_output&) = delete;

  /// The stream to write the contents to; null once committed.
  std::FILE* file() const noexcept { return file_; }
  /// The destination, as given to the constructor.
  const std::filesystem::path& destination() const noexcept { return destination_; }
  /// The temporary file's path (empty once committed).
  const std::filesystem::path& temporary() const noexcept { return temporary_; }

  /// Flushes, fsyncs and closes the file, renames it over the destination and fsyncs the folder,
  /// so that after a crash the destination is either the old file or all of the new one. Throws
  /// atomic_file::error when any step fails (a full disk shows up here); the temporary file is
  /// then removed and the destination left untouched.
  void commit();
  /// As commit(), but puts the file at `other` (in the same folder, e.g. "<destination>.partial")
  /// instead of the destination: to keep a valid prefix of an output that could not be finished.
  void commit_as(const std::filesystem::path& other);

 private:
  void discard() noexcept;

  std::filesystem::path destination_;
  std::filesystem::path target_;  // where the rename goes: the destination, or what it links to
  std::filesystem::path temporary_;
  std::FILE* file_ = nullptr;
};

}  // namespace atomic_file
