#pragma once
// Encoding of values into message bodies. Raw-byte types, strings and vectors of raw-byte types
// are copied as one block; everything else goes through a Boost binary archive that is created
// lazily on the same buffer, at the same point on both sides, so the hot path of small plain
// arguments never builds an archive.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <boost/archive/archive_exception.hpp>
#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>

#include <rankpool/detail/buffer.hpp>
#include <rankpool/serialization.hpp>

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

 private:
  out_buffer buf_;
  std::optional<boost::archive::binary_oarchive> ar_;
};

class reader {
 public:
  reader(const char* data, std::size_t n) : buf_(data, n) {}
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;

  in_buffer& raw() noexcept { return buf_; }
  boost::archive::binary_iarchive& archive() {
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
  std::optional<boost::archive::binary_iarchive> ar_;
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
    }
  }
};

template <class T>
struct codec<T, std::enable_if_t<raw_bytes<T>>> {
  static void write(writer& w, const T& v) { w.raw().put(&v, sizeof v); }
  static void read(reader& r, T& v) { r.raw().get(&v, sizeof v); }
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
    v.resize(r.get_length(sizeof(T)));
    r.raw().get(v.data(), v.size() * sizeof(T));
  }
};

template <class... T>
struct codec<std::tuple<T...>> {
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
