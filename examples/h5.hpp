#pragma once
/// \file h5.hpp
/// HDF5 datasets for svd_batch: a stack of matrices read from `file.h5:/dataset`, singular
/// values written to one. HDF5 is where such stacks live on clusters; the library is Debian's
/// parallel build (libhdf5-openmpi-dev), used by rank 0 alone, which reads the stack into the
/// pool's shared window and writes the results (the other ranks are serving tasks meanwhile).
///
/// Errors are h5::error (an atomic_file::error, so a program reports them as it reports a bad
/// .npy file): "<file>: <problem>", never HDF5's own error stack on stderr.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "atomic_file.hpp"

namespace h5 {

/// A bad HDF5 file or dataset. `what()` is "<file>:/<dataset>: <problem>" or "<file>: <problem>".
class error : public atomic_file::error {
 public:
  using atomic_file::error::error;
};

/// A dataset named on the command line as `FILE:/PATH` (e.g. `stack.h5:/data`).
struct location {
  std::string file;     ///< the HDF5 file
  std::string dataset;  ///< the dataset's absolute path in it, starting with '/'
  /// "FILE:/PATH", as the user wrote it.
  std::string shown() const { return file + ":" + dataset; }
};

/// The dataset `arg` names: FILE:/PATH. std::nullopt when `arg` names no dataset (a .npy file).
/// Throws h5::error for a FILE ending in .h5, .hdf5 or .he5 without ":/PATH" (which dataset is
/// meant cannot be guessed), and for an empty FILE or PATH.
std::optional<location> parse(std::string_view arg);

/// A three-dimensional floating-point dataset, open for reading: a stack of `shape()[0]`
/// matrices of `shape()[1]` x `shape()[2]`, in C order.
class stack_reader {
 public:
  /// Opens `where`. Throws h5::error when the file is missing or not HDF5, holds no such
  /// dataset, or the dataset is not three-dimensional floating point.
  explicit stack_reader(const location& where);
  ~stack_reader();
  stack_reader(const stack_reader&) = delete;
  stack_reader& operator=(const stack_reader&) = delete;

  /// (matrices, rows, columns).
  const std::array<std::size_t, 3>& shape() const noexcept { return shape_; }
  /// Reads the whole dataset as float64 into `to` (shape()'s product of values; float32 and other
  /// floating-point types are converted by HDF5). Throws h5::error when the read fails (a
  /// truncated file, a filter this HDF5 lacks).
  void read(std::span<double> to) const;

 private:
  location where_;
  std::int64_t file_ = -1, dataset_ = -1;  // HDF5's hid_t, kept out of this header
  std::array<std::size_t, 3> shape_{};
};

/// Writes `values`, a C-order `rows` x `cols` float64 matrix, as the dataset `dataset` (groups on
/// its path are created) of a new HDF5 file at `file`, replacing what is there. Used on the
/// temporary file of an atomic_file::atomic_output, so the destination appears only whole.
/// Throws h5::error naming `shown` when HDF5 fails.
void write_matrix(const std::filesystem::path& file, const std::string& dataset, const std::string& shown,
                  std::size_t rows, std::size_t cols, std::span<const double> values);

}  // namespace h5
