#pragma once
// Team tasks (executor.submit_parallel / map_parallel): one call that runs on k worker ranks at
// once with a communicator of exactly those ranks. The root sends each member the same task
// body with its own team record after the invoker key (the team's ranks, the member's place,
// the tag that builds the communicator); each member builds the team with
// MPI_Comm_create_group, in which only the team's ranks take part (or takes the one it kept
// from an earlier team on the same ranks), runs f(team, args...) and frees or keeps it. The
// root gathers the k results (src/root/team_gather.hpp): the value is team rank 0's, the first
// exception of any member fails the future. Compiled part: src/worker/team.cpp.

#include <mpi.h>

#include <cstdint>
#include <optional>
#include <rankpool/detail/task.hpp>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace rankpool::detail {

/// A member's place in its team, as the root writes it after the invoker key.
struct team_record {
  std::uint32_t size;    // k: ranks in the team
  std::uint32_t member;  // this member's rank in the team
  std::int32_t tag;      // MPI_Comm_create_group's tag (the team's number, bounded)
  std::uint32_t cache;   // 0, or the id its members keep the communicator under (| team_fresh)
  // then `size` int32 ranks, in the pool's communicator (or the spawned workers' world)
};
static_assert(sizeof(team_record) == 16);

/// In team_record::cache: build the communicator anew and keep it under the id, retiring the one
/// kept there before. Without it, a nonzero id names a communicator every member kept already.
inline constexpr std::uint32_t team_fresh = 1u << 31;

/// Bytes of a team record and its ranks, for a team of `k`.
inline constexpr std::size_t team_record_bytes(std::size_t k) {
  return sizeof(team_record) + k * sizeof(std::int32_t);
}

/// This member's team communicator, from the record at the reader (which it consumes):
/// MPI_Comm_create_group over the communicator the worker serves on, the record's ranks, in
/// order; or, when the record names a kept one, that one (the root keeps the communicators of
/// the teams it starts most, and asks for a fresh one after a team on them failed or was
/// stopped). Throws mpi_error, or decode_error for a record that does not fit this pool.
MPI_Comm open_team(reader& in);
/// Frees a team communicator open_team built, after a task that ended `cleanly` (it returned a
/// value and was not asked to stop), or keeps it for the next team on the same ranks; never
/// throws (a failure is logged). A team whose task failed or was stopped may still have an
/// operation pending on it that a failed member never joined, and MPI cannot cancel a
/// collective: freeing it would let MPI give its context to a later communicator while that
/// operation still refers to it (Open MPI 4.1 crashed so). It is left allocated instead, until
/// MPI_Finalize.
void close_team(MPI_Comm& team, bool cleanly) noexcept;

/// The worker side of `submit_parallel(k, f, args...)`: read the team record, build the team,
/// call `f(team, args...)`, free the team.
template <class F, class... A>
struct team_invoker {
  using R = std::invoke_result_t<F&, MPI_Comm, A&&...>;
  static void run(reader& in, writer& out) noexcept {
    std::optional<F> f;
    std::optional<std::tuple<A...>> args;
    MPI_Comm team = MPI_COMM_NULL;
    try {
      team = open_team(in);
      f.emplace(callable_codec<F>::read(in));
      args.emplace();
      decode(in, *args);
      if (in.raw().remaining() != 0) throw decode_error("rankpool: trailing bytes after the team task's arguments");
    } catch (...) {
      close_team(team, true);  // nothing ran on it
      write_exception(out, std::current_exception());
      return;
    }
    const std::size_t mark = out.raw().size();
    write_outcome<R>(out, [&]() -> R {
      return std::apply([&](auto&&... a) -> R { return std::invoke(*f, team, std::move(a)...); }, std::move(*args));
    });
    const bool returned = static_cast<std::uint8_t>(out.raw().bytes()[mark]) == result_ok;
    close_team(team, returned && !stop_requested());
  }
  static inline const std::uint64_t key = register_invoker(typeid(team_invoker).name(), &run);
};

/// The root's side of one team call: it never runs in this process; its bytes are the body
/// every member gets (the dispatcher puts each member's team record after the invoker key),
/// and team rank 0's result completes the future: a `shared_state<R>` for submit_parallel, or a
/// one-element chunk for map_parallel (whose results a map_range reads).
template <class R, class F, class... A>
class team_task final : public task {
 public:
  using chunk_type = std::vector<outcome<R>>;
  team_task(std::shared_ptr<shared_state<R>> s, std::size_t k, F f, std::tuple<A...> args)
      : value_(std::move(s)), f_(std::move(f)), args_(std::move(args)) {
    state_ = value_;
    team = k;
  }
  team_task(std::shared_ptr<shared_state<chunk_type>> s, std::size_t k, F f, std::tuple<A...> args)
      : chunk_(std::move(s)), f_(std::move(f)), args_(std::move(args)) {
    state_ = chunk_;
    team = k;
  }
  void encode_body() {
    if (!bytes_.empty()) return;
    writer w;
    reserve_header(w);
    w.raw().put_value(team_invoker<F, A...>::key);
    callable_codec<F>::write(w, f_);
    encode(w, *args_);
    keep(w.take_kept());
    bytes_ = w.take();
  }
  void drop_local() { args_.reset(); }
  const char* type_name() const noexcept override { return typeid(team_invoker<F, A...>).name(); }
  const void* function_address() const noexcept override {
    if constexpr (function_pointer<F>) return reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(f_));
    return nullptr;
  }
  void run_here(time_point) noexcept override {
    fail(std::make_exception_ptr(invalid_state_error("rankpool: a team task cannot run on the root")));
  }
  void complete_from(reader& in) noexcept override {
    try {
      if (value_) {
        complete_value<R>(*value_, in);
        return;
      }
      chunk_type one(1);
      if (in.raw().get_value<std::uint8_t>() != result_ok) {
        one[0].error = read_exception(in);
      } else if constexpr (std::is_void_v<R>) {
        one[0].value.emplace();
      } else {
        in.reset_archive();
        decode(in, one[0].value.emplace());
      }
      chunk_->set_value(std::move(one));
    } catch (...) {
      fail(make_result_decode_error(std::current_exception()));
    }
  }

 private:
  std::shared_ptr<shared_state<R>> value_;           // submit_parallel
  std::shared_ptr<shared_state<chunk_type>> chunk_;  // map_parallel
  F f_;
  std::optional<std::tuple<A...>> args_;
};

}  // namespace rankpool::detail
