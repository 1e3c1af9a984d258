// HDF5 datasets for svd_batch (see h5.hpp). Without RANKPOOL_WITH_HDF5 only parse() works and
// everything else says the build has no HDF5.

#include "h5.hpp"

#include <system_error>
#include <utility>

#ifdef RANKPOOL_WITH_HDF5
#include <hdf5.h>

#include <type_traits>
#endif

namespace h5 {

std::optional<location> parse(std::string_view arg) {
  const auto colon = arg.find(":/");
  if (colon == std::string_view::npos) {
    for (std::string_view ext : {".h5", ".hdf5", ".he5"})
      if (arg.size() > ext.size() && arg.ends_with(ext))
        throw error(std::string(arg), "an HDF5 file: name the dataset too, as " + std::string(arg) + ":/dataset");
    return std::nullopt;
  }
  location l{std::string(arg.substr(0, colon)), std::string(arg.substr(colon + 1))};
  if (l.file.empty()) throw error(std::string(arg), "the HDF5 file name before ':/' is empty");
  if (l.dataset.find_first_not_of('/') == std::string::npos)
    throw error(l.file, "the dataset path after ':' names no dataset");
  return l;
}

#ifdef RANKPOOL_WITH_HDF5

static_assert(std::is_same_v<hid_t, std::int64_t>, "stack_reader keeps hid_t values as std::int64_t");

namespace {

// HDF5 prints its error stack on stderr by default; the messages here say what went wrong.
void quiet() {
  static const bool once = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)once;
}

// An HDF5 identifier closed by `close` when the handle goes.
class handle {
 public:
  handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~handle() {
    if (id_ >= 0) close_(id_);
  }
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;
  hid_t get() const noexcept { return id_; }
  bool ok() const noexcept { return id_ >= 0; }
  hid_t release() noexcept { return std::exchange(id_, -1); }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

const char* class_name(H5T_class_t c) {
  switch (c) {
    case H5T_INTEGER:
      return "integer";
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_REFERENCE:
      return "reference";
    case H5T_VLEN:
      return "variable-length";
    case H5T_ARRAY:
      return "array";
    default:
      return "non-numeric";
  }
}

// Whether `path` (absolute, in `file`) is a link: each group on the way is checked first, for
// H5Lexists fails rather than answering when a group on the path is missing.
bool link_exists(hid_t file, const std::string& path) {
  for (auto slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1))
    if (H5Lexists(file, path.substr(0, slash).c_str(), H5P_DEFAULT) <= 0) return false;
  return H5Lexists(file, path.c_str(), H5P_DEFAULT) > 0;
}

}  // namespace

stack_reader::stack_reader(const location& where) : where_(where) {
  quiet();
  std::error_code ec;
  if (!std::filesystem::exists(where.file, ec)) throw error(where.file, "No such file or directory");
  if (std::filesystem::is_directory(where.file, ec)) throw error(where.file, "is a directory, not an HDF5 file");
  if (H5Fis_hdf5(where.file.c_str()) <= 0) throw error(where.file, "not an HDF5 file (or not readable)");
  handle file(H5Fopen(where.file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) throw error(where.file, "HDF5 cannot open it");
  if (!link_exists(file.get(), where.dataset)) throw error(where.shown(), "no such dataset in the file");
  handle dataset(H5Dopen2(file.get(), where.dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dataset.ok()) throw error(where.shown(), "not a dataset (a group?)");

  handle space(H5Dget_space(dataset.get()), H5Sclose);
  const int rank = space.ok() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (rank != 3)
    throw error(where.shown(), "has " + std::to_string(rank) +
                                   " dimensions; svd_batch reads a stack of matrices: (count, rows, columns)");
  hsize_t dims[3] = {};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  handle type(H5Dget_type(dataset.get()), H5Tclose);
  const H5T_class_t cls = type.ok() ? H5Tget_class(type.get()) : H5T_NO_CLASS;
  if (cls != H5T_FLOAT)
    throw error(where.shown(),
                std::string("holds ") + class_name(cls) + " values; svd_batch reads floating-point matrices");
  for (int i = 0; i < 3; ++i) shape_[static_cast<std::size_t>(i)] = static_cast<std::size_t>(dims[i]);
  if (shape_[0] == 0) throw error(where.shown(), "holds no matrices (its first dimension is 0)");
  if (shape_[1] == 0 || shape_[2] == 0)
    throw error(where.shown(), "holds matrices of " + std::to_string(shape_[1]) + " x " + std::to_string(shape_[2]) +
                                   "; each needs at least one row and one column");
  file_ = file.release();
  dataset_ = dataset.release();
}

stack_reader::~stack_reader() {
  if (dataset_ >= 0) H5Dclose(dataset_);
  if (file_ >= 0) H5Fclose(file_);
}

void stack_reader::read(std::span<double> to) const {
  if (to.size() != shape_[0] * shape_[1] * shape_[2])
    throw error(where_.shown(), "the buffer to read into does not match the dataset's size");
  if (to.empty()) return;
  if (H5Dread(dataset_, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, to.data()) < 0)
    throw error(where_.shown(), "HDF5 cannot read the dataset (a truncated file, or a filter this HDF5 lacks)");
}

void write_matrix(const std::filesystem::path& file, const std::string& dataset, const std::string& shown,
                  std::size_t rows, std::size_t cols, std::span<const double> values) {
  quiet();
  if (values.size() != rows * cols)
    throw error(shown, "the values do not fill a " + std::to_string(rows) + " x " + std::to_string(cols) + " matrix");
  handle f(H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!f.ok()) throw error(shown, "HDF5 cannot create the file");
  handle links(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  if (!links.ok() || H5Pset_create_intermediate_group(links.get(), 1) < 0)
    throw error(shown, "HDF5 cannot set up the dataset's groups");
  const hsize_t dims[2] = {rows, cols};
  handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
  if (!space.ok())
    throw error(shown, "HDF5 cannot describe a " + std::to_string(rows) + " x " + std::to_string(cols) + " dataset");
  handle d(H5Dcreate2(f.get(), dataset.c_str(), H5T_IEEE_F64LE, space.get(), links.get(), H5P_DEFAULT, H5P_DEFAULT),
           H5Dclose);
  if (!d.ok()) throw error(shown, "HDF5 cannot create the dataset");
  if (!values.empty() && H5Dwrite(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
    throw error(shown, "HDF5 cannot write the dataset (is the disk full?)");
  if (H5Dclose(d.release()) < 0 || H5Fclose(f.release()) < 0)
    throw error(shown, "HDF5 cannot finish the file (is the disk full?)");
}

#else  // no HDF5 in this build

namespace {
[[noreturn]] void absent(const std::string& what) {
  throw error(what,
              "this svd_batch was built without HDF5 (configure with RANKPOOL_WITH_HDF5=ON and "
              "libhdf5-openmpi-dev installed)");
}
}  // namespace

stack_reader::stack_reader(const location& where) : where_(where) {
  absent(where.shown());
}
stack_reader::~stack_reader() = default;
void stack_reader::read(std::span<double>) const {
  absent(where_.shown());
}
void write_matrix(const std::filesystem::path&, const std::string&, const std::string& shown, std::size_t, std::size_t,
                  std::span<const double>) {
  absent(shown);
}

#endif

}  // namespace h5
