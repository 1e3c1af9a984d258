// The codec: round trips through rankpool::detail::writer / reader, the byte layout of raw
// blocks, malformed input (truncated or with lying length prefixes), and is_sendable.

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <rankpool/detail/codec.hpp>
#include <rankpool/eigen.hpp>
#include <rankpool/errors.hpp>
#include <rankpool/serialization.hpp>
#include <set>
#include <string>
#include <tuple>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

// ---- allocation watch ------------------------------------------------------------------------
// Every operator new of this test binary goes through here: while a cap is set, a request above
// it is refused with std::bad_alloc and recorded, so a decoder that sizes an allocation by a
// lying length is caught even where it turns the bad_alloc into a decode_error, and nothing
// ever really allocates gigabytes (address-space limits cover malloc, in builds without
// sanitizers).

// These replacements pair malloc with free on purpose; GCC's optimizer sees operator delete
// calling free on a pointer that came from operator new and warns about the pairing it cannot
// see through.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace alloc_watch {
inline std::atomic<std::size_t> cap{std::numeric_limits<std::size_t>::max()};
inline std::atomic<std::size_t> largest_refused{0};
}  // namespace alloc_watch

void* operator new(std::size_t n) {
  if (n > alloc_watch::cap.load(std::memory_order_relaxed)) {
    std::size_t seen = alloc_watch::largest_refused.load(std::memory_order_relaxed);
    while (n > seen && !alloc_watch::largest_refused.compare_exchange_weak(seen, n)) {
    }
    throw std::bad_alloc();
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  return ::operator new(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace codec_test {

enum class color : std::uint8_t { red = 1, green = 7, blue = 200 };
enum plain_enum { first_value = 3, second_value = -5 };

/// Trivially copyable: sent as raw bytes.
struct point {
  double x = 0;
  double y = 0;
  int id = 0;
  bool operator==(const point&) const = default;
};

/// A class with a public serialize member.
struct particle {
  std::string name;
  std::vector<double> pos;
  int id = 0;
  std::map<std::string, int> tags;
  template <class Archive>
  void serialize(Archive& ar, const unsigned int) {
    ar& name& pos& id& tags;
  }
  bool operator==(const particle&) const = default;
};

/// A class with an ADL-visible free serialize.
struct labelled_values {
  std::string label;
  std::vector<int> values;
  bool operator==(const labelled_values&) const = default;
};
template <class Archive>
void serialize(Archive& ar, labelled_values& v, const unsigned int) {
  ar& v.label& v.values;
}

/// Not sendable: no serialize, and not trivially copyable.
struct holds_unique {
  std::unique_ptr<int> p;
  int x = 0;
};
struct holds_string {
  std::string s;
};
struct empty_tag {};

}  // namespace codec_test

namespace {

using codec_test::color;
using codec_test::labelled_values;
using codec_test::particle;
using codec_test::point;
using rankpool::detail::decode;
using rankpool::detail::encode;
using rankpool::detail::reader;
using rankpool::detail::writer;

template <class T>
std::vector<char> encoded(const T& v) {
  writer w;
  encode(w, v);
  return w.take();
}

template <class T>
T decoded(const std::vector<char>& bytes) {
  reader r(bytes.data(), bytes.size());
  T v{};
  decode(r, v);
  EXPECT_EQ(r.raw().remaining(), 0u) << "decoding left bytes unread";
  return v;
}

template <class T>
T round_trip(const T& v) {
  return decoded<T>(encoded(v));
}

/// Decoding `bytes` as T must fail with a rankpool error (decode_error), nothing else, and
/// without asking for an allocation above the current cap (see allocation_cap).
template <class T>
testing::AssertionResult rejects(const std::vector<char>& bytes) {
  alloc_watch::largest_refused = 0;
  try {
    reader r(bytes.data(), bytes.size());
    T v{};
    decode(r, v);
    return testing::AssertionFailure() << "decoded " << bytes.size() << " bytes without an error";
  } catch (const rankpool::error& e) {
    if (const std::size_t asked = alloc_watch::largest_refused.exchange(0))
      return testing::AssertionFailure() << "failed as it should (" << e.what() << "), but only after asking for "
                                         << asked << " bytes: the lying length was trusted";
    return testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "threw " << typeid(e).name() << " (" << e.what()
                                       << ") instead of rankpool::detail::decode_error";
  }
}

/// Caps single operator-new requests at `bytes` for the scope (see alloc_watch).
class allocation_cap {
 public:
  explicit allocation_cap(std::size_t bytes) { alloc_watch::cap = bytes; }
  ~allocation_cap() {
    alloc_watch::cap = std::numeric_limits<std::size_t>::max();
    alloc_watch::largest_refused = 0;
  }
  allocation_cap(const allocation_cap&) = delete;
  allocation_cap& operator=(const allocation_cap&) = delete;
};

template <class T>
void expect_every_prefix_rejected(const T& value) {
  const auto bytes = encoded(value);
  ASSERT_FALSE(bytes.empty());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    std::vector<char> prefix(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_TRUE(rejects<T>(prefix)) << "prefix of " << n << " of " << bytes.size() << " bytes, type "
                                    << typeid(T).name();
  }
}

std::uint64_t read_u64(const std::vector<char>& b, std::size_t offset) {
  std::uint64_t v = 0;
  std::memcpy(&v, b.data() + offset, sizeof v);
  return v;
}

/// Offset of the first occurrence of `value` as 8 little-endian bytes, or npos.
std::size_t find_u64(const std::vector<char>& b, std::uint64_t value) {
  for (std::size_t i = 0; i + sizeof value <= b.size(); ++i)
    if (read_u64(b, i) == value) return i;
  return std::string::npos;
}

void patch_u64(std::vector<char>& b, std::size_t offset, std::uint64_t value) {
  std::memcpy(b.data() + offset, &value, sizeof value);
}

/// Caps this process's address space a little above what it uses now, so that decoding a
/// buffer with a lying length fails with bad_alloc instead of really allocating gigabytes
/// (serialization_test has no threads but the main one). Restores the limit on exit.
class address_space_limit {
 public:
  explicit address_space_limit(std::size_t headroom) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    (void)headroom;  // sanitizers reserve huge address ranges: no limit there
#else
    if (getrlimit(RLIMIT_AS, &old_) != 0) return;
    std::ifstream statm("/proc/self/statm");
    std::size_t pages = 0;
    if (!(statm >> pages)) return;
    rlimit lowered = old_;
    lowered.rlim_cur = static_cast<rlim_t>(pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) + headroom);
    if (old_.rlim_cur != RLIM_INFINITY && lowered.rlim_cur > old_.rlim_cur) lowered.rlim_cur = old_.rlim_cur;
    active_ = setrlimit(RLIMIT_AS, &lowered) == 0;
#endif
  }
  ~address_space_limit() {
    if (active_) setrlimit(RLIMIT_AS, &old_);
  }
  address_space_limit(const address_space_limit&) = delete;
  address_space_limit& operator=(const address_space_limit&) = delete;

 private:
  rlimit old_{};
  bool active_ = false;
};

constexpr std::size_t kOneGiB = std::size_t{1} << 30;
constexpr std::size_t kSixtyFourMiB = std::size_t{1} << 26;

// ---- what is sendable ----------------------------------------------------------------------

static_assert(rankpool::is_sendable_v<int>);
static_assert(rankpool::is_sendable_v<double>);
static_assert(rankpool::is_sendable_v<bool>);
static_assert(rankpool::is_sendable_v<char>);
static_assert(rankpool::is_sendable_v<std::int64_t>);
static_assert(rankpool::is_sendable_v<color>);
static_assert(rankpool::is_sendable_v<codec_test::plain_enum>);
static_assert(rankpool::is_sendable_v<point>);
static_assert(rankpool::is_sendable_v<std::vector<point>>);
static_assert(rankpool::is_sendable_v<std::string>);
static_assert(rankpool::is_sendable_v<std::vector<double>>);
static_assert(rankpool::is_sendable_v<std::vector<std::string>>);
static_assert(rankpool::is_sendable_v<std::vector<std::vector<int>>>);
static_assert(rankpool::is_sendable_v<std::map<std::string, int>>);
static_assert(rankpool::is_sendable_v<std::unordered_map<std::string, std::vector<double>>>);
static_assert(rankpool::is_sendable_v<std::set<std::string>>);
static_assert(rankpool::is_sendable_v<std::list<std::string>>);
static_assert(rankpool::is_sendable_v<std::deque<int>>);
static_assert(rankpool::is_sendable_v<std::optional<int>>);
static_assert(rankpool::is_sendable_v<std::pair<int, std::string>>);
static_assert(rankpool::is_sendable_v<std::tuple<int, double, std::string>>);
static_assert(rankpool::is_sendable_v<std::tuple<>>);
static_assert(rankpool::is_sendable_v<std::array<int, 3>>);
static_assert(rankpool::is_sendable_v<std::complex<double>>);
static_assert(rankpool::is_sendable_v<particle>);
static_assert(rankpool::is_sendable_v<std::vector<particle>>);
static_assert(rankpool::is_sendable_v<labelled_values>);
static_assert(rankpool::is_sendable_v<Eigen::MatrixXd>);
static_assert(rankpool::is_sendable_v<Eigen::Matrix3f>);
static_assert(rankpool::is_sendable_v<Eigen::ArrayXXi>);
static_assert(rankpool::is_sendable_v<Eigen::VectorXd>);
static_assert(rankpool::is_sendable_v<std::vector<Eigen::MatrixXd>>);
static_assert(rankpool::is_sendable_v<std::map<std::string, Eigen::MatrixXd>>);

static_assert(!rankpool::is_sendable_v<int*>);
static_assert(!rankpool::is_sendable_v<const char*>);
static_assert(!rankpool::is_sendable_v<void*>);
static_assert(!rankpool::is_sendable_v<point*>);
static_assert(!rankpool::is_sendable_v<int (*)(int)>);
static_assert(!rankpool::is_sendable_v<int point::*>);
static_assert(!rankpool::is_sendable_v<int&>);
static_assert(!rankpool::is_sendable_v<std::function<void()>>);
static_assert(!rankpool::is_sendable_v<std::function<int(int)>>);
static_assert(!rankpool::is_sendable_v<std::unique_ptr<int>>);
static_assert(!rankpool::is_sendable_v<std::shared_ptr<int>>);
static_assert(!rankpool::is_sendable_v<codec_test::holds_unique>);
static_assert(!rankpool::is_sendable_v<codec_test::holds_string>);
static_assert(!rankpool::is_sendable_v<codec_test::empty_tag>);
static_assert(!rankpool::is_sendable_v<std::vector<int*>>);
static_assert(!rankpool::is_sendable_v<std::vector<codec_test::holds_unique>>);
static_assert(!rankpool::is_sendable_v<std::map<std::string, int*>>);
static_assert(!rankpool::is_sendable_v<std::pair<int, const char*>>);
static_assert(!rankpool::is_sendable_v<std::tuple<int, std::function<void()>>>);
static_assert(!rankpool::is_sendable_v<std::optional<int*>>);

// Which path each type takes: raw bytes, or a codec of its own (containers, user classes).
static_assert(rankpool::detail::raw_bytes<int>);
static_assert(rankpool::detail::raw_bytes<color>);
static_assert(rankpool::detail::raw_bytes<point>);
static_assert(rankpool::detail::raw_bytes<std::complex<double>>);
static_assert(!rankpool::detail::raw_bytes<int*>);
static_assert(!rankpool::detail::raw_bytes<std::string>);
static_assert(!rankpool::detail::raw_bytes<particle>);
static_assert(!rankpool::detail::raw_bytes<Eigen::Matrix3f>);

// ---- round trips -----------------------------------------------------------------------------

TEST(serialization, Arithmetic) {
  for (int v : {0, 1, -1, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()})
    EXPECT_EQ(round_trip(v), v);
  EXPECT_EQ(encoded(7).size(), sizeof(int));
  EXPECT_EQ(round_trip(std::int64_t{-1234567890123}), std::int64_t{-1234567890123});
  EXPECT_EQ(round_trip(std::uint8_t{255}), std::uint8_t{255});
  EXPECT_EQ(round_trip(true), true);
  EXPECT_EQ(round_trip(false), false);
  EXPECT_EQ(round_trip('z'), 'z');
  EXPECT_EQ(round_trip(3.141592653589793), 3.141592653589793);
  EXPECT_EQ(round_trip(2.5f), 2.5f);
  EXPECT_EQ(encoded(1.0).size(), sizeof(double));
  EXPECT_TRUE(std::signbit(round_trip(-0.0)));
  EXPECT_EQ(round_trip(std::numeric_limits<double>::infinity()), std::numeric_limits<double>::infinity());
  EXPECT_EQ(round_trip(std::numeric_limits<double>::denorm_min()), std::numeric_limits<double>::denorm_min());
  EXPECT_TRUE(std::isnan(round_trip(std::numeric_limits<double>::quiet_NaN())));
}

TEST(serialization, Enums) {
  for (color c : {color::red, color::green, color::blue}) EXPECT_EQ(round_trip(c), c);
  EXPECT_EQ(encoded(color::blue).size(), sizeof(color));
  EXPECT_EQ(round_trip(codec_test::second_value), codec_test::second_value);
  EXPECT_EQ(round_trip(std::vector<color>{color::blue, color::red}), (std::vector<color>{color::blue, color::red}));
}

TEST(serialization, TriviallyCopyableStructAsRawBytes) {
  const point p{1.5, -2.25, 42};
  auto bytes = encoded(p);
  ASSERT_EQ(bytes.size(), sizeof(point));
  EXPECT_EQ(std::memcmp(bytes.data(), &p, sizeof p), 0);
  EXPECT_EQ(round_trip(p), p);

  std::vector<point> ps;
  for (int i = 0; i < 100; ++i) ps.push_back({i * 0.5, -i * 0.25, i});
  auto vbytes = encoded(ps);
  ASSERT_EQ(vbytes.size(), 8 + ps.size() * sizeof(point)) << "one raw block, no per-element overhead";
  EXPECT_EQ(read_u64(vbytes, 0), ps.size());
  EXPECT_EQ(std::memcmp(vbytes.data() + 8, ps.data(), ps.size() * sizeof(point)), 0);
  EXPECT_EQ(decoded<std::vector<point>>(vbytes), ps);
}

TEST(serialization, Strings) {
  for (const std::string& s :
       {std::string(), std::string("hello"), std::string("a\0b\0c", 5), std::string(1 << 20, 'q')}) {
    auto bytes = encoded(s);
    EXPECT_EQ(bytes.size(), 8 + s.size());
    EXPECT_EQ(read_u64(bytes, 0), s.size());
    EXPECT_EQ(decoded<std::string>(bytes), s);
  }
}

TEST(serialization, VectorOfDoubleIsOneRawBlock) {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1000}}) {
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i) * 1.25 - 3;
    auto bytes = encoded(v);
    ASSERT_EQ(bytes.size(), 8 + 8 * n) << "n = " << n;
    EXPECT_EQ(read_u64(bytes, 0), n);
    if (n) {
      EXPECT_EQ(std::memcmp(bytes.data() + 8, v.data(), 8 * n), 0);
    }
    EXPECT_EQ(decoded<std::vector<double>>(bytes), v);
  }
  const std::vector<int> ints{1, -2, 3};
  EXPECT_EQ(encoded(ints).size(), 8 + 4 * ints.size());
  EXPECT_EQ(round_trip(ints), ints);
  const std::vector<std::complex<double>> cs{{1, 2}, {-3, 0.5}};
  EXPECT_EQ(encoded(cs).size(), 8 + 16 * cs.size());
  EXPECT_EQ(round_trip(cs), cs);
}

TEST(serialization, VectorOfBool) {
  const std::vector<bool> v{true, false, true, true, false};
  EXPECT_EQ(round_trip(v), v);
  EXPECT_EQ(round_trip(std::vector<bool>{}), std::vector<bool>{});
}

TEST(serialization, AssociativeAndSequenceContainers) {
  const std::map<std::string, int> m{{"one", 1}, {"two", 2}, {"", -7}};
  EXPECT_EQ(round_trip(m), m);
  EXPECT_EQ(round_trip(std::map<std::string, int>{}), (std::map<std::string, int>{}));
  const std::unordered_map<std::string, std::vector<double>> um{{"a", {1.0, 2.0}}, {"b", {}}};
  EXPECT_EQ(round_trip(um), um);
  const std::set<std::string> s{"x", "y", "zz"};
  EXPECT_EQ(round_trip(s), s);
  const std::list<std::string> l{"first", "", "third"};
  EXPECT_EQ(round_trip(l), l);
  const std::deque<int> d{5, 4, 3};
  EXPECT_EQ(round_trip(d), d);
  const std::map<int, std::vector<std::string>> nested{{1, {"a", "b"}}, {2, {}}};
  EXPECT_EQ(round_trip(nested), nested);
}

TEST(serialization, Optional) {
  EXPECT_EQ(round_trip(std::optional<int>(5)), std::optional<int>(5));
  EXPECT_EQ(round_trip(std::optional<int>()), std::optional<int>());
  EXPECT_EQ(round_trip(std::optional<double>(-1.5)), std::optional<double>(-1.5));
  EXPECT_EQ(round_trip(std::vector<std::optional<int>>{1, std::nullopt, 3}),
            (std::vector<std::optional<int>>{1, std::nullopt, 3}));
}

TEST(serialization, PairsAndTuples) {
  const std::pair<int, std::string> p{3, "three"};
  EXPECT_EQ(round_trip(p), p);
  const std::pair<std::string, std::vector<double>> q{"v", {1.0, 2.0}};
  EXPECT_EQ(round_trip(q), q);
  const std::tuple<int, double, std::string> t{1, 2.5, "three"};
  EXPECT_EQ(round_trip(t), t);
  EXPECT_EQ(encoded(std::tuple<int, double>{1, 2.0}).size(), sizeof(int) + sizeof(double)) << "raw members, no framing";
  EXPECT_TRUE(encoded(std::tuple<>{}).empty());
  const std::tuple<std::vector<double>, std::map<std::string, int>, point> mixed{{0.5}, {{"k", 1}}, {1, 2, 3}};
  EXPECT_EQ(round_trip(mixed), mixed);
  const std::vector<std::tuple<int, std::string>> in_container{{1, "a"}, {2, "bb"}};
  EXPECT_EQ(round_trip(in_container), in_container);
}

TEST(serialization, ClassWithSerializeMember) {
  const particle p{"proton", {0.1, 0.2, 0.3}, 7, {{"charge", 1}, {"spin", 2}}};
  EXPECT_EQ(round_trip(p), p);
  EXPECT_EQ(round_trip(particle{}), particle{});
  const std::vector<particle> ps{p, particle{"electron", {}, -1, {}}, p};
  EXPECT_EQ(round_trip(ps), ps);
  const std::map<std::string, particle> by_name{{"p", p}, {"e", ps[1]}};
  EXPECT_EQ(round_trip(by_name), by_name);
}

TEST(serialization, ClassWithFreeSerialize) {
  const labelled_values v{"primes", {2, 3, 5, 7}};
  EXPECT_EQ(round_trip(v), v);
  const std::vector<labelled_values> vs{v, {"none", {}}};
  EXPECT_EQ(round_trip(vs), vs);
}

TEST(serialization, NestedContainers) {
  const std::vector<std::vector<int>> vv{{1, 2, 3}, {}, {4}};
  EXPECT_EQ(round_trip(vv), vv);
  const std::vector<std::string> vs{"alpha", "", "gamma"};
  EXPECT_EQ(round_trip(vs), vs);
  EXPECT_EQ(round_trip(std::vector<std::string>{}), std::vector<std::string>{});
  const std::vector<std::vector<std::string>> vvs{{"a"}, {}, {"b", "c"}};
  EXPECT_EQ(round_trip(vvs), vvs);
  const std::vector<std::vector<double>> vvd{{1.5}, {2.5, 3.5}};
  EXPECT_EQ(round_trip(vvd), vvd);
}

TEST(serialization, ArraysAndComplex) {
  const std::array<int, 3> a{1, 2, 3};
  EXPECT_EQ(round_trip(a), a);
  const std::array<std::string, 2> as{"x", "yy"};
  EXPECT_EQ(round_trip(as), as);
  const std::complex<double> c{1.5, -2.5};
  EXPECT_EQ(round_trip(c), c);
  EXPECT_EQ(encoded(c).size(), sizeof c);
}

TEST(serialization, EigenDynamicMatrix) {
  Eigen::MatrixXd m(3, 4);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<double>(i) * 0.5 - 1;
  auto bytes = encoded(m);
  ASSERT_EQ(bytes.size(), 16u + 8u * 12u) << "dimensions, then one raw block";
  EXPECT_EQ(read_u64(bytes, 0), 3u);
  EXPECT_EQ(read_u64(bytes, 8), 4u);
  EXPECT_EQ(std::memcmp(bytes.data() + 16, m.data(), 8 * 12), 0);
  const auto back = decoded<Eigen::MatrixXd>(bytes);
  ASSERT_EQ(back.rows(), 3);
  ASSERT_EQ(back.cols(), 4);
  EXPECT_TRUE(back == m);

  const Eigen::MatrixXd empty;
  EXPECT_EQ(round_trip(empty).size(), 0);
  const Eigen::MatrixXd no_rows(0, 5);
  const auto no_rows_back = round_trip(no_rows);
  EXPECT_EQ(no_rows_back.rows(), 0);
  EXPECT_EQ(no_rows_back.cols(), 5);
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm(2, 3);
  rm << 1, 2, 3, 4, 5, 6;
  EXPECT_TRUE(round_trip(rm) == rm);
  const Eigen::VectorXd v = Eigen::VectorXd::LinSpaced(5, 0.0, 1.0);
  EXPECT_TRUE(round_trip(v) == v);
  Eigen::RowVectorXf rv(3);
  rv << 1.5f, 2.5f, 3.5f;
  EXPECT_TRUE(round_trip(rv) == rv);
  Eigen::Matrix<double, Eigen::Dynamic, 3> tall(4, 3);
  tall.setConstant(2.0);
  EXPECT_TRUE(round_trip(tall) == tall);
  Eigen::Matrix2cd cm;
  cm << std::complex<double>(1, 2), std::complex<double>(3, 4), std::complex<double>(5, 6), std::complex<double>(7, 8);
  EXPECT_TRUE(round_trip(cm) == cm);
}

TEST(serialization, EigenFixedSizeAndArrays) {
  Eigen::Matrix3f m;
  m << 1, 2, 3, 4, 5, 6, 7, 8, 9.5f;
  EXPECT_EQ(encoded(m).size(), 16u + 9u * sizeof(float));
  EXPECT_TRUE(round_trip(m) == m);
  Eigen::ArrayXXi a(2, 3);
  a << 1, -2, 3, -4, 5, -6;
  const auto a_back = round_trip(a);
  ASSERT_EQ(a_back.rows(), 2);
  ASSERT_EQ(a_back.cols(), 3);
  EXPECT_TRUE((a_back == a).all());
  const Eigen::Array4d fixed_array(1.0, 2.0, 3.0, 4.0);
  EXPECT_TRUE((round_trip(fixed_array) == fixed_array).all());
}

TEST(serialization, EigenInsideContainers) {
  std::vector<Eigen::MatrixXd> ms;
  ms.push_back(Eigen::MatrixXd::Identity(3, 3));
  ms.emplace_back(0, 0);
  Eigen::MatrixXd r(2, 5);
  for (Eigen::Index i = 0; i < r.size(); ++i) r.data()[i] = static_cast<double>(i * i);
  ms.push_back(r);
  const auto back = round_trip(ms);
  ASSERT_EQ(back.size(), ms.size());
  for (std::size_t i = 0; i < ms.size(); ++i) {
    ASSERT_EQ(back[i].rows(), ms[i].rows());
    ASSERT_EQ(back[i].cols(), ms[i].cols());
    EXPECT_TRUE(back[i] == ms[i]);
  }
  std::vector<Eigen::Matrix3f> fixed(2, Eigen::Matrix3f::Constant(1.5f));
  const auto fixed_back = round_trip(fixed);
  ASSERT_EQ(fixed_back.size(), 2u);
  EXPECT_TRUE(fixed_back[1] == fixed[1]);
  const std::map<std::string, Eigen::MatrixXd> named{{"r", r}, {"i", Eigen::MatrixXd::Identity(2, 2)}};
  const auto named_back = round_trip(named);
  ASSERT_EQ(named_back.size(), 2u);
  EXPECT_TRUE(named_back.at("r") == r);
  std::vector<Eigen::ArrayXXi> arrays{Eigen::ArrayXXi::Constant(2, 2, 7)};
  EXPECT_TRUE((round_trip(arrays)[0] == arrays[0]).all());
}

TEST(serialization, EigenDimensionsMustFitTheReceivingType) {
  EXPECT_TRUE(rejects<Eigen::Matrix3f>(encoded(Eigen::MatrixXf(Eigen::MatrixXf::Ones(2, 2)))));
  EXPECT_TRUE(rejects<Eigen::Vector3d>(encoded(Eigen::VectorXd(Eigen::VectorXd::Ones(4)))));
  using two_columns = Eigen::Matrix<double, Eigen::Dynamic, 2>;
  EXPECT_TRUE(rejects<two_columns>(encoded(Eigen::MatrixXd(Eigen::MatrixXd::Ones(3, 3)))));
  EXPECT_TRUE(
      rejects<std::vector<Eigen::Matrix3d>>(encoded(std::vector<Eigen::MatrixXd>{Eigen::MatrixXd::Ones(2, 2)})));
}

TEST(serialization, RawAndArchiveValuesMixInOneBuffer) {
  const std::map<std::string, int> m{{"a", 1}, {"b", 2}};
  const particle p{"n", {1.0}, 3, {{"t", 4}}};
  const Eigen::MatrixXd mat = Eigen::MatrixXd::Constant(2, 2, 0.5);
  const std::vector<Eigen::MatrixXd> mats{Eigen::MatrixXd::Identity(2, 3)};
  writer w;
  encode(w, 42);
  encode(w, m);
  encode(w, std::vector<double>{1.5, 2.5});
  encode(w, p);  // a user class: the Boost archive starts here
  encode(w, std::string("tail"));
  encode(w, mat);
  encode(w, mats);
  encode(w, std::vector<std::string>{"x", "y"});
  encode(w, point{1, 2, 3});
  encode(w, 2.5);
  auto bytes = w.take();

  reader r(bytes.data(), bytes.size());
  int i = 0;
  std::map<std::string, int> m2;
  std::vector<double> v;
  particle p2;
  std::string s;
  Eigen::MatrixXd mat2;
  std::vector<Eigen::MatrixXd> mats2;
  std::vector<std::string> vs;
  point pt;
  double d = 0;
  decode(r, i);
  decode(r, m2);
  decode(r, v);
  decode(r, p2);
  decode(r, s);
  decode(r, mat2);
  decode(r, mats2);
  decode(r, vs);
  decode(r, pt);
  decode(r, d);
  EXPECT_EQ(r.raw().remaining(), 0u);
  EXPECT_EQ(i, 42);
  EXPECT_EQ(m2, m);
  EXPECT_EQ(v, (std::vector<double>{1.5, 2.5}));
  EXPECT_EQ(p2, p);
  EXPECT_EQ(s, "tail");
  EXPECT_TRUE(mat2 == mat);
  ASSERT_EQ(mats2.size(), 1u);
  EXPECT_TRUE(mats2[0] == mats[0]);
  EXPECT_EQ(vs, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(pt, (point{1, 2, 3}));
  EXPECT_EQ(d, 2.5);
}

TEST(serialization, FreshArchivesAtMatchingPoints) {
  const particle p{"same type twice", {2.0}, 1, {}};
  writer w;
  encode(w, p);
  w.reset_archive();
  encode(w, 7);
  encode(w, p);  // a new archive writes the class information again
  auto bytes = w.take();
  reader r(bytes.data(), bytes.size());
  particle a, b;
  int seven = 0;
  decode(r, a);
  r.reset_archive();
  decode(r, seven);
  decode(r, b);
  EXPECT_EQ(r.raw().remaining(), 0u);
  EXPECT_EQ(a, p);
  EXPECT_EQ(seven, 7);
  EXPECT_EQ(b, p);
}

TEST(serialization, WriterReusesABufferFromScratch) {
  writer w(std::vector<char>(64, 'x'));
  encode(w, std::string("ab"));
  const auto bytes = w.take();
  EXPECT_EQ(bytes.size(), 10u);
  EXPECT_EQ(decoded<std::string>(bytes), "ab");
}

// ---- malformed input -------------------------------------------------------------------------

TEST(serialization, TruncatedBuffersAreRejected) {
  expect_every_prefix_rejected(12345);
  expect_every_prefix_rejected(2.5);
  expect_every_prefix_rejected(point{1, 2, 3});
  expect_every_prefix_rejected(std::string("hello"));
  expect_every_prefix_rejected(std::vector<double>{1, 2, 3});
  expect_every_prefix_rejected(std::vector<point>{{1, 2, 3}, {4, 5, 6}});
  expect_every_prefix_rejected(std::optional<int>(3));
  expect_every_prefix_rejected(std::map<std::string, int>{{"a", 1}, {"bc", 2}});
  expect_every_prefix_rejected(std::vector<std::string>{"ab", "c"});
  expect_every_prefix_rejected(std::vector<std::vector<int>>{{1, 2}, {3}});
  expect_every_prefix_rejected(std::vector<bool>{true, false});
  expect_every_prefix_rejected(std::set<std::string>{"s"});
  expect_every_prefix_rejected(std::array<std::string, 2>{"x", "y"});
  expect_every_prefix_rejected(std::pair<std::string, int>{"k", 1});
  expect_every_prefix_rejected(std::tuple<int, std::string>{1, "t"});
  expect_every_prefix_rejected(particle{"p", {1.0}, 2, {{"k", 3}}});
  expect_every_prefix_rejected(labelled_values{"l", {1}});
  expect_every_prefix_rejected(Eigen::MatrixXd(Eigen::MatrixXd::Ones(2, 3)));
  expect_every_prefix_rejected(Eigen::Matrix3f(Eigen::Matrix3f::Identity()));
  expect_every_prefix_rejected(std::vector<Eigen::MatrixXd>{Eigen::MatrixXd::Ones(1, 2)});
}

TEST(serialization, EmptyBufferIsRejected) {
  const std::vector<char> none;
  EXPECT_TRUE(rejects<int>(none));
  EXPECT_TRUE(rejects<std::string>(none));
  EXPECT_TRUE(rejects<std::vector<double>>(none));
  EXPECT_TRUE((rejects<std::map<std::string, int>>(none)));
  EXPECT_TRUE(rejects<Eigen::MatrixXd>(none));
}

TEST(serialization, HugeLengthPrefixesOfRawBlocksAreRejectedBeforeAllocating) {
  address_space_limit limit(kOneGiB);
  allocation_cap cap(kSixtyFourMiB);
  for (std::uint64_t huge : {std::uint64_t{1} << 31, std::uint64_t{1} << 40, std::uint64_t{1} << 62,
                             std::numeric_limits<std::uint64_t>::max()}) {
    SCOPED_TRACE("length " + std::to_string(huge));
    auto s = encoded(std::string("hello"));
    patch_u64(s, 0, huge);
    EXPECT_TRUE(rejects<std::string>(s));
    auto v = encoded(std::vector<double>{1, 2});
    patch_u64(v, 0, huge);
    EXPECT_TRUE(rejects<std::vector<double>>(v));
    auto vp = encoded(std::vector<point>{{1, 2, 3}});
    patch_u64(vp, 0, huge);
    EXPECT_TRUE(rejects<std::vector<point>>(vp));
    auto m = encoded(Eigen::MatrixXd(Eigen::MatrixXd::Ones(2, 2)));
    auto rows = m, cols = m, both = m;
    patch_u64(rows, 0, huge);
    patch_u64(cols, 8, huge);
    patch_u64(both, 0, huge);
    patch_u64(both, 8, huge);
    EXPECT_TRUE(rejects<Eigen::MatrixXd>(rows));
    EXPECT_TRUE(rejects<Eigen::MatrixXd>(cols));
    EXPECT_TRUE(rejects<Eigen::MatrixXd>(both));
    EXPECT_TRUE(rejects<Eigen::ArrayXXi>(both));
  }
  // A length that is only a little too long is rejected as well.
  auto v = encoded(std::vector<double>{1, 2});
  patch_u64(v, 0, 3);
  EXPECT_TRUE(rejects<std::vector<double>>(v));
}

// Counts and lengths of nested values (std::vector<std::string>, std::vector<std::vector<int>>,
// ...): a lying one must still end in decode_error, without an allocation sized by the lie.
TEST(serialization, HugeCountsInsideNestedContainersAreRejected) {
  address_space_limit limit(kOneGiB);
  allocation_cap cap(kSixtyFourMiB);
  const std::vector<std::string> strings{"thirteen char", "b", "c"};
  const auto s_bytes = encoded(strings);
  const auto count_at = find_u64(s_bytes, strings.size());
  const auto length_at = find_u64(s_bytes, strings[0].size());
  ASSERT_NE(count_at, std::string::npos);
  ASSERT_NE(length_at, std::string::npos);
  ASSERT_LT(count_at, length_at);

  const std::vector<std::vector<int>> nested{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {1}};
  const auto n_bytes = encoded(nested);
  const auto inner_at = find_u64(n_bytes, nested[0].size());
  ASSERT_NE(inner_at, std::string::npos);

  for (std::uint64_t huge : {std::uint64_t{1} << 28, std::uint64_t{1} << 33, std::uint64_t{1} << 62}) {
    SCOPED_TRACE("count " + std::to_string(huge));
    auto outer = s_bytes;
    patch_u64(outer, count_at, huge);
    EXPECT_TRUE(rejects<std::vector<std::string>>(outer)) << "element count of std::vector<std::string>";
    auto length = s_bytes;
    patch_u64(length, length_at, huge);
    EXPECT_TRUE(rejects<std::vector<std::string>>(length)) << "length of a string inside std::vector<std::string>";
    auto inner = n_bytes;
    patch_u64(inner, inner_at, huge);
    EXPECT_TRUE(rejects<std::vector<std::vector<int>>>(inner)) << "inner count of std::vector<std::vector<int>>";
  }
  const std::map<std::string, int> m{{"k", 1}, {"l", 2}, {"m", 3}};
  auto m_bytes = encoded(m);
  const auto m_count_at = find_u64(m_bytes, m.size());
  ASSERT_NE(m_count_at, std::string::npos);
  patch_u64(m_bytes, m_count_at, std::uint64_t{1} << 62);
  EXPECT_TRUE((rejects<std::map<std::string, int>>(m_bytes)));
}

// A user class goes through Boost, whose own counts and lengths can lie as well.
TEST(serialization, HugeCountsInsideUserClassesAreRejected) {
  address_space_limit limit(kOneGiB);
  allocation_cap cap(kSixtyFourMiB);
  const particle p{"eleven char", {1, 2, 3, 4, 5}, 0, {}};
  const auto bytes = encoded(p);
  const auto name_at = find_u64(bytes, p.name.size());
  const auto pos_at = find_u64(bytes, p.pos.size());
  ASSERT_NE(name_at, std::string::npos);
  ASSERT_NE(pos_at, std::string::npos);
  ASSERT_LT(name_at, pos_at);
  for (std::uint64_t huge : {std::uint64_t{1} << 28, std::uint64_t{1} << 33, std::uint64_t{1} << 62}) {
    SCOPED_TRACE("count " + std::to_string(huge));
    auto name = bytes;
    patch_u64(name, name_at, huge);
    EXPECT_TRUE(rejects<particle>(name)) << "length of a std::string member";
    auto pos = bytes;
    patch_u64(pos, pos_at, huge);
    EXPECT_TRUE(rejects<particle>(pos)) << "count of a std::vector<double> member";
  }
}

TEST(serialization, HugeEigenDimensionsInsideContainersAreRejected) {
  address_space_limit limit(kOneGiB);
  allocation_cap cap(kSixtyFourMiB);
  const std::vector<Eigen::MatrixXd> ms{Eigen::MatrixXd::Ones(5, 7)};
  const auto bytes = encoded(ms);
  const auto rows_at = find_u64(bytes, 5);
  ASSERT_NE(rows_at, std::string::npos);
  ASSERT_EQ(read_u64(bytes, rows_at + 8), 7u) << "columns follow the rows";
  for (std::uint64_t huge : {std::uint64_t{1} << 16, std::uint64_t{1} << 31, std::uint64_t{1} << 62}) {
    SCOPED_TRACE("dimension " + std::to_string(huge));
    auto rows = bytes;
    patch_u64(rows, rows_at, huge);
    EXPECT_TRUE(rejects<std::vector<Eigen::MatrixXd>>(rows));
    auto both = bytes;
    patch_u64(both, rows_at, huge);
    patch_u64(both, rows_at + 8, huge);
    EXPECT_TRUE(rejects<std::vector<Eigen::MatrixXd>>(both));
  }
  auto negative = bytes;
  patch_u64(negative, rows_at, std::numeric_limits<std::uint64_t>::max());  // -1 as int64
  EXPECT_TRUE(rejects<std::vector<Eigen::MatrixXd>>(negative));
}

}  // namespace
