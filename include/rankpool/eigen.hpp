#pragma once
/// \file eigen.hpp
/// Makes every dense Eigen::Matrix and Eigen::Array sendable: dimensions, then the coefficients
/// as one raw block (never element by element), at top level and inside containers.

#include <Eigen/Core>
#include <boost/serialization/array_wrapper.hpp>
#include <cstdint>
#include <limits>
#include <rankpool/detail/codec.hpp>
#include <rankpool/serialization.hpp>
#include <rankpool/shared.hpp>

namespace rankpool {
namespace detail {
template <class T>
struct is_eigen_dense : std::false_type {};
template <class S, int R, int C, int O, int MR, int MC>
struct is_eigen_dense<Eigen::Matrix<S, R, C, O, MR, MC>> : std::true_type {};
template <class S, int R, int C, int O, int MR, int MC>
struct is_eigen_dense<Eigen::Array<S, R, C, O, MR, MC>> : std::true_type {};

template <class M>
void check_eigen_dims(std::uint64_t rows, std::uint64_t cols) {
  constexpr auto R = M::RowsAtCompileTime, C = M::ColsAtCompileTime;
  if ((R != Eigen::Dynamic && rows != static_cast<std::uint64_t>(R)) ||
      (C != Eigen::Dynamic && cols != static_cast<std::uint64_t>(C)) ||
      (M::MaxRowsAtCompileTime != Eigen::Dynamic && rows > static_cast<std::uint64_t>(M::MaxRowsAtCompileTime)) ||
      (M::MaxColsAtCompileTime != Eigen::Dynamic && cols > static_cast<std::uint64_t>(M::MaxColsAtCompileTime)))
    throw decode_error("rankpool: Eigen dimensions " + std::to_string(rows) + "x" + std::to_string(cols) +
                       " do not fit the receiving type");
}

template <class M>
struct codec<M, std::enable_if_t<is_eigen_dense<M>::value>> {
  using scalar = typename M::Scalar;
  static void write(writer& w, const M& m) {
    w.raw().put_value<std::uint64_t>(static_cast<std::uint64_t>(m.rows()));
    w.raw().put_value<std::uint64_t>(static_cast<std::uint64_t>(m.cols()));
    if constexpr (raw_bytes<scalar>) {
      w.raw().put(m.data(), static_cast<std::size_t>(m.size()) * sizeof(scalar));
    } else {
      for (Eigen::Index i = 0; i < m.size(); ++i) encode(w, m.data()[i]);
    }
  }
  static void read(reader& r, M& m) {
    auto rows = r.raw().get_value<std::uint64_t>();
    auto cols = r.raw().get_value<std::uint64_t>();
    check_eigen_dims<M>(rows, cols);
    // Each dimension must be a valid Eigen::Index even when the other is 0 (no coefficients).
    constexpr auto index_max = static_cast<std::uint64_t>(std::numeric_limits<Eigen::Index>::max());
    if (rows > index_max || cols > index_max) throw decode_error("rankpool: Eigen dimension out of range");
    if (rows != 0 && cols > (raw_bytes<scalar> ? r.raw().remaining() / sizeof(scalar) : r.raw().remaining()) / rows)
      throw decode_error("rankpool: Eigen dimensions exceed the message");
    m.resize(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    if constexpr (raw_bytes<scalar>) {
      r.raw().get(m.data(), static_cast<std::size_t>(m.size()) * sizeof(scalar));
    } else {
      for (Eigen::Index i = 0; i < m.size(); ++i) decode(r, m.data()[i]);
    }
  }
};
/// A dense Eigen value of plain scalars in a shared window: rows, columns, the coefficients in
/// the matrix's own storage order; read in place as an Eigen::Map.
template <class M>
struct shared_layout<M, std::enable_if_t<is_eigen_dense<M>::value && raw_bytes<typename M::Scalar> &&
                                         !std::is_trivially_copyable_v<M>>> {
  using scalar = typename M::Scalar;
  static constexpr bool contiguous = true;
  static std::size_t bytes(const M& m) noexcept { return static_cast<std::size_t>(m.size()) * sizeof(scalar); }
  static const void* data(const M& m) noexcept { return m.data(); }
  static std::array<std::uint64_t, 2> dims(const M& m) noexcept {
    return {static_cast<std::uint64_t>(m.rows()), static_cast<std::uint64_t>(m.cols())};
  }
  static Eigen::Map<const M> view(const char* p, std::size_t, std::uint64_t rows, std::uint64_t cols) {
    return Eigen::Map<const M>(reinterpret_cast<const scalar*>(p), static_cast<Eigen::Index>(rows),
                               static_cast<Eigen::Index>(cols));
  }
  static M rebuild(const char* p, std::size_t bytes, std::uint64_t rows, std::uint64_t cols) {
    return M(view(p, bytes, rows, cols));
  }
};
}  // namespace detail

template <class S, int R, int C, int O, int MR, int MC>
struct is_sendable<Eigen::Matrix<S, R, C, O, MR, MC>> : is_sendable<S> {};
template <class S, int R, int C, int O, int MR, int MC>
struct is_sendable<Eigen::Array<S, R, C, O, MR, MC>> : is_sendable<S> {};

}  // namespace rankpool

// Inside Boost-serialized containers (std::vector<Eigen::MatrixXd>, ...): same layout, through
// the archive's binary block path.
namespace rankpool::detail {
template <class Archive, class M>
void save_dense(Archive& ar, const M& m) {
  std::int64_t rows = m.rows(), cols = m.cols();
  ar << rows << cols;
  ar << boost::serialization::make_array(m.data(), static_cast<std::size_t>(m.size()));
}
template <class Archive, class M>
void load_dense(Archive& ar, M& m) {
  std::int64_t rows = 0, cols = 0;
  ar >> rows >> cols;
  if (rows < 0 || cols < 0) throw decode_error("rankpool: negative Eigen dimensions");
  check_eigen_dims<M>(static_cast<std::uint64_t>(rows), static_cast<std::uint64_t>(cols));
  // The coefficients must fit in what is left of the message (and rows * cols must not wrap).
  std::uint64_t left = UINT64_MAX;
  if constexpr (std::is_same_v<Archive, checked_iarchive>) left = ar.remaining();
  using S = typename M::Scalar;
  if (rows != 0 && static_cast<std::uint64_t>(cols) > left / sizeof(S) / static_cast<std::uint64_t>(rows))
    throw decode_error("rankpool: Eigen dimensions exceed the message");
  m.resize(rows, cols);
  ar >> boost::serialization::make_array(m.data(), static_cast<std::size_t>(m.size()));
}
}  // namespace rankpool::detail

namespace boost::serialization {
template <class Archive, class S, int R, int C, int O, int MR, int MC>
void serialize(Archive& ar, Eigen::Matrix<S, R, C, O, MR, MC>& m, const unsigned int) {
  if constexpr (Archive::is_saving::value) {
    rankpool::detail::save_dense(ar, m);
  } else {
    rankpool::detail::load_dense(ar, m);
  }
}
template <class Archive, class S, int R, int C, int O, int MR, int MC>
void serialize(Archive& ar, Eigen::Array<S, R, C, O, MR, MC>& m, const unsigned int) {
  if constexpr (Archive::is_saving::value) {
    rankpool::detail::save_dense(ar, m);
  } else {
    rankpool::detail::load_dense(ar, m);
  }
}
}  // namespace boost::serialization
