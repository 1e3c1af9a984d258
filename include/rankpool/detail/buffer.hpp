#pragma once
// Byte buffers that double as std::streambufs, so raw copies and Boost archives write into (and
// read from) one contiguous message without an intermediate stream.

#include <cstddef>
#include <cstring>
#include <rankpool/errors.hpp>
#include <streambuf>
#include <string>
#include <vector>

namespace rankpool::detail {

/// A message body failed to decode (truncated, oversized, or not what the type expects).
class decode_error : public error {
 public:
  using error::error;
};

/// Appends to a growing byte vector.
class out_buffer final : public std::streambuf {
 public:
  out_buffer() = default;
  explicit out_buffer(std::vector<char> reuse) : data_(std::move(reuse)) { data_.clear(); }

  void put(const void* p, std::size_t n) {
    if (n == 0) return;
    if (n >= 4096) {
      // One pass: resize() would first zero the new bytes, then memcpy would write them again.
      const char* c = static_cast<const char*>(p);
      data_.insert(data_.end(), c, c + n);
      return;
    }
    auto old = data_.size();
    data_.resize(old + n);
    std::memcpy(data_.data() + old, p, n);
  }
  template <class T>
  void put_value(const T& v) {
    put(&v, sizeof v);
  }
  std::size_t size() const noexcept { return data_.size(); }
  void truncate(std::size_t n) { data_.resize(n); }
  std::vector<char>& bytes() noexcept { return data_; }
  std::vector<char> take() noexcept { return std::move(data_); }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    put(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      data_.push_back(traits_type::to_char_type(c));
    }
    return traits_type::not_eof(c);
  }

 private:
  std::vector<char> data_;
};

/// Reads from a byte range it does not own; every read is bounds-checked and throws decode_error.
class in_buffer final : public std::streambuf {
 public:
  in_buffer(const char* data, std::size_t n) {
    auto* p = const_cast<char*>(data);  // streambuf's interface is non-const; we never write
    setg(p, p, p + n);
  }
  void get(void* dst, std::size_t n) {
    if (remaining() < n)
      throw decode_error("rankpool: message truncated (need " + std::to_string(n) + " bytes, have " +
                         std::to_string(remaining()) + ")");
    if (n) std::memcpy(dst, gptr(), n);
    gbump_big(n);
  }
  template <class T>
  T get_value() {
    T v;
    get(&v, sizeof v);
    return v;
  }
  const char* current() const noexcept { return gptr(); }
  void skip(std::size_t n) {
    if (remaining() < n) throw decode_error("rankpool: message truncated");
    gbump_big(n);
  }
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(egptr() - gptr()); }

 protected:
  std::streamsize xsgetn(char* s, std::streamsize n) override {
    auto k = std::min<std::size_t>(static_cast<std::size_t>(n), remaining());
    if (k) std::memcpy(s, gptr(), k);
    gbump_big(k);
    return static_cast<std::streamsize>(k);
  }

 private:
  void gbump_big(std::size_t n) {
    // gbump takes an int; step in pieces so payloads over 2 GiB work
    while (n > 0) {
      auto step = std::min<std::size_t>(n, 1u << 30);
      gbump(static_cast<int>(step));
      n -= step;
    }
  }
};

}  // namespace rankpool::detail
