// Tests of examples/npy.{hpp,cpp}: round trips, hand-made headers of every format version, each
// kind of broken file, and files written and read by NumPy itself when it is available.
//
// `npy_test --write-fixtures DIR` writes the broken files that svd_batch's bad-input tests use
// and exits, so that those tests and these feed the same files to the reader.

#include "npy.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#ifndef RANKPOOL_PYTHON
#define RANKPOOL_PYTHON "/usr/bin/python3"
#endif

namespace fs = std::filesystem;

namespace {

// ---- building files byte by byte -------------------------------------------------------------

std::string le_bytes(std::uint64_t v, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

std::string f64_bytes(const std::vector<double>& values, bool big_endian = false) {
  std::string out;
  for (const double x : values) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &x, sizeof bits);
    std::string b = le_bytes(bits, 8);
    if (big_endian) b = std::string(b.rbegin(), b.rend());
    out += b;
  }
  return out;
}

// A whole .npy file: magic, version `major`.0, the header `dict` padded like NumPy's, `data`.
std::string npy_file(int major, const std::string& dict, const std::string& data) {
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  std::string text = dict;
  const std::size_t unpadded = 8 + len_bytes + text.size() + 1;
  text.append((64 - unpadded % 64) % 64, ' ');
  text += '\n';
  return std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0' + le_bytes(text.size(), len_bytes) + text + data;
}

std::string dict_for(const std::string& descr, const std::string& fortran, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

std::vector<double> iota_values(std::size_t n, double scale = 0.5, double offset = -1.0) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i) * scale + offset;
  return v;
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write test file " + path.string());
}

// The broken files svd_batch's bad-input tests use (and a few more for the tests here).
void write_fixtures(const fs::path& dir) {
  fs::create_directories(dir);
  write_bytes(dir / "bad_magic.npy", "this is a text file, not an array\n");
  write_bytes(dir / "float32.npy", npy_file(1, dict_for("<f4", "False", "(2, 3, 4)"), std::string(96, '\x01')));
  write_bytes(dir / "fortran.npy", npy_file(1, dict_for("<f8", "True", "(2, 3, 4)"), f64_bytes(iota_values(24))));
  write_bytes(dir / "matrix2d.npy", npy_file(1, dict_for("<f8", "False", "(4, 5)"), f64_bytes(iota_values(20))));
  write_bytes(dir / "truncated.npy",
              npy_file(1, dict_for("<f8", "False", "(2, 3, 4)"), f64_bytes(iota_values(24)).substr(0, 100)));
  write_bytes(dir / "zero.npy", npy_file(1, dict_for("<f8", "False", "(3, 0, 2)"), ""));
  std::vector<double> with_nan = iota_values(8);
  with_nan[5] = std::numeric_limits<double>::quiet_NaN();
  write_bytes(dir / "nonfinite.npy", npy_file(1, dict_for("<f8", "False", "(2, 2, 2)"), f64_bytes(with_nan)));
}

// ---- test helpers ----------------------------------------------------------------------------

class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("npy_test_" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path operator/(const std::string& name) const { return path_ / name; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The message of the npy::error `f` throws ("" and a test failure when it throws nothing or
// something else).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const npy::error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected npy::error, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected npy::error, nothing was thrown";
  return {};
}

#define EXPECT_CONTAINS(text, fragment) \
  EXPECT_NE(std::string(text).find(fragment), std::string::npos) << "message: " << (text)

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

class NpyTest : public testing::Test {
 protected:
  // Writes `bytes` as `name` in the temp dir and returns the message of reading it as a stack.
  std::string stack_error(const std::string& name, const std::string& bytes) {
    write_bytes(dir / name, bytes);
    const std::string msg = error_of([&] { npy::read_stack(dir / name); });
    EXPECT_EQ(msg.rfind((dir / name).string() + ": ", 0), 0u) << "the message must start with the file: " << msg;
    return msg;
  }
  std::string header_error(const std::string& dict) {
    return stack_error("header.npy", npy_file(1, dict, f64_bytes(iota_values(24))));
  }
  temp_dir dir;
};

// ---- round trips -----------------------------------------------------------------------------

TEST_F(NpyTest, RoundTripsManyShapesBitForBit) {
  const std::vector<std::vector<std::size_t>> shapes{{2, 3, 4},    {1, 1, 1},      {5}, {}, {0}, {3, 0, 2}, {7, 1, 13},
                                                     {4, 100, 10}, {2, 2, 2, 2, 2}};
  for (const auto& shape : shapes) {
    std::size_t n = 1;
    for (const std::size_t d : shape) n *= d;
    std::vector<double> data = iota_values(n, 1.0 / 3.0, -7.25);
    if (n >= 4) {
      data[0] = -0.0;
      data[1] = std::numeric_limits<double>::infinity();
      data[2] = std::numeric_limits<double>::quiet_NaN();
      data[3] = std::numeric_limits<double>::denorm_min();
    }
    const fs::path p = dir / "rt.npy";
    npy::write(p, shape, data);
    const npy::header h = npy::read_header(p);
    EXPECT_EQ(h.major_version, 1);
    EXPECT_EQ(h.descr, "<f8");
    EXPECT_FALSE(h.fortran_order);
    EXPECT_EQ(h.shape, shape);
    EXPECT_EQ(h.data_offset % 64, 0u) << npy::format_shape(shape);
    EXPECT_EQ(fs::file_size(p), h.data_offset + 8 * n);
    const npy::array a = npy::read(p);
    EXPECT_EQ(a.shape, shape);
    ASSERT_EQ(a.data.size(), n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_TRUE(same_bits(a.data[i], data[i])) << "element " << i;
  }
}

TEST_F(NpyTest, ReadStackReturnsTheThreeDimensions) {
  const std::vector<std::size_t> shape{3, 4, 5};
  const auto data = iota_values(60);
  npy::write(dir / "s.npy", shape, data);
  const npy::array a = npy::read_stack(dir / "s.npy");
  EXPECT_EQ(a.shape, shape);
  EXPECT_EQ(a.data, data);
}

TEST_F(NpyTest, WritesTheHeaderNumPyWrites) {
  const std::vector<std::size_t> shape{2, 3};
  npy::write(dir / "h.npy", shape, iota_values(6));
  std::ifstream f(dir / "h.npy", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), 128u + 6 * 8);
  EXPECT_EQ(bytes.substr(0, 10), std::string("\x93NUMPY\x01\x00\x76\x00", 10));
  EXPECT_EQ(bytes.substr(10, 60), "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), } ");
  EXPECT_EQ(bytes.substr(70, 57), std::string(57, ' '));
  EXPECT_EQ(bytes[127], '\n');
}

TEST(NpyFormat, FormatsShapesAsPythonTuples) {
  EXPECT_EQ(npy::format_shape(std::vector<std::size_t>{2, 3, 4}), "(2, 3, 4)");
  EXPECT_EQ(npy::format_shape(std::vector<std::size_t>{5}), "(5,)");
  EXPECT_EQ(npy::format_shape(std::vector<std::size_t>{}), "()");
}

TEST(NpyFormat, ErrorNamesTheFileAndTheProblem) {
  const npy::error e("a.npy", "something is wrong");
  EXPECT_STREQ(e.what(), "a.npy: something is wrong");
  EXPECT_EQ(e.file(), "a.npy");
  EXPECT_EQ(e.problem(), "something is wrong");
  const std::runtime_error& base = e;
  EXPECT_STREQ(base.what(), "a.npy: something is wrong");
}

// ---- headers of every version and spelling ---------------------------------------------------

TEST_F(NpyTest, ReadsVersions2And3) {
  for (const int major : {2, 3}) {
    const std::string name = "v" + std::to_string(major) + ".npy";
    write_bytes(dir / name, npy_file(major, dict_for("<f8", "False", "(2, 3, 4)"), f64_bytes(iota_values(24))));
    const npy::header h = npy::read_header(dir / name);
    EXPECT_EQ(h.major_version, major);
    EXPECT_EQ(h.data_offset % 64, 0u);
    EXPECT_EQ(npy::read_stack(dir / name).data, iota_values(24));
  }
}

TEST_F(NpyTest, AcceptsEveryLittleEndianFloat64Spelling) {
  for (const std::string descr : {"<f8", "=f8", "f8", "|f8", "<d", "float64"}) {
    write_bytes(dir / "d.npy", npy_file(1, dict_for(descr, "False", "(2, 3, 4)"), f64_bytes(iota_values(24))));
    EXPECT_EQ(npy::read(dir / "d.npy").data, iota_values(24)) << descr;
  }
}

TEST_F(NpyTest, ByteSwapsBigEndianFloat64) {
  write_bytes(dir / "be.npy", npy_file(1, dict_for(">f8", "False", "(2, 3, 4)"), f64_bytes(iota_values(24), true)));
  EXPECT_EQ(npy::read(dir / "be.npy").data, iota_values(24));
}

TEST_F(NpyTest, AcceptsOtherValidDictSpellings) {
  const std::string data = f64_bytes(iota_values(24));
  for (const std::string dict : {
           "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2, 3, 4)}",  // double quotes, no comma
           "{'shape': (2, 3, 4), 'fortran_order': False, 'descr': '<f8'}",          // any key order
           "{ 'descr' : '<f8' ,\t'fortran_order' : False , 'shape' : ( 2 , 3 , 4 , ) , }",
           "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L, 4L), }",  // Python 2 NumPy
           "{'descr': '<f8', 'fortran_order': False, 'shape': ((2), 3, 4), }",   // (2) is just 2
       }) {
    write_bytes(dir / "v.npy", npy_file(1, dict, data));
    EXPECT_EQ(npy::read_stack(dir / "v.npy").shape, (std::vector<std::size_t>{2, 3, 4})) << dict;
  }
  write_bytes(dir / "one.npy", npy_file(1, dict_for("<f8", "False", "(24,)"), data));
  EXPECT_EQ(npy::read(dir / "one.npy").shape, std::vector<std::size_t>{24});
}

TEST(NpyHeader, ParsesTheDictionary) {
  const npy::header h =
      npy::parse_header_dict("{'descr': '>i4', 'fortran_order': True, 'shape': (10, 20), }  \n", "x.npy");
  EXPECT_EQ(h.descr, ">i4");
  EXPECT_TRUE(h.fortran_order);
  EXPECT_EQ(h.shape, (std::vector<std::size_t>{10, 20}));
}

// ---- broken files ----------------------------------------------------------------------------

TEST_F(NpyTest, MissingFile) {
  const std::string msg = error_of([&] { npy::read_stack(dir / "nope.npy"); });
  EXPECT_CONTAINS(msg, (dir / "nope.npy").string() + ": cannot open file: No such file or directory");
}

TEST_F(NpyTest, DirectoryIsNotAFile) {
  fs::create_directories(dir / "sub.npy");
  EXPECT_CONTAINS(error_of([&] { npy::read(dir / "sub.npy"); }), "is a directory");
}

TEST_F(NpyTest, EmptyFile) {
  EXPECT_CONTAINS(stack_error("e.npy", ""), "empty file, not a NumPy .npy file");
}

TEST_F(NpyTest, BadMagic) {
  EXPECT_CONTAINS(stack_error("m.npy", "PK\x03\x04 this is a zip file"), "not a NumPy .npy file: bad magic");
  EXPECT_CONTAINS(stack_error("m2.npy", "\x93NUMPz\x01"), "bad magic");
  EXPECT_CONTAINS(stack_error("m3.npy", "x"), "bad magic");
}

TEST_F(NpyTest, TruncatedHeader) {
  EXPECT_CONTAINS(stack_error("t1.npy", "\x93NUM"), "truncated header");
  EXPECT_CONTAINS(stack_error("t2.npy", std::string("\x93NUMPY\x01\x00", 8)), "truncated header");
  EXPECT_CONTAINS(stack_error("t3.npy", std::string("\x93NUMPY\x01\x00\x76", 9)), "truncated header");
  const std::string full = npy_file(1, dict_for("<f8", "False", "(2, 3, 4)"), "");
  EXPECT_CONTAINS(stack_error("t4.npy", full.substr(0, 40)),
                  "truncated header: the header length field says 118 bytes but only 30 follow it");
  EXPECT_CONTAINS(stack_error("t5.npy", std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14)),
                  "truncated header: the header length field says 4294967295 bytes");
}

TEST_F(NpyTest, UnsupportedVersion) {
  std::string bytes = npy_file(1, dict_for("<f8", "False", "(2, 3, 4)"), f64_bytes(iota_values(24)));
  bytes[6] = 4;
  EXPECT_CONTAINS(stack_error("v4.npy", bytes), "unsupported .npy format version 4.0");
  bytes[6] = 1;
  bytes[7] = 1;
  EXPECT_CONTAINS(stack_error("v11.npy", bytes), "unsupported .npy format version 1.1");
}

TEST_F(NpyTest, AbsurdHeaderLength) {
  const std::size_t len = (std::size_t{1} << 20) + 64;
  std::string bytes = std::string("\x93NUMPY\x02\x00", 8) + le_bytes(len, 4) + std::string(len + 64, ' ');
  EXPECT_CONTAINS(stack_error("big.npy", bytes), "absurd header length 1048640 bytes");
}

TEST_F(NpyTest, MalformedHeaderDict) {
  const struct {
    std::string dict, fragment;
  } cases[] = {
      {"[1, 2]", "malformed header: it is not a Python dict"},
      {"", "malformed header: the header ends where a value was expected"},
      {"{'descr': '<f8', 'fortran_order': False}", "the key 'shape' is missing"},
      {"{'shape': (2, 3, 4), 'fortran_order': False}", "the key 'descr' is missing"},
      {"{'descr': '<f8', 'shape': (2, 3, 4)}", "the key 'fortran_order' is missing"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4), 'extra': 1}", "unexpected key 'extra'"},
      {"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4)}", "duplicate key 'descr'"},
      {"{'descr': '<f8, 'fortran_order': False, 'shape': (2, 3, 4)}", "expected ',' or '}'"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4)", "the dictionary is not closed"},
      {"{'descr' '<f8', 'fortran_order': False, 'shape': (2, 3, 4)}", "expected ':' after the key 'descr'"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4}", "expected ',' or ')' in a sequence"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4)} trailing", "unexpected text after"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': 24}", "'shape' must be a tuple of integers"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': [2, 3, 4]}", "'shape' must be a tuple of integers"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, '3', 4)}", "'shape' must be a tuple of integers"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, -3, 4)}", "negative dimension -3 in 'shape'"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 99999999999999999999999, 4)}",
       "absurd dimension 99999999999999999999999"},
      {"{'descr': '<f8', 'fortran_order': 'no', 'shape': (2, 3, 4)}", "'fortran_order' must be True or False"},
      {"{'descr': '<f8', 'fortran_order': Nope, 'shape': (2, 3, 4)}", "unknown name 'Nope'"},
      {"{'descr': 8, 'fortran_order': False, 'shape': (2, 3, 4)}", "'descr' must be a string"},
      {"{1: '<f8'}", "a dictionary key is not a string"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': " + std::string(200, '(') + "2" + std::string(200, ')') + "}",
       "values nested too deeply"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': @}", "unexpected character '@'"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3, 4)} \x01", "unexpected text after the dictionary"},
  };
  for (const auto& c : cases) {
    const std::string msg = header_error(c.dict);
    EXPECT_CONTAINS(msg, c.fragment);
    if (c.fragment.rfind("absurd", 0) != 0) {
      EXPECT_CONTAINS(msg, "malformed header");
    }
  }
}

TEST_F(NpyTest, WrongDtypeNamesWhatWasFound) {
  const std::string data(192, '\x01');
  EXPECT_CONTAINS(stack_error("f4.npy", npy_file(1, dict_for("<f4", "False", "(2, 3, 4)"), data)),
                  "dtype '<f4' (float32) found; float64 ('<f8') is required");
  EXPECT_CONTAINS(stack_error("i8.npy", npy_file(1, dict_for("<i8", "False", "(2, 3, 4)"), data)),
                  "dtype '<i8' (int64) found");
  EXPECT_CONTAINS(stack_error("c16.npy", npy_file(1, dict_for("<c16", "False", "(2, 3, 4)"), data)),
                  "dtype '<c16' (complex128) found");
  EXPECT_CONTAINS(stack_error("f16.npy", npy_file(1, dict_for("<f16", "False", "(2, 3, 4)"), data)), "(float128)");
  EXPECT_CONTAINS(stack_error("weird.npy", npy_file(1, dict_for("<f99999999999", "False", "(2, 3, 4)"), data)),
                  "dtype '<f99999999999' found");
  EXPECT_CONTAINS(stack_error("rec.npy", npy_file(1,
                                                  "{'descr': [('a', '<f8'), ('b', '<i4')], 'fortran_order': False, "
                                                  "'shape': (2, 3, 4), }",
                                                  data)),
                  "dtype a structured (record) dtype found; float64 ('<f8') is required");
}

TEST_F(NpyTest, FortranOrderIsRefused) {
  EXPECT_CONTAINS(stack_error("f.npy", npy_file(1, dict_for("<f8", "True", "(2, 3, 4)"), f64_bytes(iota_values(24)))),
                  "fortran_order is True; C-order data is required");
}

TEST_F(NpyTest, StackMustBeThreeDimensional) {
  EXPECT_CONTAINS(stack_error("m.npy", npy_file(1, dict_for("<f8", "False", "(4, 5)"), f64_bytes(iota_values(20)))),
                  "shape (4, 5) has 2 dimensions; a 3-D stack of matrices of shape (K, M, N) is required");
  EXPECT_CONTAINS(stack_error("v.npy", npy_file(1, dict_for("<f8", "False", "(20,)"), f64_bytes(iota_values(20)))),
                  "shape (20,) has 1 dimension; a 3-D stack");
  EXPECT_CONTAINS(stack_error("s.npy", npy_file(1, dict_for("<f8", "False", "()"), f64_bytes(iota_values(1)))),
                  "shape () has 0 dimensions");
  EXPECT_CONTAINS(
      stack_error("4d.npy", npy_file(1, dict_for("<f8", "False", "(1, 2, 3, 4)"), f64_bytes(iota_values(24)))),
      "shape (1, 2, 3, 4) has 4 dimensions");
  // read() takes any shape.
  EXPECT_EQ(npy::read(dir / "4d.npy").shape, (std::vector<std::size_t>{1, 2, 3, 4}));
}

TEST_F(NpyTest, ZeroDimensionInAStack) {
  for (const std::string shape : {"(0, 3, 3)", "(3, 0, 2)", "(3, 2, 0)"})
    EXPECT_CONTAINS(stack_error("z.npy", npy_file(1, dict_for("<f8", "False", shape), "")),
                    "shape " + shape + " has a zero dimension");
}

TEST_F(NpyTest, AbsurdShapesNeverAllocate) {
  // The element count overflows 64 bits.
  EXPECT_CONTAINS(stack_error("o.npy", npy_file(1, dict_for("<f8", "False", "(4294967296, 4294967296, 16)"), "")),
                  "absurd shape (4294967296, 4294967296, 16)");
  // The byte count overflows although the element count does not.
  EXPECT_CONTAINS(stack_error("o2.npy", npy_file(1, dict_for("<f8", "False", "(1, 2305843009213693952, 2)"), "")),
                  "absurd shape");
  // 8 PB claimed, a few bytes present: refused from the file size, before any allocation.
  EXPECT_CONTAINS(
      stack_error("huge.npy", npy_file(1, dict_for("<f8", "False", "(1000000, 1000000, 1000)"), "12345678")),
      "truncated data: shape (1000000, 1000000, 1000) of float64 needs 8000000000000000 bytes of data but the file "
      "holds only 8");
}

TEST_F(NpyTest, TruncatedData) {
  const std::string data = f64_bytes(iota_values(24));
  EXPECT_CONTAINS(stack_error("t.npy", npy_file(1, dict_for("<f8", "False", "(2, 3, 4)"), data.substr(0, 100))),
                  "truncated data: shape (2, 3, 4) of float64 needs 192 bytes of data but the file holds only 100");
  EXPECT_CONTAINS(stack_error("t0.npy", npy_file(1, dict_for("<f8", "False", "(2, 3, 4)"), "")),
                  "but the file holds only 0");
}

TEST_F(NpyTest, TrailingBytesAreRefused) {
  const std::string data = f64_bytes(iota_values(24)) + "junk";
  EXPECT_CONTAINS(stack_error("j.npy", npy_file(1, dict_for("<f8", "False", "(2, 3, 4)"), data)),
                  "the file holds 4 more bytes than shape (2, 3, 4) of float64 needs");
}

TEST_F(NpyTest, WriteChecksSizesAndReportsFailures) {
  const std::vector<std::size_t> shape{2, 3};
  const std::vector<double> five(5, 1.0);
  EXPECT_CONTAINS(error_of([&] { npy::write(dir / "w.npy", shape, five); }),
                  "cannot write: shape (2, 3) does not hold the 5 elements given");
  EXPECT_FALSE(fs::exists(dir / "w.npy"));
  EXPECT_CONTAINS(
      error_of([&] { npy::write(dir / "no" / "such" / "dir.npy", shape, iota_values(6)); }),
      "dir.npy: cannot create the output file in '" + (dir / "no" / "such").string() + "': No such file or directory");
  fs::create_directory(dir / "d.npy");
  EXPECT_CONTAINS(error_of([&] { npy::write(dir / "d.npy", shape, iota_values(6)); }),
                  "d.npy: cannot create the output file: Is a directory");
}

// npy::write(path) is atomic_output plus the stream variant: same bytes, an existing file replaced
// whole, and no temporary file left after a success or a refused write.
TEST_F(NpyTest, WritesAtomicallyAndTheStreamVariantWritesTheSameBytes) {
  const std::vector<std::size_t> shape{3, 4};
  const auto data = iota_values(12);
  write_bytes(dir / "a.npy", std::string(5000, 'x'));
  npy::write(dir / "a.npy", shape, data);
  {
    std::FILE* f = std::fopen((dir / "b.npy").c_str(), "wb");
    ASSERT_NE(f, nullptr);
    npy::write(f, "b.npy", shape, data);
    ASSERT_EQ(std::fclose(f), 0);
  }
  auto bytes = [&](const char* name) {
    std::ifstream in(dir / name, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_EQ(bytes("a.npy").size(), 128u + 12 * 8);
  EXPECT_EQ(bytes("a.npy"), bytes("b.npy"));
  EXPECT_EQ(npy::read(dir / "a.npy").data, data);
  EXPECT_THROW(npy::write(dir / "a.npy", shape, iota_values(5)), npy::error);
  EXPECT_EQ(npy::read(dir / "a.npy").data, data) << "a refused write must leave the file as it was";
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_NE(entry.path().filename().string().front(), '.') << "left behind: " << entry.path();
}

// A full disk shows up as the system's reason, whether at a write or at the final flush.
TEST(NpyFormat, AStreamThatCannotBeWrittenIsReported) {
  std::FILE* f = std::fopen("/dev/full", "wb");
  if (!f) GTEST_SKIP() << "no /dev/full";
  const std::vector<std::size_t> shape{100000};
  std::string message;
  try {
    npy::write(f, "full.npy", shape, iota_values(100000));
  } catch (const npy::error& e) {
    message = e.what();
  }
  std::fclose(f);
  EXPECT_EQ(message, "full.npy: cannot write file: No space left on device");
}

TEST_F(NpyTest, FixturesAreWhatTheSvdBatchTestsExpect) {
  write_fixtures(dir.path());
  auto msg = [&](const std::string& name) { return error_of([&] { npy::read_stack(dir / name); }); };
  EXPECT_CONTAINS(msg("bad_magic.npy"), "bad magic");
  EXPECT_CONTAINS(msg("float32.npy"), "dtype '<f4' (float32) found; float64 ('<f8') is required");
  EXPECT_CONTAINS(msg("fortran.npy"), "fortran_order is True");
  EXPECT_CONTAINS(msg("matrix2d.npy"), "shape (4, 5) has 2 dimensions");
  EXPECT_CONTAINS(msg("truncated.npy"), "needs 192 bytes of data but the file holds only 100");
  EXPECT_CONTAINS(msg("zero.npy"), "shape (3, 0, 2) has a zero dimension");
  EXPECT_TRUE(std::isnan(npy::read_stack(dir / "nonfinite.npy").data[5]));
}

// ---- NumPy itself ----------------------------------------------------------------------------

bool have_numpy() {
  if (!fs::exists(RANKPOOL_PYTHON)) return false;
  const std::string cmd = std::string(RANKPOOL_PYTHON) + " -c 'import numpy' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

TEST_F(NpyTest, InteroperatesWithNumPy) {
  if (!have_numpy()) GTEST_SKIP() << RANKPOOL_PYTHON << " with numpy is not available";
  const std::vector<std::size_t> shape{2, 3, 4};
  npy::write(dir / "ours.npy", shape, iota_values(24));
  write_bytes(dir / "script.py", R"(
import sys, numpy as np
from numpy.lib import format
d = sys.argv[1]
# Ours, read by NumPy: dtype, order, shape, values and the 64-byte alignment.
with open(d + '/ours.npy', 'rb') as f:
    assert format.read_magic(f) == (1, 0)
    shape, fortran, dtype = format.read_array_header_1_0(f)
    assert f.tell() % 64 == 0, f.tell()
b = np.load(d + '/ours.npy')
assert b.dtype == np.float64 and b.shape == (2, 3, 4) and b.flags.c_contiguous
assert np.array_equal(b, np.arange(24.0).reshape(2, 3, 4) * 0.5 - 1.0)
# NumPy's, for us to read.
a = np.arange(60.0).reshape(3, 4, 5) * 0.25 - 3.0
np.save(d + '/np_v1.npy', a)
for v in ((2, 0), (3, 0)):
    with open(d + '/np_v%d.npy' % v[0], 'wb') as f:
        format.write_array(f, a, version=v)
np.save(d + '/np_be.npy', a.astype('>f8'))
np.save(d + '/np_f32.npy', a.astype(np.float32))
np.save(d + '/np_fortran.npy', np.asfortranarray(a))
np.save(d + '/np_2d.npy', a[0])
np.save(d + '/np_i64.npy', np.arange(60).reshape(3, 4, 5))
)");
  const std::string cmd = std::string(RANKPOOL_PYTHON) + " " + (dir / "script.py").string() + " " + dir.path().string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "the NumPy side failed: " << cmd;

  const auto expected = iota_values(60, 0.25, -3.0);
  for (const std::string name : {"np_v1.npy", "np_v2.npy", "np_v3.npy", "np_be.npy"}) {
    const npy::array a = npy::read_stack(dir / name);
    EXPECT_EQ(a.shape, (std::vector<std::size_t>{3, 4, 5})) << name;
    EXPECT_EQ(a.data, expected) << name;
  }
  EXPECT_EQ(npy::read_header(dir / "np_v2.npy").major_version, 2);
  EXPECT_EQ(npy::read_header(dir / "np_v3.npy").major_version, 3);
  auto msg = [&](const std::string& name) { return error_of([&] { npy::read_stack(dir / name); }); };
  EXPECT_CONTAINS(msg("np_f32.npy"), "dtype '<f4' (float32) found; float64 ('<f8') is required");
  EXPECT_CONTAINS(msg("np_fortran.npy"), "fortran_order is True");
  EXPECT_CONTAINS(msg("np_2d.npy"), "shape (4, 5) has 2 dimensions");
  EXPECT_CONTAINS(msg("np_i64.npy"), "(int64) found");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string_view(argv[1]) == "--write-fixtures") {
    try {
      write_fixtures(argv[2]);
      return 0;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "npy_test: %s\n", e.what());
      return 1;
    }
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
