#pragma once
// Tasks as the executors see them, and how a callable travels: the invoker registry (keyed by
// the mangled name of the invoker type, the same in every copy of one executable), callables
// encoded by kind, results and exceptions encoded on the worker and rebuilt on the root.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <rankpool/detail/codec.hpp>
#include <rankpool/detail/exception_codec.hpp>
#include <rankpool/detail/registry.hpp>
#include <rankpool/detail/retry.hpp>
#include <rankpool/detail/star_fn.hpp>
#include <rankpool/detail/state.hpp>
#include <rankpool/future.hpp>
#include <rankpool/partial.hpp>
#include <rankpool/this_task.hpp>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

namespace rankpool::detail {

/// Room left at the front of every encoded task and result for the wire header (src/wire/framing.hpp),
/// so the transport sends the executor's buffer as it is.
inline constexpr std::size_t task_header_room = 24;

/// A writer whose buffer starts with the header's room.
inline void reserve_header(writer& w) {
  // One allocation for the header and a small task's body (a function and a few numbers: about
  // 60 bytes), instead of growing 24 -> 48 -> 96 bytes, two copies and 32 bytes more per task.
  w.raw().bytes().reserve(task_header_room + 48);
  const char zeros[task_header_room] = {};
  w.raw().put(zeros, sizeof zeros);
}

inline constexpr std::uint8_t result_ok = 0;
/// How a chunk's results follow its count: one outcome per element, or (all calls succeeded and
/// the values are plain bytes) one block of values.
inline constexpr std::uint8_t chunk_per_element = 0;
inline constexpr std::uint8_t chunk_all_ok = 1;
inline constexpr std::uint8_t result_exception = 1;

// ---- callables ---------------------------------------------------------------------------

template <class F>
concept function_pointer = std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>;

template <class F>
struct callable_codec;

/// Whether a wrapper's parts can travel: its callable, and a partial's bound values (is_sendable
/// of each).
template <class P>
struct parts_sendable : std::false_type {};
template <class F, class... B>
struct parts_sendable<partial_fn<F, B...>>
    : std::bool_constant<callable_codec<F>::sendable && (is_sendable_v<B> && ... && true)> {};
template <class F>
struct parts_sendable<star_fn<F>> : std::bool_constant<callable_codec<F>::sendable> {};

template <class F>
struct callable_codec {
  // rankpool::partial and starmap's star_fn: their function as any callable travels, then a
  // partial's bound values.
  static constexpr bool by_parts = is_partial<F>::value || is_star_fn<F>::value;
  static constexpr bool by_address = !by_parts && function_pointer<F>;
  static constexpr bool by_serialize = !by_parts && !by_address && has_serialize<F>;
  static constexpr bool by_type =
      !by_parts && !by_address && !by_serialize && std::is_empty_v<F> && std::is_default_constructible_v<F>;
  static constexpr bool by_bytes = !by_parts && !by_address && !by_serialize && !by_type && std::is_class_v<F> &&
                                   std::is_trivially_copyable_v<F> && std::is_default_constructible_v<F> &&
                                   !std::is_same_v<F, std::function<void()>>;
  /// The worker can rebuild F (require_sendable_callable says why not).
  static constexpr bool sendable =
      (by_parts && parts_sendable<F>::value) || by_address || by_serialize || by_type || by_bytes;

  static void write(writer& w, const F& f) {
    if constexpr (by_parts) {
      callable_codec<std::decay_t<decltype(f.f)>>::write(w, f.f);
      if constexpr (is_partial<F>::value) encode(w, f.bound);
    } else if constexpr (by_address) {
      auto a = encode_code_address(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(f)));
      w.raw().put_value(a);
    } else if constexpr (by_type) {
      (void)w, (void)f;  // the type is the identity: nothing to send
    } else {
      encode(w, f);
    }
  }
  static F read(reader& r) {
    if constexpr (by_parts) {
      using inner = callable_codec<std::decay_t<decltype(std::declval<F&>().f)>>;
      if constexpr (is_partial<F>::value) {
        F f{inner::read(r), {}};
        decode(r, f.bound);
        return f;
      } else {
        return F{inner::read(r)};
      }
    } else if constexpr (by_address) {
      auto a = r.raw().get_value<code_address>();
      return reinterpret_cast<F>(reinterpret_cast<std::uintptr_t>(decode_code_address(a)));
    } else {
      F f{};
      if constexpr (!by_type) decode(r, f);
      return f;
    }
  }
};

/// Instantiated for every callable of a remote executor's task: each static_assert says why the
/// worker cannot rebuild it and what to do; the compiler names the callable's type F in the
/// instantiation it reports with the error.
template <class F>
struct require_sendable_callable {
  static constexpr bool sendable = callable_codec<F>::sendable;
  static constexpr bool object = std::is_class_v<F>;
  static constexpr bool default_constructible = std::is_default_constructible_v<F>;
  static_assert(sendable || !object || default_constructible,
                "rankpool: a capturing lambda (or a function object that is not default constructible) cannot be "
                "sent to another process: the worker must construct the callable itself. Pass the captured values "
                "as arguments, or use a default-constructible function object with a serialize member");
  static_assert(sendable || !object || !default_constructible,
                "rankpool: this function object cannot be sent to another process: its state is not trivially "
                "copyable and it has no public serialize member. Give it one (Boost.Serialization), or pass its "
                "state as arguments");
  static_assert(!callable_codec<F>::by_serialize || default_constructible,
                "rankpool: a function object with a serialize member must be default constructible to be sent to "
                "another process: the worker constructs one, then loads its state. Add a default constructor");
  static_assert(sendable || object,
                "rankpool: this callable cannot be sent to another process. Submit a free function, a capture-less "
                "lambda or a default-constructible function object");
  static constexpr bool value = true;
};

/// One element of a map chunk: a value or the exception its call threw.
template <class R>
struct outcome {
  std::optional<map_value_t<R>> value;
  std::exception_ptr error;
};

/// Writes status ok and the value of `produce()`, or status exception; never throws.
template <class R, class Produce>
void write_outcome(writer& out, Produce&& produce) noexcept {
  // Each value gets a fresh archive, so that an error that discards a half-written value cannot
  // leave the two sides with different archive state (Boost writes class info once per archive).
  out.reset_archive();
  auto mark = out.raw().size();
  try {
    if constexpr (std::is_void_v<R>) {
      produce();
      out.raw().put_value(result_ok);
    } else {
      R r = produce();
      out.raw().put_value(result_ok);
      encode(out, r);
    }
  } catch (...) {
    out.reset_archive();
    out.raw().truncate(mark);
    write_exception(out, std::current_exception());
  }
}

/// The worker side of `submit(f, args...)`.
template <class F, class... A>
struct invoker {
  using R = std::invoke_result_t<F&, A&&...>;
  static void run(reader& in, writer& out) noexcept {
    std::optional<F> f;
    std::optional<std::tuple<A...>> args;
    try {
      f.emplace(callable_codec<F>::read(in));
      args.emplace();
      decode(in, *args);
      if (in.raw().remaining() != 0) throw decode_error("rankpool: trailing bytes after the task's arguments");
    } catch (...) {
      write_exception(out, std::current_exception());
      return;
    }
    write_outcome<R>(out, [&]() -> R { return std::apply(*f, std::move(*args)); });
  }
  static inline const std::uint64_t key = register_invoker(typeid(invoker).name(), &run);
};

/// The worker side of one chunk of `map(f, range)`: every element's outcome, in order.
template <class F, class X>
struct chunk_invoker {
  using R = std::invoke_result_t<F&, X&&>;
  static void run(reader& in, writer& out) noexcept {
    std::optional<F> f;
    std::vector<X> items;
    try {
      f.emplace(callable_codec<F>::read(in));
      decode(in, items);
      if (in.raw().remaining() != 0) throw decode_error("rankpool: trailing bytes after the chunk");
    } catch (...) {
      write_exception(out, std::current_exception());
      return;
    }
    out.raw().put_value(result_ok);
    out.raw().put_value<std::uint64_t>(items.size());
    std::size_t done = 0;
    if constexpr (std::is_void_v<R> || raw_bytes<R>) {
      // Fast path: while every call succeeds, plain values go as one block after a mode byte.
      std::vector<map_value_t<R>> values;
      values.reserve(items.size());
      try {
        for (; done < items.size(); ++done) {
          if constexpr (std::is_void_v<R>) {
            std::invoke(*f, std::move(items[done]));
            values.emplace_back();
          } else {
            values.push_back(std::invoke(*f, std::move(items[done])));
          }
        }
      } catch (...) {
        // Element `done` threw: fall back to one outcome per element, keeping what succeeded.
        out.raw().put_value(chunk_per_element);
        for (std::size_t i = 0; i < done; ++i) {
          out.raw().put_value(result_ok);
          if constexpr (!std::is_void_v<R>) out.raw().put_value(values[i]);
        }
        write_exception(out, std::current_exception());
        ++done;
        for (; done < items.size(); ++done)
          write_outcome<R>(out, [&]() -> R { return std::invoke(*f, std::move(items[done])); });
        return;
      }
      out.raw().put_value(chunk_all_ok);
      if constexpr (!std::is_void_v<R>) out.raw().put(values.data(), values.size() * sizeof(R));
      return;
    }
    out.raw().put_value(chunk_per_element);
    for (auto& x : items) write_outcome<R>(out, [&]() -> R { return std::invoke(*f, std::move(x)); });
  }
  static inline const std::uint64_t key = register_invoker(typeid(chunk_invoker).name(), &run);
};

// ---- tasks as executors hold them ----------------------------------------------------------

/// One unit of work: a single submit, or one chunk of a map.
class task {
 public:
  task() = default;
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  virtual ~task() = default;

  /// The state behind the task's future (for cancel, running and failure).
  state_base& state() noexcept { return *state_; }
  using time_point = std::chrono::steady_clock::time_point;
  /// Runs the task in this process and completes its future; past `deadline` the task fails with
  /// timeout_error instead. Never throws.
  virtual void run_here(time_point deadline = time_point::max()) noexcept = 0;
  /// Completes the future from a RESULT body written by the invoker. Never throws.
  virtual void complete_from(reader& in) noexcept = 0;
  /// Fails the future with `e`.
  void fail(std::exception_ptr e) noexcept { state_->set_exception(std::move(e)); }
  /// The whole task failed with `e` (not one element of a chunk): true when it runs again under
  /// `retry` (its future is pending again, and the executor queues the task anew); otherwise the
  /// future fails with `e`, whose message counts the attempts when there was more than one.
  bool retry_or_fail(std::exception_ptr e) noexcept;
  /// Retries for this task, or null (a failure is final).
  std::shared_ptr<const retry_rule> retry;
  /// The encoded message: header room, then invoker key, callable, arguments (empty for
  /// local-only executors).
  std::vector<char>& bytes() noexcept { return bytes_; }
  /// The encoded message, read only.
  const std::vector<char>& bytes() const noexcept { return bytes_; }
  /// Number of map elements this task carries (1 for submit), for scheduling decisions.
  std::size_t weight = 1;
  /// Higher starts first among the tasks an executor has not sent or started yet
  /// (submit_options::priority, map_options::priority).
  int priority = 0;
  /// Where the task's input lies in its map's input, as a fraction in [0, 1) (the middle of
  /// the chunk), for a map_options::contiguous map; negative otherwise. The root keeps such a
  /// task for the worker whose stripe of the input holds it (root/root_queue.hpp).
  double place = -1;
  /// Worker ranks a team task (submit_parallel, map_parallel) runs on at once; 0 for every other
  /// task.
  std::size_t team = 0;
  /// Submitted by a task (rankpool::this_pool()): it goes before the waiting tasks of its
  /// priority (see enqueue).
  bool nested = false;
  /// When the task was submitted (steady clock, ns), recorded only while a trace or summary is on.
  std::int64_t submitted_ns = 0;
  /// Keeps what the encoded bytes refer to by number alive until the task is done (the
  /// shared values whose handles it carries).
  void keep(std::vector<std::shared_ptr<const void>> kept) {
    for (auto& k : kept) kept_.push_back(std::move(k));
  }
  /// Mangled type name of the invoker that would run it remotely: names the task in traces.
  /// (typeid does not instantiate the invoker's code, so local-only callables are fine.)
  virtual const char* type_name() const noexcept = 0;
  /// The function a function-pointer task calls (for its name in traces), else null.
  virtual const void* function_address() const noexcept { return nullptr; }
  /// Its worker started it before a cancel() could ask it back (the state has heard already).
  virtual void withdraw_refused() noexcept {}

 protected:
  std::shared_ptr<state_base> state_;
  std::vector<char> bytes_;
  std::vector<std::shared_ptr<const void>> kept_;
  std::size_t attempts_ = 0;  // runs that failed as a whole
  bool repeatable_ = true;    // false once a run here used up arguments it could not copy
};

using task_ptr = std::unique_ptr<task>;

/// Puts `t`, taken back unstarted from a worker, before the waiting tasks of its priority: it
/// was submitted before them.
inline void requeue(std::deque<task_ptr>& q, task_ptr t) {
  if (q.empty() || q.front()->priority <= t->priority) {
    q.push_front(std::move(t));
    return;
  }
  const int p = t->priority;
  auto at = std::lower_bound(q.begin(), q.end(), p, [](const task_ptr& x, int v) { return x->priority > v; });
  q.insert(at, std::move(t));
}

/// Queues `t` behind every waiting task of its priority or higher: higher priorities start
/// first, equal ones in submission order. A queue of one priority only appends. A task that a
/// task submitted (this_pool()) goes before the waiting tasks of its priority instead, the
/// newest first: a task waiting for its own tasks holds a stack (a thread's place) until they
/// end, so work started is finished first, and a recursion runs depth-first with few tasks
/// waiting at once, as a work-stealing scheduler runs its own children first.
inline void enqueue(std::deque<task_ptr>& q, task_ptr t) {
  if (t->nested) {
    requeue(q, std::move(t));
    return;
  }
  if (q.empty() || q.back()->priority >= t->priority) {
    q.push_back(std::move(t));
    return;
  }
  const int p = t->priority;
  auto at = std::upper_bound(q.begin(), q.end(), p, [](int v, const task_ptr& x) { return v > x->priority; });
  q.insert(at, std::move(t));
}

template <class R>
void complete_value(shared_state<R>& s, reader& in) {
  if (in.raw().get_value<std::uint8_t>() != result_ok) {
    s.set_exception(read_exception(in));
    return;
  }
  if constexpr (std::is_void_v<R>) {
    s.set_value();
  } else {
    R r{};
    in.reset_archive();
    decode(in, r);
    s.set_value(std::move(r));
  }
}

template <class R, class F, class... A>
class call_task final : public task {
 public:
  call_task(std::shared_ptr<shared_state<R>> s, F f, std::tuple<A...> args) : f_(std::move(f)), args_(std::move(args)) {
    state_ = std::move(s);
  }
  void encode_body() {
    if (!bytes_.empty()) return;
    writer w;
    reserve_header(w);
    w.raw().put_value(invoker<F, A...>::key);
    callable_codec<F>::write(w, f_);
    encode(w, *args_);
    keep(w.take_kept());
    bytes_ = w.take();
  }
  void drop_local() { args_.reset(); }
  const char* type_name() const noexcept override { return typeid(invoker<F, A...>).name(); }
  const void* function_address() const noexcept override {
    if constexpr (function_pointer<F>) return reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(f_));
    return nullptr;
  }
  void run_here(time_point deadline) noexcept override {
    try {
      if (!args_) throw invalid_state_error("rankpool: task has no local copy of its arguments");
      // A task that may run again calls f on a copy of its arguments, when they can be copied.
      auto call = [&]() -> R {
        if constexpr (std::is_copy_constructible_v<std::tuple<A...>>) {
          if (retry) {
            auto copy = *args_;
            return std::apply(f_, std::move(copy));
          }
        } else {
          repeatable_ = false;
        }
        return std::apply(f_, std::move(*args_));
      };
      if constexpr (std::is_void_v<R>) {
        call();
        check_deadline(deadline);
        typed().set_value();
      } else {
        auto r = call();
        check_deadline(deadline);
        typed().set_value(std::move(r));
      }
    } catch (...) {
      retry_or_fail(std::current_exception());
    }
  }
  void complete_from(reader& in) noexcept override {
    try {
      // Only tasks of MPI executors arrive as bytes, and those have sendable results; a local
      // executor's task (any result type) never gets here, so nothing is decoded for it.
      if constexpr (std::is_void_v<R> || is_sendable_v<R>) {
        complete_value<R>(typed(), in);
      } else {
        (void)in;
        throw invalid_state_error("rankpool: a local task received an encoded result");
      }
    } catch (...) {
      typed().set_exception(make_result_decode_error(std::current_exception()));
    }
  }

 private:
  // The state, as the type the constructor was given: state_ is the one reference (a second,
  // typed shared_ptr cost 16 bytes and a reference count per pending task).
  shared_state<R>& typed() noexcept { return static_cast<shared_state<R>&>(*state_); }

  F f_;
  std::optional<std::tuple<A...>> args_;
};

/// Encodes one map chunk element by element from the input range, producing exactly the bytes
/// chunk_task::encode_body would (a count, then each element), without first copying the
/// elements into a vector: for large elements (matrices) that copy costs as much as the send.
template <class F, class X>
class chunk_encoder {
 public:
  bool empty() const noexcept { return count_ == 0; }
  std::size_t count() const noexcept { return count_; }
  template <class Elem>
  void add(const F& f, std::size_t chunksize, const Elem& x) {
    if (count_ == 0) {
      w_.emplace();
      reserve_header(*w_);
      w_->raw().put_value(chunk_invoker<F, X>::key);
      callable_codec<F>::write(*w_, f);
      count_at_ = w_->raw().size();
      w_->raw().put_value<std::uint64_t>(0);
    }
    const std::size_t before = w_->raw().size();
    if constexpr (std::is_same_v<Elem, X>) {
      encode(*w_, x);
    } else {
      encode(*w_, X(x));
    }
    // Size the buffer once from the first element instead of growing it step by step.
    if (++count_ == 1) {
      first_bytes_ = w_->raw().size() - before;
      w_->raw().bytes().reserve(before + first_bytes_ * chunksize + 64);
    }
  }
  /// Encoded size of the first element of the current chunk (0 before one was added).
  std::size_t first_element_bytes() const noexcept { return count_ ? first_bytes_ : 0; }
  /// What the chunk's encoding must keep alive (see writer::keep); taken before finish().
  std::vector<std::shared_ptr<const void>> take_kept() { return w_ ? w_->take_kept() : decltype(w_->take_kept()){}; }
  std::vector<char> finish() {
    auto& b = w_->raw().bytes();
    const std::uint64_t n = count_;
    std::memcpy(b.data() + count_at_, &n, sizeof n);
    count_ = 0;
    auto out = w_->take();
    w_.reset();
    return out;
  }

 private:
  std::optional<writer> w_;
  std::size_t count_ = 0;
  std::size_t count_at_ = 0;
  std::size_t first_bytes_ = 0;
};

template <class R, class F, class X>
class chunk_task final : public task {
 public:
  using result_type = std::vector<outcome<R>>;
  chunk_task(std::shared_ptr<shared_state<result_type>> s, F f, std::vector<X> items)
      : f_(std::move(f)), items_(std::move(items)) {
    state_ = std::move(s);
    weight = items_.size();
  }
  /// A chunk whose message was already encoded, element by element, straight from the input
  /// (see chunk_encoder); it keeps no copy of the elements.
  chunk_task(std::shared_ptr<shared_state<result_type>> s, F f, std::vector<char> bytes, std::size_t count)
      : f_(std::move(f)) {
    state_ = std::move(s);
    bytes_ = std::move(bytes);
    weight = count;
  }
  void encode_body() {
    if (!bytes_.empty()) return;
    writer w;
    reserve_header(w);
    w.raw().put_value(chunk_invoker<F, X>::key);
    callable_codec<F>::write(w, f_);
    encode(w, items_);
    keep(w.take_kept());
    bytes_ = w.take();
  }
  void drop_local() { items_ = {}; }
  const char* type_name() const noexcept override { return typeid(chunk_invoker<F, X>).name(); }
  const void* function_address() const noexcept override {
    if constexpr (function_pointer<F>) return reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(f_));
    return nullptr;
  }
  void run_here(time_point deadline) noexcept override {
    try {
      result_type out;
      out.reserve(items_.size());
      // A chunk that may run again calls f on a copy of its elements, when they can be copied.
      std::vector<X> copy;
      if constexpr (std::is_copy_constructible_v<X>) {
        if (retry) copy = items_;
      } else {
        repeatable_ = false;
      }
      for (auto& x : retry&& repeatable_ ? copy : items_) {
        auto& o = out.emplace_back();
        try {
          if constexpr (std::is_void_v<R>) {
            std::invoke(f_, std::move(x));
            o.value.emplace();
          } else {
            o.value.emplace(std::invoke(f_, std::move(x)));
          }
        } catch (...) {
          o.error = std::current_exception();
        }
      }
      check_deadline(deadline);
      typed().set_value(std::move(out));
    } catch (...) {
      retry_or_fail(std::current_exception());
    }
  }
  void complete_from(reader& in) noexcept override {
    if constexpr (!std::is_void_v<R> && !is_sendable_v<R>) {
      (void)in;
      typed().set_exception(
          std::make_exception_ptr(invalid_state_error("rankpool: a local task received an encoded result")));
    } else {
      complete_chunk(in);
    }
  }

 private:
  void complete_chunk(reader& in) noexcept {
    try {
      if (in.raw().get_value<std::uint8_t>() != result_ok) {
        typed().set_exception(read_exception(in));
        return;
      }
      // The root knows how many elements it sent: a count that differs is a corrupt message,
      // and is refused before anything is allocated from it.
      const auto count = in.raw().get_value<std::uint64_t>();
      if (count != weight) throw decode_error("rankpool: a chunk's result count differs from its element count");
      result_type out(static_cast<std::size_t>(count));
      const auto mode = in.raw().get_value<std::uint8_t>();
      if (mode == chunk_all_ok) {
        if constexpr (std::is_void_v<R>) {
          for (auto& o : out) o.value.emplace();
        } else if constexpr (raw_bytes<R>) {
          if (in.raw().remaining() != out.size() * sizeof(R))
            throw decode_error("rankpool: chunk block of the wrong size");
          for (auto& o : out) o.value.emplace(in.raw().get_value<R>());
        } else {
          throw decode_error("rankpool: block mode for a type that is not plain bytes");
        }
        typed().set_value(std::move(out));
        return;
      }
      if (mode != chunk_per_element) throw decode_error("rankpool: unknown chunk mode");
      if (out.size() > in.raw().remaining()) throw decode_error("rankpool: chunk count exceeds the message");
      for (auto& o : out) {
        if (in.raw().get_value<std::uint8_t>() != result_ok) {
          o.error = read_exception(in);
        } else if constexpr (std::is_void_v<R>) {
          o.value.emplace();
        } else {
          in.reset_archive();
          decode(in, o.value.emplace());
        }
      }
      typed().set_value(std::move(out));
    } catch (...) {
      typed().set_exception(make_result_decode_error(std::current_exception()));
    }
  }

  // The state, as the type the constructor was given (see call_task::typed).
  shared_state<result_type>& typed() noexcept { return static_cast<shared_state<result_type>&>(*state_); }

  F f_;
  std::vector<X> items_;
};

}  // namespace rankpool::detail
