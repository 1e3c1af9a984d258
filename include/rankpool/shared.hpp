#pragma once
/// \file shared.hpp
/// rankpool::shared<T>: a value placed once per node (executor.share), read by many tasks
/// without travelling with each of them.
///
///     rankpool::shared<std::vector<double>> h = pool.share(std::move(big));   // placed now
///     double sum_of(const rankpool::shared<std::vector<double>>& h, std::size_t i, std::size_t n) {
///       std::span<const double> all = h.view();                             // no copy
///       return std::accumulate(all.begin() + i, all.begin() + i + n, 0.0);
///     }
///     auto f = pool.submit(sum_of, h, 0, 1000);                              // h: a few bytes
///
/// Where the value lives:
/// - **Contiguous values** (arithmetic vectors, trivially copyable types and arrays of them,
///   dense Eigen types with <rankpool/eigen.hpp>): once per node, in an MPI-3 shared-memory
///   window (`MPI_Win_allocate_shared` over the ranks of the pool that share memory). The root
///   writes its node's copy and sends one copy to one rank of every other node. `view()` reads
///   it in place on every rank (a `std::span`, an `Eigen::Map`, or for a trivially copyable T
///   the T itself). `*h` of a vector or Eigen matrix builds a `T` from it on the first call on
///   each rank (C++ containers own their storage, so a `const std::vector&` cannot alias the
///   window); tasks that must not copy use `view()`.
/// - **Other values** (any sendable type): encoded once on the root, sent once to every worker
///   rank and decoded there on first use; `*h` reads that copy.
/// - **thread_executor** (and a one-rank comm_executor): the value itself, no copy at all.
///
/// The value is released when the last handle on the root is gone and no task holding it runs.
/// Reading a handle after its executor shut down throws invalid_state_error.

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <rankpool/detail/codec.hpp>
#include <rankpool/detail/shared_block.hpp>
#include <rankpool/errors.hpp>
#include <rankpool/serialization.hpp>
#include <span>
#include <type_traits>
#include <vector>

namespace rankpool {

namespace detail {

/// How a type's value lies in one block of bytes, when it does (`contiguous`): its size, its
/// bytes, its dimensions, a view of bytes placed elsewhere, and a T rebuilt from them.
/// Specialized below for trivially copyable types and arithmetic vectors, in eigen.hpp for
/// dense Eigen types.
template <class T, class = void>
struct shared_layout {
  static constexpr bool contiguous = false;
};

/// A trivially copyable value is its bytes: the view is the T itself, in the window.
template <class T>
struct shared_layout<T, std::enable_if_t<std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> &&
                                         !std::is_member_pointer_v<T> && is_sendable<T>::value>> {
  static constexpr bool contiguous = true;
  static std::size_t bytes(const T&) noexcept { return sizeof(T); }
  static const void* data(const T& v) noexcept { return &v; }
  static std::array<std::uint64_t, 2> dims(const T&) noexcept { return {0, 0}; }
  static const T& view(const char* p, std::size_t, std::uint64_t, std::uint64_t) noexcept {
    return *reinterpret_cast<const T*>(p);
  }
};

/// A vector of plain elements: the elements, one after another.
template <class E>
struct shared_layout<std::vector<E>, std::enable_if_t<raw_bytes<E>>> {
  static constexpr bool contiguous = true;
  static std::size_t bytes(const std::vector<E>& v) noexcept { return v.size() * sizeof(E); }
  static const void* data(const std::vector<E>& v) noexcept { return v.data(); }
  static std::array<std::uint64_t, 2> dims(const std::vector<E>& v) noexcept { return {v.size(), 0}; }
  static std::span<const E> view(const char* p, std::size_t, std::uint64_t n, std::uint64_t) noexcept {
    return {reinterpret_cast<const E*>(p), static_cast<std::size_t>(n)};
  }
  static std::vector<E> rebuild(const char* p, std::size_t bytes, std::uint64_t n, std::uint64_t m) {
    auto s = view(p, bytes, n, m);
    return std::vector<E>(s.begin(), s.end());
  }
};

template <class T>
struct shared_codec;
}  // namespace detail

/// A handle to a value placed by `executor.share(value)`: a few bytes, copyable, sendable as a
/// task argument (or bound with rankpool::partial), read on the root and on every worker. See
/// the file comment for where the value lives and what a read costs.
template <class T>
class shared {
 public:
  /// An empty handle (what a default-constructed argument holds until decoded).
  shared() = default;

  /// The value. On a worker: for a trivially copyable T it is read in the node's window; for a
  /// vector or Eigen matrix a T is built from the window once per rank; other types were
  /// decoded once per rank. Throws invalid_state_error on an empty handle and after the
  /// executor that placed it shut down.
  const T& get() const {
    const detail::shared_block& b = block();
    using L = detail::shared_layout<T>;
    if constexpr (L::contiguous && std::is_trivially_copyable_v<T>) {
      if (b.place() != detail::shared_block::where::per_rank) {
        const char* p = b.data();
        return L::view(p, b.bytes(), b.dim(0), b.dim(1));
      }
    }
    return b.template value<T>([&]() -> std::shared_ptr<const T> {
      if constexpr (L::contiguous && !std::is_trivially_copyable_v<T>) {
        if (b.has_bytes()) {
          const char* p = b.data();
          return std::make_shared<const T>(L::rebuild(p, b.bytes(), b.dim(0), b.dim(1)));
        }
      }
      return decode_here(b);
    });
  }
  /// The value, as get().
  const T& operator*() const { return get(); }
  /// The value's members, as get().
  const T* operator->() const { return &get(); }

  /// The value read in place, without a copy: `std::span<const E>` for a vector of E,
  /// `Eigen::Map<const M>` for an Eigen matrix M, `const T&` for a trivially copyable T.
  /// Only for the contiguous types; throws as get().
  auto view() const requires detail::shared_layout<T>::contiguous {
    using L = detail::shared_layout<T>;
    const detail::shared_block& b = block();
    if (!b.has_bytes()) {
      // Held as an object only: view the object.
      const T& v = get();
      return L::view(static_cast<const char*>(L::data(v)), L::bytes(v), L::dims(v)[0], L::dims(v)[1]);
    }
    const char* p = b.data();
    return L::view(p, b.bytes(), b.dim(0), b.dim(1));
  }

  /// Whether the handle refers to a value.
  explicit operator bool() const noexcept { return block_ != nullptr; }
  /// The value's number in its executor (share() calls count from 1); 0 for an empty handle.
  std::uint64_t id() const noexcept { return block_ ? block_->id() : 0; }

  /// Internal: a handle to `b` (executor.share and the task decoder make these).
  explicit shared(std::shared_ptr<detail::shared_block> b) noexcept : block_(std::move(b)) {}

 private:
  friend struct detail::shared_codec<T>;

  const detail::shared_block& block() const {
    if (!block_) throw invalid_state_error("rankpool: an empty shared<T> handle was read");
    return *block_;
  }
  static std::shared_ptr<const T> decode_here(const detail::shared_block& b) {
    const auto& bytes = b.encoded();
    detail::reader r(bytes.data(), bytes.size());
    auto v = std::make_shared<T>();
    detail::decode(r, *v);
    return v;
  }

  std::shared_ptr<detail::shared_block> block_;
};

/// A handle travels as its number; the task that carries it keeps the value alive on the root.
template <class T>
struct is_sendable<shared<T>> : std::true_type {};

namespace detail {
template <class T>
struct shared_codec {
  static void write(writer& w, const shared<T>& h) {
    if (!h) throw invalid_state_error("rankpool: an empty shared<T> handle cannot be sent");
    w.raw().put_value<std::uint64_t>(h.id());
    w.keep(h.block_);
  }
  static void read(reader& r, shared<T>& h) { h = shared<T>(find_shared(r.raw().get_value<std::uint64_t>())); }
};
template <class T>
struct codec<shared<T>> : shared_codec<T> {};
}  // namespace detail

}  // namespace rankpool
