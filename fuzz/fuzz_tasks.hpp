#pragma once
// The task types that the wire fuzzer (wire_fuzz.cpp) and its seed generator (make_seeds.cpp)
// share. Invoker keys are hashes of mangled type names, so both programs get the same keys from
// these types, and seeds written by one decode in the other. Function pointers travel as code
// offsets, which differ between the two executables; wire_fuzz.cpp copes with that.
//
// The functions run on fuzzed arguments (the worker path), so each must be free of undefined
// behaviour and cost at most linear in its input for every possible value.

#include <Eigen/Core>
#include <array>
#include <cctype>
#include <climits>
#include <cstdint>
#include <map>
#include <optional>
#include <rankpool/detail/task.hpp>
#include <rankpool/eigen.hpp>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace rankpool_fuzz {

namespace rd = rankpool::detail;

/// A class with a serialize member: the Boost archive path of the codec, with a string, a vector
/// of raw values and an Eigen matrix (eigen.hpp's Boost functions) inside.
struct record {
  std::string name;
  std::vector<int> values;
  double weight = 0;
  Eigen::MatrixXd m;
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& name& values& weight& m;
  }
};

/// Not an exact standard exception type: travels as remote_error with its own name.
class fuzz_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Signed overflow is undefined, so integer arithmetic on fuzzed values wraps through unsigned.
inline int wrap_add(int a, int b) {
  return static_cast<int>(static_cast<unsigned>(a) + static_cast<unsigned>(b));
}

inline int add(int a, int b) {
  return wrap_add(a, b);
}
inline int checked_div(int a, int b) {
  if (b == 0) throw std::invalid_argument("division by zero");
  if (b == -1) throw std::overflow_error("division by -1 may overflow");
  return a / b;
}
inline int square(int x) {
  if (x < 0 || x > 46340) throw std::domain_error("square: argument out of range");
  return x * x;
}
inline void touch(int x) {
  if (x == 13) throw 13;  // not a std::exception: the worker must describe it anyway
  if (x == 7) throw fuzz_error("unlucky seven");
}
inline int pick(bool which, std::optional<int> value) {
  if (!value) throw std::length_error("pick: no value");
  return which ? *value : 0;
}
inline int count_true(std::array<bool, 3> flags) {
  int n = 0;
  for (bool f : flags) n += f ? 1 : 0;
  return n;
}
inline std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
inline std::vector<double> halves(std::vector<double> v) {
  for (auto& x : v) x *= 0.5;
  return v;
}
inline std::map<std::string, int> count_words(std::vector<std::string> words) {
  std::map<std::string, int> m;
  for (auto& w : words) m[std::move(w)] += 1;
  return m;
}
inline record bump(record r) {
  if (r.name == "throw") throw std::out_of_range("bump: refused");
  r.name += '!';
  for (auto& v : r.values) v = wrap_add(v, 1);
  r.weight *= 2;
  if (r.m.size() != 0) r.m *= 2;
  return r;
}
inline Eigen::MatrixXd transpose(const Eigen::MatrixXd& m) {
  // An empty matrix may have 2^62 rows: Eigen's transposing copy would walk them all.
  if (m.size() == 0) return Eigen::MatrixXd(m.cols(), m.rows());
  return m.transpose();
}

/// A stateless function object around a free function: the callable travels as its type only.
template <auto Fn>
struct call {
  template <class... A>
  auto operator()(A&&... a) const {
    return Fn(std::forward<A>(a)...);
  }
};

/// Trivially copyable, no serialize: the callable travels as raw bytes.
struct offset_by {
  int k = 0;
  int operator()(int x) const { return wrap_add(x, k); }
};

/// A stateful function object with serialize: the callable travels through the Boost archive.
struct scale {
  double factor = 1;
  std::vector<double> operator()(std::vector<double> v) const {
    for (auto& x : v) x *= factor;
    return v;
  }
  template <class Archive>
  void serialize(Archive& ar, unsigned /*version*/) {
    ar& factor;
  }
};

/// Every task type of the fuzzer, with example arguments for the seeds. `v.template submit<F,
/// A...>(f, examples)` stands for `submit(f, a...)`, `v.template map<F, X>(f, chunks)` for
/// `map(f, chunk)` of each chunk. Both programs walk this one list.
template <class Visitor>
void visit_task_types(Visitor& v) {
  using matrix = Eigen::MatrixXd;
  const matrix m23 = (matrix(2, 3) << 1, 2, 3, 4, 5, 6).finished();
  const record rec{"alpha", {1, 2, 3}, 0.5, m23};
  const record refused{"throw", {}, 1, {}};

  // Free functions, sent as code addresses.
  v.template submit<int (*)(int, int), int, int>(&add, {{2, 3}, {INT_MAX, 1}});
  v.template submit<int (*)(int, int), int, int>(&checked_div, {{7, 2}, {1, 0}, {INT_MIN, -1}});
  v.template submit<void (*)(int), int>(&touch, {{1}, {7}, {13}});
  v.template submit<int (*)(bool, std::optional<int>), bool, std::optional<int>>(&pick, {{true, 5}, {false, {}}});
  v.template submit<std::string (*)(std::string), std::string>(&upper, {{"hello"}, {""}});
  v.template submit<std::vector<double> (*)(std::vector<double>), std::vector<double>>(&halves, {{{1.0, 2.0}}});
  v.template submit<std::map<std::string, int> (*)(std::vector<std::string>), std::vector<std::string>>(
      &count_words, {{{"a", "b", "a"}}});
  v.template submit<record (*)(record), record>(&bump, {{rec}, {refused}});
  v.template submit<matrix (*)(const matrix&), matrix>(&transpose, {{m23}, {matrix()}});
  v.template map<int (*)(int), int>(&square, {{1, 2, 3}, {-1, 4}});
  v.template map<void (*)(int), int>(&touch, {{1, 7, 13, 2}});

  // Function objects: by type (nothing sent), as raw bytes, and through serialize.
  v.template submit<call<&upper>, std::string>({}, {{"by type"}});
  v.template submit<call<&bump>, record>({}, {{rec}});
  v.template submit<call<&transpose>, matrix>({}, {{m23}});
  v.template submit<call<&count_words>, std::vector<std::string>>({}, {{{"x", "y", "x", "x"}}});
  v.template submit<call<&pick>, bool, std::optional<int>>({}, {{true, 9}});
  v.template submit<offset_by, int>(offset_by{10}, {{5}});
  v.template submit<scale, std::vector<double>>(scale{3}, {{{1.0, -2.0}}});
  v.template map<call<&square>, int>({}, {{0, 5, -3}});
  v.template map<call<&upper>, std::string>({}, {{"a", "bc", ""}});
  v.template map<call<&halves>, std::vector<double>>({}, {{{1.0}, {}, {4.0, 8.0}}});
  v.template map<call<&count_words>, std::vector<std::string>>({}, {{{"p", "q"}, {"p"}}});
  v.template map<call<&bump>, record>({}, {{rec, refused}});
  v.template map<call<&transpose>, matrix>({}, {{m23, matrix::Identity(2, 2)}});
  v.template map<call<&touch>, int>({}, {{13, 0}});
  v.template map<offset_by, int>(offset_by{-1}, {{1, 2}});
  v.template map<scale, std::vector<double>>(scale{0.25}, {{{4.0}, {8.0, 16.0}}});
  // Appended (the file names of the seeds number the types in this order).
  v.template submit<call<&count_true>, std::array<bool, 3>>({}, {{{true, false, true}}});
}

// ---- the root's result decoders ------------------------------------------------------------
// The scheduler knows each result's type from its task id; the fuzzer picks it as id % count.

enum class result_slot : std::uint64_t {
  call_int,
  call_string,
  call_vector_double,
  call_map,
  call_record,
  call_matrix,
  call_void,
  chunk_int,
  chunk_string,
  chunk_vector_double,
  chunk_map,
  chunk_record,
  chunk_matrix,
  chunk_void,
  exception,  // a bare exception body, read with read_exception
  count
};

/// A record id whose body goes to `slot` (seeds use it; the fuzzer accepts any id).
inline std::uint64_t id_for(result_slot slot, std::uint64_t n) {
  return n * static_cast<std::uint64_t>(result_slot::count) + static_cast<std::uint64_t>(slot);
}

/// The slot of the call_task decoder for result type R.
template <class R>
constexpr result_slot call_slot_of() {
  if constexpr (std::is_same_v<R, int>)
    return result_slot::call_int;
  else if constexpr (std::is_same_v<R, std::string>)
    return result_slot::call_string;
  else if constexpr (std::is_same_v<R, std::vector<double>>)
    return result_slot::call_vector_double;
  else if constexpr (std::is_same_v<R, std::map<std::string, int>>)
    return result_slot::call_map;
  else if constexpr (std::is_same_v<R, record>)
    return result_slot::call_record;
  else if constexpr (std::is_same_v<R, Eigen::MatrixXd>)
    return result_slot::call_matrix;
  else {
    static_assert(std::is_void_v<R>, "no result slot for this type");
    return result_slot::call_void;
  }
}
/// The slot of the chunk_task decoder for element result type R.
template <class R>
constexpr result_slot chunk_slot_of() {
  return static_cast<result_slot>(static_cast<std::uint64_t>(call_slot_of<R>()) +
                                  static_cast<std::uint64_t>(result_slot::chunk_int));
}

}  // namespace rankpool_fuzz
