#include "npy.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "atomic_file.hpp"

namespace npy {

namespace {

constexpr std::string_view magic{"\x93NUMPY", 6};
// NumPy itself refuses headers over 10000 bytes unless told otherwise; a generous cap still keeps
// a hostile length field from making us allocate gigabytes for the header text.
constexpr std::size_t max_header_len = std::size_t{1} << 20;
// NumPy 2 allows 64 dimensions (NumPy 1: 32).
constexpr std::size_t max_ndim = 64;
// The header is parsed recursively; a bound keeps "((((((..." from exhausting the stack.
constexpr int max_depth = 16;
constexpr std::size_t align = 64;

// For messages: the first `limit` bytes of `s`, non-printable bytes as \xHH.
std::string printable(std::string_view s, std::size_t limit = 80) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  if (s.size() > limit) out += "...";
  return out;
}

// ---- the header dictionary: a small parser for the Python literals NumPy writes -------------

struct value {
  enum class kind { string, integer, boolean, none, tuple, list, dict };
  kind k = kind::none;
  std::string text;               // string contents, or the digits of an integer
  bool negative = false;          // integer sign
  bool flag = false;              // boolean value
  std::vector<value> items;       // tuple and list elements, dict values
  std::vector<std::string> keys;  // dict keys, parallel to items
};

class parser {
 public:
  parser(std::string_view text, const std::string& file) : s_(text), file_(file) {}

  value parse_all() {
    skip_ws();
    value v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected text after the dictionary");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw error(file_, "malformed header: " + what + " (at character " + std::to_string(pos_) + " of \"" +
                           printable(s_) + "\")");
  }

  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  bool at_end() const { return pos_ >= s_.size(); }

  value parse_value(int depth) {
    if (depth > max_depth) fail("values nested too deeply");
    skip_ws();
    if (at_end()) fail("the header ends where a value was expected");
    const char c = s_[pos_];
    if (c == '{') return parse_dict(depth);
    if (c == '(' || c == '[') return parse_sequence(depth);
    if (c == '\'' || c == '"') return parse_string();
    if (c == '-' || c == '+' || (c >= '0' && c <= '9')) return parse_integer();
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_') return parse_name();
    fail(std::string("unexpected character '") + printable(std::string_view(&s_[pos_], 1)) + "'");
  }

  value parse_dict(int depth) {
    value v;
    v.k = value::kind::dict;
    ++pos_;
    while (true) {
      skip_ws();
      if (at_end()) fail("the dictionary is not closed with '}'");
      if (s_[pos_] == '}') break;
      value key = parse_value(depth + 1);
      if (key.k != value::kind::string) fail("a dictionary key is not a string");
      skip_ws();
      if (at_end() || s_[pos_] != ':') fail("expected ':' after the key '" + printable(key.text) + "'");
      ++pos_;
      v.keys.push_back(std::move(key.text));
      v.items.push_back(parse_value(depth + 1));
      skip_ws();
      if (at_end()) fail("the dictionary is not closed with '}'");
      if (s_[pos_] == ',') {
        ++pos_;
      } else if (s_[pos_] != '}') {
        fail("expected ',' or '}' after a dictionary value");
      }
    }
    ++pos_;
    return v;
  }

  // Python semantics: "(3)" is the integer 3, "(3,)" a one-element tuple, "()" an empty tuple.
  value parse_sequence(int depth) {
    const char close = s_[pos_] == '(' ? ')' : ']';
    value v;
    v.k = close == ')' ? value::kind::tuple : value::kind::list;
    ++pos_;
    bool comma = false;
    while (true) {
      skip_ws();
      if (at_end()) fail(std::string("a sequence is not closed with '") + close + "'");
      if (s_[pos_] == close) break;
      v.items.push_back(parse_value(depth + 1));
      skip_ws();
      if (at_end()) fail(std::string("a sequence is not closed with '") + close + "'");
      if (s_[pos_] == ',') {
        comma = true;
        ++pos_;
      } else if (s_[pos_] != close) {
        fail(std::string("expected ',' or '") + close + "' in a sequence");
      }
    }
    ++pos_;
    if (close == ')' && v.items.size() == 1 && !comma) return std::move(v.items.front());
    return v;
  }

  value parse_string() {
    const char quote = s_[pos_++];
    value v;
    v.k = value::kind::string;
    while (true) {
      if (at_end()) fail("a string is not terminated");
      const char c = s_[pos_++];
      if (c == quote) break;
      if (c == '\n') fail("a string is not terminated before the end of the line");
      if (c == '\\') {
        if (at_end()) fail("a string is not terminated");
        const char e = s_[pos_++];
        // Only the escapes that can occur in a dtype string matter; others are kept verbatim.
        if (e != '\\' && e != '\'' && e != '"') v.text += '\\';
        v.text += e;
      } else {
        v.text += c;
      }
    }
    return v;
  }

  value parse_integer() {
    value v;
    v.k = value::kind::integer;
    if (s_[pos_] == '-' || s_[pos_] == '+') v.negative = s_[pos_++] == '-';
    const std::size_t start = pos_;
    while (!at_end() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    if (pos_ == start) fail("expected digits after a sign");
    v.text.assign(s_.substr(start, pos_ - start));
    // Python 2's NumPy wrote long integers with an L suffix.
    if (!at_end() && (s_[pos_] == 'L' || s_[pos_] == 'l')) ++pos_;
    return v;
  }

  value parse_name() {
    const std::size_t start = pos_;
    while (!at_end() && ((s_[pos_] >= 'A' && s_[pos_] <= 'Z') || (s_[pos_] >= 'a' && s_[pos_] <= 'z') ||
                         (s_[pos_] >= '0' && s_[pos_] <= '9') || s_[pos_] == '_'))
      ++pos_;
    const std::string_view name = s_.substr(start, pos_ - start);
    value v;
    if (name == "True" || name == "False") {
      v.k = value::kind::boolean;
      v.flag = name == "True";
    } else if (name == "None") {
      v.k = value::kind::none;
    } else {
      pos_ = start;
      fail("unknown name '" + printable(name) + "' (only True, False and None are allowed)");
    }
    return v;
  }

  std::string_view s_;
  const std::string& file_;
  std::size_t pos_ = 0;
};

std::size_t to_dimension(const value& v, const std::string& file) {
  if (v.k != value::kind::integer) throw error(file, "malformed header: 'shape' must be a tuple of integers");
  if (v.negative && v.text.find_first_not_of('0') != std::string::npos)
    throw error(file, "malformed header: negative dimension -" + v.text + " in 'shape'");
  std::size_t d = 0;
  for (const char c : v.text) {
    const auto digit = static_cast<std::size_t>(c - '0');
    if (d > (std::numeric_limits<std::size_t>::max() - digit) / 10)
      throw error(file, "absurd dimension " + printable(v.text) + " in 'shape' (it does not fit in 64 bits)");
    d = d * 10 + digit;
  }
  return d;
}

// ---- dtype -----------------------------------------------------------------------------------

// The byte order of a float64 descr, or nothing when `descr` is not float64.
std::optional<std::endian> float64_byte_order(std::string_view descr) {
  if (descr == "float64" || descr == "double") return std::endian::native;
  char order = '=';
  if (!descr.empty() && (descr[0] == '<' || descr[0] == '>' || descr[0] == '=' || descr[0] == '|')) {
    order = descr[0];
    descr.remove_prefix(1);
  }
  if (descr != "f8" && descr != "d") return std::nullopt;
  if (order == '<') return std::endian::little;
  if (order == '>') return std::endian::big;
  return std::endian::native;
}

// "'<f4' (float32)": the descr and, when recognisable, the NumPy type name.
std::string describe_dtype(std::string_view descr) {
  if (descr.empty()) return "a structured (record) dtype";
  std::string out = "'" + printable(descr) + "'";
  std::string_view d = descr;
  if (d[0] == '<' || d[0] == '>' || d[0] == '=' || d[0] == '|') d.remove_prefix(1);
  if (d.size() < 2 || d.size() > 6 || d.find_first_not_of("0123456789", 1) != std::string_view::npos) return out;
  const std::string bits = std::to_string(std::stoul(std::string(d.substr(1))) * 8);
  std::string name;
  switch (d[0]) {
    case 'f':
      name = "float" + bits;
      break;
    case 'i':
      name = "int" + bits;
      break;
    case 'u':
      name = "uint" + bits;
      break;
    case 'c':
      name = "complex" + bits;
      break;
    case 'b':
      name = "bool";
      break;
    case 'S':
      name = "bytes";
      break;
    case 'U':
      name = "str";
      break;
    case 'O':
      name = "object";
      break;
    case 'V':
      name = "void";
      break;
    default:
      break;
  }
  return name.empty() ? out : out + " (" + name + ")";
}

// ---- files -----------------------------------------------------------------------------------

struct file_closer {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using file_ptr = std::unique_ptr<std::FILE, file_closer>;

struct open_file {
  std::string name;
  file_ptr f;
  std::uintmax_t size = 0;
  header h;
};

std::uint64_t read_le(const unsigned char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = n; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

void read_exactly(open_file& o, void* dst, std::size_t n, const char* what) {
  if (n == 0) return;  // an empty vector's data() may be null, which fread must not see
  if (std::fread(dst, 1, n, o.f.get()) != n) {
    const bool eof = std::feof(o.f.get()) != 0;
    throw error(o.name, std::string(eof ? "file ended while reading " : "read error while reading ") + what);
  }
}

open_file open_and_read_header(const std::filesystem::path& path) {
  open_file o;
  o.name = path.string();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw error(o.name, "is a directory, not a .npy file");
  errno = 0;
  o.f.reset(std::fopen(o.name.c_str(), "rb"));
  if (!o.f) throw error(o.name, std::string("cannot open file: ") + std::strerror(errno));
  if (!std::filesystem::is_regular_file(path, ec)) throw error(o.name, "not a regular file");
  o.size = std::filesystem::file_size(path, ec);
  if (ec) throw error(o.name, "cannot determine the file size: " + ec.message());
  if (o.size == 0) throw error(o.name, "empty file, not a NumPy .npy file");

  std::array<unsigned char, 12> pre{};
  const std::size_t first = o.size < 8 ? static_cast<std::size_t>(o.size) : 8;
  read_exactly(o, pre.data(), first, "the magic string");
  const std::string_view got(reinterpret_cast<const char*>(pre.data()), first);
  if (got.substr(0, magic.size()) != magic.substr(0, got.size() < magic.size() ? got.size() : magic.size()))
    throw error(o.name, "not a NumPy .npy file: bad magic (expected the file to start with \\x93NUMPY, found \"" +
                            printable(got) + "\")");
  if (first < 8) throw error(o.name, "truncated header: the file ends after " + std::to_string(first) + " bytes");

  o.h.major_version = pre[6];
  o.h.minor_version = pre[7];
  if (o.h.major_version < 1 || o.h.major_version > 3 || o.h.minor_version != 0)
    throw error(o.name, "unsupported .npy format version " + std::to_string(o.h.major_version) + "." +
                            std::to_string(o.h.minor_version) + " (versions 1.0, 2.0 and 3.0 are supported)");
  const std::size_t len_bytes = o.h.major_version == 1 ? 2 : 4;
  const std::size_t prelude = 8 + len_bytes;
  if (o.size < prelude)
    throw error(o.name, "truncated header: the file ends after " + std::to_string(o.size) +
                            " bytes, inside the header length field");
  read_exactly(o, pre.data() + 8, len_bytes, "the header length");
  const std::uint64_t header_len = read_le(pre.data() + 8, len_bytes);
  if (header_len > o.size - prelude)
    throw error(o.name, "truncated header: the header length field says " + std::to_string(header_len) +
                            " bytes but only " + std::to_string(o.size - prelude) + " follow it");
  if (header_len > max_header_len)
    throw error(o.name, "absurd header length " + std::to_string(header_len) + " bytes (at most " +
                            std::to_string(max_header_len) + " are accepted)");

  std::string text(static_cast<std::size_t>(header_len), '\0');
  read_exactly(o, text.data(), text.size(), "the header");
  const int major = o.h.major_version;
  o.h = parse_header_dict(text, o.name);
  o.h.major_version = major;
  o.h.minor_version = 0;
  o.h.data_offset = prelude + static_cast<std::size_t>(header_len);
  return o;
}

bool checked_product(std::span<const std::size_t> shape, std::size_t& out) {
  std::size_t n = 1;
  for (const std::size_t d : shape) {
    if (d != 0 && n > std::numeric_limits<std::size_t>::max() / d) return false;
    n *= d;
  }
  out = n;
  return true;
}

std::uint64_t byteswap64(std::uint64_t v) {
  std::uint64_t r = 0;
  for (int i = 0; i < 8; ++i) {
    r = (r << 8) | (v & 0xff);
    v >>= 8;
  }
  return r;
}

void byteswap_all(std::span<double> data) {
  for (double& x : data) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &x, sizeof bits);
    bits = byteswap64(bits);
    std::memcpy(&x, &bits, sizeof bits);
  }
}

// The checks read() and mapped_stack share: a float64, C-order array (3-D without a zero
// dimension for a stack) whose data fills the file exactly. Returns the byte order.
std::endian check_layout(const open_file& o, bool stack, std::size_t& count) {
  const header& h = o.h;
  const auto order = float64_byte_order(h.descr);
  if (!order)
    throw error(o.name, "dtype " + describe_dtype(h.descr) +
                            " found; float64 ('<f8') is required (convert with a.astype(numpy.float64))");
  if (h.fortran_order)
    throw error(o.name, "fortran_order is True; C-order data is required (save numpy.ascontiguousarray(a))");
  const std::string shape_text = format_shape(h.shape);
  if (stack) {
    if (h.shape.size() != 3)
      throw error(o.name, "shape " + shape_text + " has " + std::to_string(h.shape.size()) +
                              (h.shape.size() == 1 ? " dimension" : " dimensions") +
                              "; a 3-D stack of matrices of shape (K, M, N) is required");
    for (const std::size_t d : h.shape)
      if (d == 0)
        throw error(o.name, "shape " + shape_text + " has a zero dimension; K, M and N must all be at least 1");
  }
  if (!checked_product(h.shape, count) || count > std::numeric_limits<std::size_t>::max() / sizeof(double))
    throw error(o.name, "absurd shape " + shape_text + ": its size in bytes overflows 64 bits");
  const std::size_t bytes = count * sizeof(double);
  const std::uintmax_t available = o.size - h.data_offset;
  if (available < bytes)
    throw error(o.name, "truncated data: shape " + shape_text + " of float64 needs " + std::to_string(bytes) +
                            " bytes of data but the file holds only " + std::to_string(available));
  if (available > bytes)
    throw error(o.name, "the file holds " + std::to_string(available - bytes) + " more bytes than shape " + shape_text +
                            " of float64 needs (corrupt file or wrong header)");
  return *order;
}

array read_impl(const std::filesystem::path& path, bool stack) {
  open_file o = open_and_read_header(path);
  std::size_t count = 0;
  const std::endian order = check_layout(o, stack, count);
  const std::size_t bytes = count * sizeof(double);
  array a;
  a.shape = o.h.shape;
  try {
    a.data.resize(count);
  } catch (const std::bad_alloc&) {
    throw error(o.name, "not enough memory for " + std::to_string(bytes) + " bytes of data");
  }
  if (std::fseek(o.f.get(), static_cast<long>(o.h.data_offset), SEEK_SET) != 0)
    throw error(o.name, std::string("cannot seek to the data: ") + std::strerror(errno));
  read_exactly(o, a.data.data(), bytes, "the data");
  if (order != std::endian::native) byteswap_all(a.data);
  return a;
}

}  // namespace

header parse_header_dict(std::string_view text, const std::string& file) {
  const value v = parser(text, file).parse_all();
  if (v.k != value::kind::dict) throw error(file, "malformed header: it is not a Python dict");
  header h;
  bool seen_descr = false, seen_order = false, seen_shape = false;
  for (std::size_t i = 0; i < v.keys.size(); ++i) {
    const std::string& key = v.keys[i];
    const value& item = v.items[i];
    bool* seen = key == "descr"           ? &seen_descr
                 : key == "fortran_order" ? &seen_order
                 : key == "shape"         ? &seen_shape
                                          : nullptr;
    if (!seen)
      throw error(file, "malformed header: unexpected key '" + printable(key) +
                            "' (the keys are 'descr', 'fortran_order' and 'shape')");
    if (*seen) throw error(file, "malformed header: duplicate key '" + key + "'");
    *seen = true;
    if (key == "descr") {
      // A list descr is a structured dtype; it stays empty so that the dtype check names it.
      if (item.k == value::kind::string) {
        h.descr = item.text;
      } else if (item.k != value::kind::list) {
        throw error(file, "malformed header: 'descr' must be a string");
      }
    } else if (key == "fortran_order") {
      if (item.k != value::kind::boolean) throw error(file, "malformed header: 'fortran_order' must be True or False");
      h.fortran_order = item.flag;
    } else {
      if (item.k != value::kind::tuple) throw error(file, "malformed header: 'shape' must be a tuple of integers");
      if (item.items.size() > max_ndim)
        throw error(file, "malformed header: 'shape' has " + std::to_string(item.items.size()) +
                              " dimensions (at most " + std::to_string(max_ndim) + " are allowed)");
      for (const value& d : item.items) h.shape.push_back(to_dimension(d, file));
    }
  }
  if (!seen_descr) throw error(file, "malformed header: the key 'descr' is missing");
  if (!seen_order) throw error(file, "malformed header: the key 'fortran_order' is missing");
  if (!seen_shape) throw error(file, "malformed header: the key 'shape' is missing");
  return h;
}

header read_header(const std::filesystem::path& path) {
  return open_and_read_header(path).h;
}

array read(const std::filesystem::path& path) {
  return read_impl(path, false);
}

array read_stack(const std::filesystem::path& path) {
  return read_impl(path, true);
}

void write(std::FILE* f, const std::string& name, std::span<const std::size_t> shape, std::span<const double> data) {
  std::size_t count = 0;
  if (!checked_product(shape, count) || count != data.size())
    throw error(name, "cannot write: shape " + format_shape(shape) + " does not hold the " +
                          std::to_string(data.size()) + " elements given");

  std::string text = "{'descr': '<f8', 'fortran_order': False, 'shape': " + format_shape(shape) + ", }";
  const std::size_t unpadded = magic.size() + 4 + text.size() + 1;  // + version, length, '\n'
  text.append((align - unpadded % align) % align, ' ');
  text += '\n';
  if (text.size() > 0xffff) throw error(name, "cannot write: the shape is too long for a version 1.0 header");

  std::string prelude(magic);
  prelude += '\x01';
  prelude += '\x00';
  prelude += static_cast<char>(text.size() & 0xff);
  prelude += static_cast<char>(text.size() >> 8);

  errno = 0;
  bool ok = std::fwrite(prelude.data(), 1, prelude.size(), f) == prelude.size() &&
            std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if constexpr (std::endian::native == std::endian::little) {
    ok = ok && (data.empty() || std::fwrite(data.data(), sizeof(double), data.size(), f) == data.size());
  } else {
    std::vector<double> block;
    for (std::size_t i = 0; ok && i < data.size(); i += 8192) {
      const auto part = data.subspan(i, std::min<std::size_t>(8192, data.size() - i));
      block.assign(part.begin(), part.end());
      byteswap_all(block);
      ok = std::fwrite(block.data(), sizeof(double), block.size(), f) == block.size();
    }
  }
  if (!ok) throw error(name, std::string("cannot write file: ") + std::strerror(errno != 0 ? errno : EIO));
}

void write(const std::filesystem::path& path, std::span<const std::size_t> shape, std::span<const double> data) {
  atomic_file::atomic_output out(path);
  write(out.file(), path.string(), shape, data);
  out.commit();
}

std::string format_shape(std::span<const std::size_t> shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1) out += ",";
  return out + ")";
}

}  // namespace npy

namespace npy {

mapped_stack::mapped_stack(const std::filesystem::path& path) {
  open_file o = open_and_read_header(path);
  std::size_t count = 0;
  swap_ = check_layout(o, true, count) != std::endian::native;
  shape_ = {o.h.shape[0], o.h.shape[1], o.h.shape[2]};
  count_ = count;
  map_bytes_ = static_cast<std::size_t>(o.size);
  void* p = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_PRIVATE, ::fileno(o.f.get()), 0);
  if (p == MAP_FAILED) throw error(o.name, std::string("cannot map the file: ") + std::strerror(errno));
  map_ = p;
  data_ = static_cast<const char*>(p) + o.h.data_offset;
  ::madvise(p, map_bytes_, MADV_SEQUENTIAL);
}

mapped_stack::~mapped_stack() {
  if (map_) ::munmap(map_, map_bytes_);
}

void mapped_stack::copy_to(double* to) const {
  // In blocks, each dropped from this process's memory once copied: the mapped file never adds a
  // second copy of the stack to the resident memory of the caller. 1 MiB: a 64 MB stack grew rank
  // 0 by 1.21x its size with 16 MiB blocks (one block's pages resident at the peak), by 1.0x with
  // 1 MiB; a madvise per MiB costs nothing beside copying it.
  constexpr std::size_t block = std::size_t{1} << 20;
  const std::size_t bytes = count_ * sizeof(double);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const auto* map_start = static_cast<const char*>(map_);
  for (std::size_t at = 0; at < bytes; at += block) {
    const std::size_t n = std::min(block, bytes - at);
    std::memcpy(reinterpret_cast<char*>(to) + at, data_ + at, n);
    // Whole pages that lie before the end of what is copied so far.
    const auto done = static_cast<std::size_t>(data_ + at + n - map_start) / page * page;
    if (done > released_) {
      ::madvise(const_cast<char*>(map_start) + released_, done - released_, MADV_DONTNEED);
      released_ = done;
    }
  }
  if (swap_) byteswap_all(std::span<double>(to, count_));
}

}  // namespace npy
