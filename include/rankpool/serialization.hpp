#pragma once
/// \file serialization.hpp
/// What can be sent to a worker, and how it is encoded.
///
/// Sendable: arithmetic and enum types, every trivially copyable class (copied as bytes), the
/// standard containers Boost.Serialization supports (string, vector, list, deque, map, set,
/// unordered_map/set, optional, pair, array, complex) and std::tuple, each of sendable
/// elements, any class with a public `serialize(Archive&, unsigned)` member or an ADL-visible
/// free `serialize(Archive&, T&, unsigned)`, and with <rankpool/eigen.hpp> every dense Eigen
/// matrix and array. A class whose `serialize` is private (friend boost::serialization::access)
/// opts in with `template <> struct rankpool::is_sendable<T> : std::true_type {};`.
/// Pointers are never sendable: an address means nothing on another rank.

#include <array>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/array.hpp>
#include <boost/serialization/complex.hpp>
#include <boost/serialization/deque.hpp>
#include <boost/serialization/is_bitwise_serializable.hpp>
#include <boost/serialization/level.hpp>
#include <boost/serialization/list.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/optional.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/unordered_set.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <complex>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace rankpool {

namespace detail {

template <class T>
struct is_std_complex : std::false_type {};
template <class T>
struct is_std_complex<std::complex<T>> : std::true_type {};
template <class T>
struct is_std_optional : std::false_type {};
template <class T>
struct is_std_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_std_array : std::false_type {};
template <class T, std::size_t N>
struct is_std_array<std::array<T, N>> : std::true_type {};

/// A public serialize member template usable with Boost archives.
template <class T>
concept has_member_serialize = requires(T& t, boost::archive::binary_oarchive& ar) {
  t.serialize(ar, 0u);
};

namespace adl_probe {
void serialize() = delete;  // hides any unrelated name; only ADL can find a candidate
template <class T>
concept has_free_serialize = requires(T& t, boost::archive::binary_oarchive& ar) {
  serialize(ar, t, 0u);
};
}  // namespace adl_probe

template <class T>
concept has_serialize = has_member_serialize<T> || adl_probe::has_free_serialize<T>;

/// Class types that go as raw bytes (inside containers too): trivially copyable, no serialize of
/// their own, and not a type Boost already handles with its own level (complex, array).
/// std::optional is excluded: its engaged flag is a bool, and bytes from the wire could make it
/// neither true nor false.
template <class T>
concept raw_class =
    std::is_class_v<T> && std::is_trivially_copyable_v<T> && !has_serialize<T> && !is_std_complex<T>::value &&
    !is_std_array<T>::value && !is_std_optional<T>::value && !std::is_empty_v<T>;

/// Types sent as a plain memcpy at top level and in contiguous containers.
template <class T>
concept raw_bytes = ((std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) || std::is_enum_v<T> || raw_class<T> ||
                     is_std_complex<T>::value) &&
                    !std::is_pointer_v<T>;

}  // namespace detail

/// Whether T can travel to a worker (see the file comment). Specialize to std::true_type for a
/// class with a private serialize member.
template <class T, class = void>
struct is_sendable
    : std::bool_constant<!std::is_pointer_v<T> && !std::is_member_pointer_v<T> && !std::is_reference_v<T> &&
                         (std::is_arithmetic_v<T> || std::is_enum_v<T> || detail::has_serialize<T> ||
                          (std::is_class_v<T> && std::is_trivially_copyable_v<T> && !std::is_empty_v<T>))> {};

template <>
struct is_sendable<std::string> : std::true_type {};
template <class T, class A>
struct is_sendable<std::vector<T, A>> : is_sendable<T> {};
template <class T, class A>
struct is_sendable<std::list<T, A>> : is_sendable<T> {};
template <class T, class A>
struct is_sendable<std::deque<T, A>> : is_sendable<T> {};
template <class T, class C, class A>
struct is_sendable<std::set<T, C, A>> : is_sendable<T> {};
template <class K, class V, class C, class A>
struct is_sendable<std::map<K, V, C, A>> : std::conjunction<is_sendable<K>, is_sendable<V>> {};
template <class T, class H, class E, class A>
struct is_sendable<std::unordered_set<T, H, E, A>> : is_sendable<T> {};
template <class K, class V, class H, class E, class A>
struct is_sendable<std::unordered_map<K, V, H, E, A>> : std::conjunction<is_sendable<K>, is_sendable<V>> {};
template <class T>
struct is_sendable<std::optional<T>> : is_sendable<T> {};
template <class A, class B>
struct is_sendable<std::pair<A, B>> : std::conjunction<is_sendable<A>, is_sendable<B>> {};
template <class T, std::size_t N>
struct is_sendable<std::array<T, N>> : is_sendable<T> {};
template <class T>
struct is_sendable<std::complex<T>> : std::true_type {};
template <class... T>
struct is_sendable<std::tuple<T...>> : std::conjunction<is_sendable<T>...> {};

/// Shorthand for is_sendable<T>::value.
template <class T>
inline constexpr bool is_sendable_v = is_sendable<T>::value;

namespace detail {
/// Instantiated for every argument type (and map element type) of a remote executor's task: the
/// compiler names the offending type T in the instantiation it reports with the error.
template <class T>
struct require_sendable {
  static_assert(is_sendable_v<T>,
                "rankpool: an argument of this type cannot be sent to a worker (the type is T of the "
                "rankpool::detail::require_sendable<T> named with this error). Give it a serialize() member or "
                "free function, make it trivially copyable, or specialize rankpool::is_sendable<T>; pointers are "
                "never sendable");
  static constexpr bool value = true;
};
/// The same for every result type of a remote executor's task.
template <class T>
struct require_sendable_result {
  static_assert(is_sendable_v<T>,
                "rankpool: a result of this type cannot be sent back from a worker (the type is T of the "
                "rankpool::detail::require_sendable_result<T> named with this error). Give it a serialize() member "
                "or free function, make it trivially copyable, or specialize rankpool::is_sendable<T>; or return a "
                "sendable type");
  static constexpr bool value = true;
};
}  // namespace detail

}  // namespace rankpool

// Raw-byte classes are primitives to Boost: no tracking, no class info, and a contiguous array of
// them (vector<Point>) goes as one block.
namespace boost::serialization {
template <class T>
requires rankpool::detail::raw_class<T>
struct implementation_level<T> {
  typedef mpl::integral_c_tag tag;
  typedef mpl::int_<primitive_type> type;
  BOOST_STATIC_CONSTANT(int, value = primitive_type);
};
template <class T>
requires rankpool::detail::raw_class<T>
struct is_bitwise_serializable<T> : mpl::true_ {
};

/// std::tuple, element by element (Boost 1.74 has no support of its own).
template <class Archive, class... T>
void serialize(Archive& ar, std::tuple<T...>& t, const unsigned int) {
  std::apply([&](auto&... e) { ((ar & e), ...); }, t);
}
}  // namespace boost::serialization
