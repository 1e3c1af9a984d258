#pragma once
/// \file npy.hpp
/// A small, strict reader and writer for NumPy's .npy format (format versions 1.0, 2.0 and 3.0),
/// limited to what svd_batch needs: float64 arrays in C order.
///
/// Every problem with a file is reported as npy::error, whose message names the file and says
/// what is wrong. Reading never trusts the header: the file's size is checked against the
/// shape before any memory is allocated for the data.

#include <array>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "atomic_file.hpp"

namespace npy {

/// A .npy file that cannot be read or written. `what()` is "<file>: <problem>". The same type
/// as the output file's errors, so that npy::write(path) reports one kind of error whatever
/// step failed, and a caller catches one.
using error = atomic_file::error;

/// What a .npy header says, and where the data starts.
struct header {
  int major_version = 0;       ///< 1, 2 or 3
  int minor_version = 0;       ///< always 0
  std::string descr;           ///< the dtype string, e.g. "<f8" (empty for a structured dtype)
  bool fortran_order = false;  ///< column-major data
  std::vector<std::size_t> shape;
  std::size_t data_offset = 0;  ///< byte offset of the first element in the file
};

/// A float64 array in C (row-major) order; `data.size()` is the product of `shape`.
struct array {
  std::vector<std::size_t> shape;
  std::vector<double> data;
};

/// Parses the header dictionary of a .npy file, e.g.
/// `{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }`, without validating the dtype.
/// `file` only names the file in error messages. Throws npy::error when the text is not a
/// Python dict literal with exactly the keys 'descr', 'fortran_order' and 'shape'.
header parse_header_dict(std::string_view text, const std::string& file);

/// Reads the magic, version and header dictionary of `path` (no data). Throws npy::error.
header read_header(const std::filesystem::path& path);

/// Reads a little-endian (or byte-swapped big-endian) float64, C-order array of any shape.
/// Throws npy::error for a missing or unreadable file, a bad magic string or version, a
/// truncated or malformed header, another dtype, Fortran order, a shape whose size overflows,
/// and a file whose length does not match the shape.
array read(const std::filesystem::path& path);

/// As read(), and also requires a 3-D shape (K, M, N) with no zero dimension: a stack of K
/// matrices of M rows and N columns.
array read_stack(const std::filesystem::path& path);

/// A float64 (K, M, N) stack file checked as read_stack() checks it, then mapped read-only
/// instead of read: its elements are copied once, to where the caller wants them (svd_batch:
/// straight into the node's shared window), with no buffer of the whole stack in between.
class mapped_stack {
 public:
  /// Throws npy::error as read_stack() does, and when the file cannot be mapped.
  explicit mapped_stack(const std::filesystem::path& path);
  ~mapped_stack();
  mapped_stack(const mapped_stack&) = delete;
  mapped_stack& operator=(const mapped_stack&) = delete;
  /// K, M and N.
  const std::array<std::size_t, 3>& shape() const noexcept { return shape_; }
  /// K * M * N.
  std::size_t count() const noexcept { return count_; }
  /// Writes the count() elements, in C order and native byte order, to `to`; the file's pages
  /// leave this process's resident memory as they are copied. Call it once.
  void copy_to(double* to) const;

 private:
  std::array<std::size_t, 3> shape_{};
  std::size_t count_ = 0;
  bool swap_ = false;  // the file is big-endian
  void* map_ = nullptr;
  std::size_t map_bytes_ = 0;
  const char* data_ = nullptr;
  mutable std::size_t released_ = 0;  // bytes from the mapping's start dropped after copying
};

/// Writes `data` (C order, product of `shape` elements) as '<f8' with a version 1.0 header
/// padded so that the data starts at a multiple of 64 bytes, as NumPy does. The file is
/// written atomically (atomic_file::atomic_output): `path` is either left as it was or holds
/// the whole array. Throws npy::error when the sizes disagree or the file cannot be created or
/// written.
void write(const std::filesystem::path& path, std::span<const std::size_t> shape, std::span<const double> data);

/// The same bytes, written to the open stream `f` (which stays open; the caller flushes and
/// closes it), for a caller that created the file before computing its contents. `name` names
/// the file in error messages. Throws npy::error when the sizes disagree or a write fails.
void write(std::FILE* f, const std::string& name, std::span<const std::size_t> shape, std::span<const double> data);

/// A shape as Python prints a tuple: "(2, 3, 4)", "(5,)", "()".
std::string format_shape(std::span<const std::size_t> shape);

}  // namespace npy
