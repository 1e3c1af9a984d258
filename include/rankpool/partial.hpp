#pragma once
/// \file partial.hpp
/// rankpool::partial(f, bound...): a callable with its first arguments bound, as Python's
/// functools.partial, sendable to workers when `f` and the bound values are.
///
///     Eigen::VectorXd singular_values_of(const rankpool::shared<Stack>& stack, std::size_t i);
///     auto h = pool.share(std::move(stack));
///     for (auto& sv : pool.map(rankpool::partial(singular_values_of, h), indices)) use(sv);

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace rankpool {

namespace detail {
/// The callable rankpool::partial returns: `f(bound..., args...)`, the bound values passed as
/// lvalues (so it may be called again), the rest as given.
template <class F, class... B>
struct partial_fn {
  F f{};
  std::tuple<B...> bound{};

  template <class... A>
  auto operator()(A&&... args) -> std::invoke_result_t<F&, B&..., A&&...> {
    return std::apply([&](B&... b) -> decltype(auto) { return std::invoke(f, b..., std::forward<A>(args)...); }, bound);
  }
  template <class... A>
  auto operator()(A&&... args) const -> std::invoke_result_t<const F&, const B&..., A&&...> {
    return std::apply([&](const B&... b) -> decltype(auto) { return std::invoke(f, b..., std::forward<A>(args)...); },
                      bound);
  }
};

template <class T>
struct is_partial : std::false_type {};
template <class F, class... B>
struct is_partial<partial_fn<F, B...>> : std::true_type {};
}  // namespace detail

/// `f` with `bound...` as its first arguments, copied (moved from rvalues) into the result. On
/// an MPI executor the result travels as `f` does (a function pointer by address, a capture-less
/// lambda by type) followed by the bound values, each of which must be sendable.
template <class F, class... B>
detail::partial_fn<std::decay_t<F>, std::decay_t<B>...> partial(F&& f, B&&... bound) {
  return {std::forward<F>(f), std::tuple<std::decay_t<B>...>(std::forward<B>(bound)...)};
}

}  // namespace rankpool
