#pragma once
// Encoding of values into message bodies. Raw-byte types, strings and vectors of raw-byte types
// are copied as one block; everything else goes through a Boost binary archive that is created
// lazily on the same buffer, at the same point on both sides, so the hot path of small plain
// arguments never builds an archive.

#include <array>
#include <boost/archive/archive_exception.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <cstdint>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <rankpool/detail/buffer.hpp>
#include <rankpool/detail/checked_archive.hpp>
#include <rankpool/serialization.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace rankpool::detail {

inline constexpr unsigned archive_flags = boost::archive::no_header | boost::archive::no_codecvt;

class writer {
 public:
  writer() = default;
  explicit writer(std::vector<char> reuse) : buf_(std::move(reuse)) {}
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  out_buffer& raw() noexcept { return buf_; }
  boost::archive::binary_oarchive& archive() {
    if (!ar_) ar_.emplace(buf_, archive_flags);
    return *ar_;
  }
  /// Drops the archive (its state refers to what was written so far).
  void reset_archive() noexcept { ar_.reset(); }
  std::vector<char> take() {
    ar_.reset();
    return buf_.take();
  }
  /// Keeps `p` alive with the task being encoded: a shared value's handle writes only its
  /// number, and the value must stay placed until the task is done (shared.hpp).
  void keep(std::shared_ptr<const void> p) { kept_.push_back(std::move(p)); }
  /// What keep() collected, for the task to hold.
  std::vector<std::shared_ptr<const void>> take_kept() noexcept { return std::move(kept_); }

 private:
  out_buffer buf_;
  std::optional<boost::archive::binary_oarchive> ar_;
  std::vector<std::shared_ptr<const void>> kept_;
};

class reader {
 public:
  reader(const char* data, std::size_t n) : buf_(data, n) {}
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;

  in_buffer& raw() noexcept { return buf_; }
  checked_iarchive& archive() {
    if (!ar_) ar_.emplace(buf_, archive_flags);
    return *ar_;
  }
  void reset_archive() noexcept { ar_.reset(); }
  /// A length read from the wire, checked against what is left (no huge allocation from junk).
  std::size_t get_length(std::size_t element_size) {
    auto n = buf_.get_value<std::uint64_t>();
    if (element_size && n > buf_.remaining() / element_size)
      throw decode_error("rankpool: length " + std::to_string(n) + " exceeds the message");
    return static_cast<std::size_t>(n);
  }

 private:
  in_buffer buf_;
  std::optional<checked_iarchive> ar_;
};

/// codec<T>: write(writer&, const T&) and read(reader&, T&). Specialized below and in eigen.hpp.
template <class T, class = void>
struct codec {
  static void write(writer& w, const T& v) { w.archive() << v; }
  static void read(reader& r, T& v) {
    try {
      r.archive() >> v;
    } catch (const boost::archive::archive_exception& e) {
      throw decode_error(std::string("rankpool: archive decode failed: ") + e.what());
    } catch (const std::bad_alloc&) {
      throw decode_error("rankpool: archive decode failed: a length in the message is absurd (out of memory)");
    } catch (const std::length_error& e) {
      throw decode_error(std::string("rankpool: archive decode failed: ") + e.what());
    }
  }
};

template <class T>
struct codec<T, std::enable_if_t<raw_bytes<T>>> {
  static void write(writer& w, const T& v) { w.raw().put(&v, sizeof v); }
  static void read(reader& r, T& v) { r.raw().get(&v, sizeof v); }
};

/// A byte that must be 0 or 1: any other value in a bool is undefined behaviour.
template <>
struct codec<bool> {
  static void write(writer& w, const bool& v) { w.raw().put_value<std::uint8_t>(v ? 1 : 0); }
  static void read(reader& r, bool& v) {
    auto b = r.raw().get_value<std::uint8_t>();
    if (b > 1) throw decode_error("rankpool: a bool in the message is neither 0 nor 1");
    v = b == 1;
  }
};

template <>
struct codec<std::string> {
  static void write(writer& w, const std::string& s) {
    w.raw().put_value<std::uint64_t>(s.size());
    w.raw().put(s.data(), s.size());
  }
  static void read(reader& r, std::string& s) {
    s.resize(r.get_length(1));
    r.raw().get(s.data(), s.size());
  }
};

template <class T>
struct codec<std::vector<T>, std::enable_if_t<raw_bytes<T> && !std::is_same_v<T, bool>>> {
  static void write(writer& w, const std::vector<T>& v) {
    w.raw().put_value<std::uint64_t>(v.size());
    w.raw().put(v.data(), v.size() * sizeof(T));
  }
  static void read(reader& r, std::vector<T>& v) {
    const std::size_t n = r.get_length(sizeof(T));
    if constexpr (sizeof(T) == 1) {
      // Bytes need no alignment: copy them in one pass instead of zeroing, then copying.
      const auto* p = reinterpret_cast<const T*>(r.raw().current());
      v.assign(p, p + n);
      r.raw().skip(n);
    } else {
      v.resize(n);
      r.raw().get(v.data(), n * sizeof(T));
    }
  }
};

/// The fewest bytes one encoded T can take, so a count read from the wire can be checked
/// against what is left before anything is allocated.
template <class T>
constexpr std::size_t min_encoded_size() {
  if constexpr (raw_bytes<T>)
    return sizeof(T);
  else
    return 1;
}

// Standard containers are encoded natively (a checked count, then the elements), so only user
// classes go through Boost, and a lying count cannot make a huge allocation.
template <class C>
struct sequence_codec {
  using T = typename C::value_type;
  static void write(writer& w, const C& c) {
    w.raw().put_value<std::uint64_t>(static_cast<std::uint64_t>(std::size(c)));
    for (const auto& e : c) codec<T>::write(w, e);
  }
  static void read(reader& r, C& c) {
    auto n = r.get_length(min_encoded_size<T>());
    c.clear();
    if constexpr (requires { c.reserve(n); }) c.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      T e{};
      codec<T>::read(r, e);
      c.push_back(std::move(e));
    }
  }
};

template <class C>
struct set_codec {
  using T = typename C::value_type;
  static void write(writer& w, const C& c) {
    w.raw().put_value<std::uint64_t>(static_cast<std::uint64_t>(c.size()));
    for (const auto& e : c) codec<T>::write(w, e);
  }
  static void read(reader& r, C& c) {
    auto n = r.get_length(min_encoded_size<T>());
    c.clear();
    for (std::size_t i = 0; i < n; ++i) {
      T e{};
      codec<T>::read(r, e);
      c.insert(c.end(), std::move(e));
    }
  }
};

template <class C>
struct map_codec {
  using K = typename C::key_type;
  using V = typename C::mapped_type;
  static void write(writer& w, const C& c) {
    w.raw().put_value<std::uint64_t>(static_cast<std::uint64_t>(c.size()));
    for (const auto& [k, v] : c) {
      codec<K>::write(w, k);
      codec<V>::write(w, v);
    }
  }
  static void read(reader& r, C& c) {
    auto n = r.get_length(min_encoded_size<K>() + min_encoded_size<V>());
    c.clear();
    for (std::size_t i = 0; i < n; ++i) {
      K k{};
      V v{};
      codec<K>::read(r, k);
      codec<V>::read(r, v);
      c.emplace_hint(c.end(), std::move(k), std::move(v));
    }
  }
};

template <class T, class A>
struct codec<std::vector<T, A>,
             std::enable_if_t<!(raw_bytes<T> && std::is_same_v<A, std::allocator<T>>)&&!std::is_same_v<T, bool>>>
    : sequence_codec<std::vector<T, A>> {};
template <class T, class A>
struct codec<std::list<T, A>> : sequence_codec<std::list<T, A>> {};
template <class T, class A>
struct codec<std::deque<T, A>> : sequence_codec<std::deque<T, A>> {};
template <class T, class C, class A>
struct codec<std::set<T, C, A>> : set_codec<std::set<T, C, A>> {};
template <class T, class H, class E, class A>
struct codec<std::unordered_set<T, H, E, A>> : set_codec<std::unordered_set<T, H, E, A>> {};
template <class K, class V, class C, class A>
struct codec<std::map<K, V, C, A>> : map_codec<std::map<K, V, C, A>> {};
template <class K, class V, class H, class E, class A>
struct codec<std::unordered_map<K, V, H, E, A>> : map_codec<std::unordered_map<K, V, H, E, A>> {};

template <class A, class B>
struct codec<std::pair<A, B>, std::enable_if_t<!raw_bytes<std::pair<A, B>>>> {
  static void write(writer& w, const std::pair<A, B>& p) {
    codec<A>::write(w, p.first);
    codec<B>::write(w, p.second);
  }
  static void read(reader& r, std::pair<A, B>& p) {
    codec<A>::read(r, p.first);
    codec<B>::read(r, p.second);
  }
};

template <class T>
struct codec<std::optional<T>, std::enable_if_t<!raw_bytes<std::optional<T>>>> {
  static void write(writer& w, const std::optional<T>& o) {
    w.raw().put_value<std::uint8_t>(o ? 1 : 0);
    if (o) codec<T>::write(w, *o);
  }
  static void read(reader& r, std::optional<T>& o) {
    auto has = r.raw().get_value<std::uint8_t>();
    if (has > 1) throw decode_error("rankpool: bad std::optional flag");
    if (!has) {
      o.reset();
      return;
    }
    codec<T>::read(r, o.emplace());
  }
};

template <class T, std::size_t N>
struct codec<std::array<T, N>, std::enable_if_t<!raw_bytes<T>>> {
  static void write(writer& w, const std::array<T, N>& a) {
    for (const auto& e : a) codec<T>::write(w, e);
  }
  static void read(reader& r, std::array<T, N>& a) {
    for (auto& e : a) codec<T>::read(r, e);
  }
};
template <class T, std::size_t N>
struct codec<std::array<T, N>, std::enable_if_t<raw_bytes<T>>> {
  static void write(writer& w, const std::array<T, N>& a) { w.raw().put(a.data(), sizeof(T) * N); }
  static void read(reader& r, std::array<T, N>& a) { r.raw().get(a.data(), sizeof(T) * N); }
};

template <class... T>
struct codec<std::tuple<T...>, std::enable_if_t<!raw_bytes<std::tuple<T...>>>> {
  static void write(writer& w, const std::tuple<T...>& t) {
    std::apply([&](const auto&... e) { (codec<std::decay_t<decltype(e)>>::write(w, e), ...); }, t);
  }
  static void read(reader& r, std::tuple<T...>& t) {
    std::apply([&](auto&... e) { (codec<std::decay_t<decltype(e)>>::read(r, e), ...); }, t);
  }
};

template <class T>
void encode(writer& w, const T& v) {
  codec<T>::write(w, v);
}
template <class T>
void decode(reader& r, T& v) {
  codec<T>::read(r, v);
}

}  // namespace rankpool::detail
