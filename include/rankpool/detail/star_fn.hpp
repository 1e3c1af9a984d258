#pragma once
// The callable behind executor.starmap: `f(std::get<I>(t)...)` for a tuple `t`, as Python's
// itertools.starmap. map then runs it like any callable, so the tuple is the element that
// travels; on an MPI executor the wrapper travels as its `f` does (callable_codec), as
// rankpool::partial does.

#include <tuple>
#include <type_traits>
#include <utility>

namespace rankpool::detail {

/// Calls `f` with the elements of the tuple (pair, array) it is given as its arguments.
template <class F>
struct star_fn {
  F f{};

  template <class Tuple>
  auto operator()(Tuple&& t) -> decltype(std::apply(std::declval<F&>(), std::forward<Tuple>(t))) {
    return std::apply(f, std::forward<Tuple>(t));
  }
  template <class Tuple>
  auto operator()(Tuple&& t) const -> decltype(std::apply(std::declval<const F&>(), std::forward<Tuple>(t))) {
    return std::apply(f, std::forward<Tuple>(t));
  }
};

template <class T>
struct is_star_fn : std::false_type {};
template <class F>
struct is_star_fn<star_fn<F>> : std::true_type {};

}  // namespace rankpool::detail
