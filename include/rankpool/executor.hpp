#pragma once
/// \file executor.hpp
/// The interface every rankpool executor shares: submit, map, shutdown, num_workers.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <rankpool/detail/clock.hpp>
#include <rankpool/detail/core.hpp>
#include <rankpool/detail/journal.hpp>
#include <rankpool/detail/progress.hpp>
#include <rankpool/errors.hpp>
#include <rankpool/future.hpp>
#include <rankpool/map_range.hpp>
#include <rankpool/options.hpp>
#include <rankpool/wait.hpp>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace rankpool {

namespace detail {

template <class F, class... A>
using call_result_t = std::invoke_result_t<std::decay_t<F>&, std::decay_t<A>&&...>;

/// submit/map/shutdown over an executor_core. `Remote`: tasks may travel to other processes,
/// so callables, arguments and results must be sendable (checked at compile time).
template <bool Remote>
class basic_executor {
 public:
  basic_executor(const basic_executor&) = delete;
  basic_executor& operator=(const basic_executor&) = delete;

  /// Schedules `f(args...)` and returns its future at once. Throws invalid_state_error after
  /// shutdown (or on a rank that is not the root).
  template <class F, class... Args>
  future<call_result_t<F, Args...>> submit(F&& f, Args&&... args) {
    using R = call_result_t<F, Args...>;
    using Fn = std::decay_t<F>;
    check_sendable<Fn, R, std::decay_t<Args>...>();
    auto s = std::make_shared<detail::shared_state<R>>();
    auto t = std::make_unique<detail::call_task<R, Fn, std::decay_t<Args>...>>(
        s, std::forward<F>(f), std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...));
    if constexpr (Remote) {
      if (journal_ && replay_or_record(*t, *s, journal_)) return future<R>(std::move(s));
    }
    prepare(*t);
    std::vector<detail::task_ptr> one;
    one.push_back(std::move(t));
    core().submit(one);
    return future<R>(std::move(s));
  }

  /// Schedules `f(x)` for every x of `range` (all submitted now, in chunks of
  /// `o.chunksize`; 0 picks the chunk size automatically) and returns the lazy range of
  /// results; see map_range. Chunks are handed to the pool as they are built, so workers start
  /// while the rest of the input is still being encoded. With a progress display
  /// (map_options::progress), each chunk's completion adds its element count to the display.
  template <class F, std::ranges::input_range Range>
  auto map(F&& f, Range&& range, map_options o = {}) {
    using X = std::decay_t<std::ranges::range_reference_t<Range>>;
    using Fn = std::decay_t<F>;
    using R = std::invoke_result_t<Fn&, X&&>;
    using chunk_t = std::vector<detail::outcome<R>>;
    check_sendable<Fn, R, X>();
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (o.timeout) deadline = detail::deadline_after(*o.timeout);
    std::size_t chunksize = o.chunksize;
    const bool auto_chunks = chunksize == 0;
    if (auto_chunks) {
      if constexpr (std::ranges::sized_range<Range>) {
        chunksize = auto_chunksize(static_cast<std::size_t>(std::ranges::size(range)), num_workers());
      } else {
        chunksize = auto_chunksize(0, num_workers());
      }
    }
    std::vector<future<chunk_t>> futures;
    if constexpr (std::ranges::sized_range<Range>)
      futures.reserve(static_cast<std::size_t>(std::ranges::size(range)) / chunksize + 1);
    // The display, when on: null otherwise, and then nothing below costs more than a null check.
    std::shared_ptr<detail::progress> prog =
        detail::progress::start("map", o.progress, [c = &core()](std::size_t& busy, std::size_t& total) {
          busy = c->busy_workers();
          total = c->num_workers();
        });
    if constexpr (std::ranges::sized_range<Range>) {
      if (prog) {
        prog->add_total(static_cast<std::size_t>(std::ranges::size(range)));
        prog->close_total();
      }
    }
    std::vector<detail::task_ptr> tasks;
    std::vector<X> items;
    std::size_t pending_bytes = 0;
    Fn fn(std::forward<F>(f));
    std::shared_ptr<detail::journal> journal = journal_;
    if constexpr (Remote) {
      if (o.journal) journal = detail::journal::open(*o.journal);
    }
    // Chunks for other processes only are encoded straight from the input (no element copies).
    bool stream = false;
    if constexpr (Remote && !std::is_same_v<X, bool>) stream = core().wants_bytes() && !core().runs_locally();
    detail::chunk_encoder<Fn, X> encoder;
    auto flush = [&] {
      auto s = std::make_shared<detail::shared_state<chunk_t>>();
      if (prog) {
        // Counted before the task can run, so done never passes total. The callback fires
        // once, also for a journal-replayed chunk (at once) or a cancelled one (dropped).
        const std::size_t n = stream ? encoder.count() : items.size();
        if constexpr (!std::ranges::sized_range<Range>) prog->add_total(n);
        s->add_callback([prog, n](const future<chunk_t>& chunk) {
          if (chunk.cancelled())
            prog->add_dropped(n);
          else
            prog->add_done(n);
        });
      }
      std::unique_ptr<detail::chunk_task<R, Fn, X>> t;
      if constexpr (Remote) {
        if (stream) {
          const auto n = encoder.count();
          t = std::make_unique<detail::chunk_task<R, Fn, X>>(s, fn, encoder.finish(), n);
        }
      }
      if (!t) {
        t = std::make_unique<detail::chunk_task<R, Fn, X>>(s, fn, std::move(items));
        items = {};
      }
      if constexpr (Remote) {
        if (journal && replay_or_record(*t, *s, journal)) {
          futures.emplace_back(std::move(s));
          return;
        }
      }
      prepare(*t);
      pending_bytes += t->bytes().size();
      tasks.push_back(std::move(t));
      futures.emplace_back(std::move(s));
      // Hand over what is ready once it is worth a message, so encoding overlaps computing.
      if (pending_bytes >= (1u << 20) || tasks.size() >= 256) {
        core().submit(tasks);
        pending_bytes = 0;
      }
    };
    struct end_display_on_throw {  // the display must not outlive a map that failed half-way
      std::shared_ptr<detail::progress>& p;
      int exceptions = std::uncaught_exceptions();
      ~end_display_on_throw() {
        if (p && std::uncaught_exceptions() > exceptions) p->finish();
      }
    } guard{prog};
    for (auto&& x : range) {
      if (stream) {
        if constexpr (Remote) {
          encoder.add(fn, chunksize, x);
          // Automatic chunks also stay under auto_chunk_bytes, judged by the first element, so
          // large elements (matrices) travel in pieces that overlap sending with computing.
          if (auto_chunks && encoder.count() == 1)
            chunksize = std::clamp<std::size_t>(
                auto_chunk_bytes / std::max<std::size_t>(encoder.first_element_bytes(), 1), 1, chunksize);
          if (encoder.count() == chunksize) flush();
        }
      } else {
        items.emplace_back(std::forward<decltype(x)>(x));
        if (items.size() == chunksize) flush();
      }
    }
    if (!items.empty() || !encoder.empty()) flush();
    if (!tasks.empty()) core().submit(tasks);
    if (prog) prog->close_total();
    return map_range<R>(std::move(futures), o.unordered, deadline, std::move(prog), journal != nullptr);
  }

  /// Encoded bytes an automatic chunk aims at, at most (MPI executors).
  static constexpr std::size_t auto_chunk_bytes = 64 * 1024;

  /// The chunk size `map` uses for chunksize 0: about 16 chunks per worker, so the pool stays
  /// balanced to the end, but at most 8192 elements, so results stream back early; 64 when the
  /// input's size is unknown. For MPI executors a chunk is further limited to about
  /// auto_chunk_bytes of encoded input, judged by its first element: measured on 4000 SVDs of
  /// 1000 x 10 with 2 workers, one 80 KB matrix per task (each sent alone, without a copy, while
  /// the previous ones compute) took 0.49 s, 6 per task 0.72 s, 100 per task 1.3 s; for tiny
  /// elements the element limit decides (1M no-op ints: 37-50 M tasks/s).
  static std::size_t auto_chunksize(std::size_t n, std::size_t workers) {
    if (n == 0) return 64;
    const std::size_t per = n / (16 * std::max<std::size_t>(workers, 1));
    return std::clamp<std::size_t>(per, 1, 8192);
  }

  /// No new tasks; `cancel_futures` cancels the ones not yet started; `wait` blocks until
  /// running ones end. Idempotent.
  void shutdown(bool wait = true, bool cancel_futures = false) {
    if (core_) core_->shutdown(wait, cancel_futures);
  }

  /// How many workers execute tasks.
  std::size_t num_workers() const noexcept { return core_ ? core_->num_workers() : 0; }

 protected:
  basic_executor() = default;
  ~basic_executor() {
    try {
      shutdown(true);
    } catch (...) {  // a destructor never throws; shutdown's own errors are already on the futures
    }
  }

  detail::executor_core& core() {
    if (!core_) throw invalid_state_error("rankpool: this executor has no pool on this rank (it is not the root)");
    return *core_;
  }

  std::unique_ptr<detail::executor_core> core_;
  /// The result journal of executor_options::journal, if any.
  std::shared_ptr<detail::journal> journal_;

 private:
  // A task's result as the journal stores it: the value (or, for a map chunk, every element's
  // value). Only successful results are stored; a failed task runs again on the next run.
  template <class T>
  static bool encode_journaled(detail::writer& w, const T& v) {
    detail::encode(w, v);
    return true;
  }
  template <class R>
  static bool encode_journaled(detail::writer& w, const std::vector<detail::outcome<R>>& chunk) {
    for (const auto& o : chunk)
      if (o.error) return false;
    w.raw().put_value<std::uint64_t>(chunk.size());
    if constexpr (!std::is_void_v<R>)
      for (const auto& o : chunk) detail::encode(w, *o.value);
    return true;
  }
  template <class T>
  static T decode_journaled(detail::reader& r, std::type_identity<T>) {
    T v{};
    detail::decode(r, v);
    return v;
  }
  template <class R>
  static std::vector<detail::outcome<R>> decode_journaled(detail::reader& r,
                                                          std::type_identity<std::vector<detail::outcome<R>>>) {
    std::vector<detail::outcome<R>> chunk(r.get_length(std::is_void_v<R> ? 0 : 1));
    for (auto& o : chunk) {
      if constexpr (std::is_void_v<R>) {
        o.value.emplace();
      } else {
        detail::decode(r, o.value.emplace());
      }
    }
    return chunk;
  }

  // With a journal: completes the future from a previous run's result and returns true, or
  // arranges for the result to be recorded when the task succeeds and returns false.
  template <class Task, class T>
  bool replay_or_record(Task& t, detail::shared_state<T>& s, const std::shared_ptr<detail::journal>& j) {
    t.encode_body();
    const auto& b = t.bytes();
    auto key = detail::journal::key_of(b.data() + detail::task_header_room, b.size() - detail::task_header_room);
    if (auto stored = j->find(key)) {
      try {
        detail::reader r(stored->data(), stored->size());
        if constexpr (std::is_void_v<T>) {
          s.set_value();
        } else {
          s.set_value(decode_journaled(r, std::type_identity<T>{}));
        }
        return true;
      } catch (const std::exception&) {
        // an unreadable record: run the task again
      }
    }
    s.add_callback([j, key](const future<T>& f) {
      if (f.state()->exception_unsafe() || f.cancelled()) return;
      detail::writer w;
      if constexpr (std::is_void_v<T>) {
        (void)w;
        j->append(key, nullptr, 0);
      } else if (encode_journaled(w, *f.state()->value_unsafe())) {
        w.reset_archive();
        auto& bytes = w.raw().bytes();
        j->append(key, bytes.data(), bytes.size());
      }
    });
    return false;
  }

  template <class Fn, class R, class... A>
  static constexpr void check_sendable() {
    if constexpr (Remote) {
      static_assert((detail::require_sendable<A>::value && ... && true));
      if constexpr (!std::is_void_v<R>) static_assert(detail::require_sendable<R>::value);
      static_assert(detail::callable_codec<Fn>::by_address || detail::callable_codec<Fn>::by_serialize ||
                    detail::callable_codec<Fn>::by_type || detail::callable_codec<Fn>::by_bytes);
    }
  }

  template <class T>
  void prepare(T& t) {
    if constexpr (Remote) {
      auto& c = core();
      if (c.wants_bytes()) {
        if (t.bytes().empty()) t.encode_body();
        if (!c.runs_locally()) t.drop_local();
      } else {
        t.bytes() = {};  // encoded only for the journal's key
      }
    }
  }
};

}  // namespace detail

}  // namespace rankpool
