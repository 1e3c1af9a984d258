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
#include <rankpool/options.hpp>
#include <rankpool/wait.hpp>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace rankpool {

/// The lazy result range of `map`: yields f(x) for each x, in input order (or completion order
/// with `unordered`). Iterating rethrows a task's exception at its position and throws
/// timeout_error when the map's timeout has run out. Destroying the range cancels the tasks
/// that have not started, as closing the generator of Python's Executor.map does, and ends the
/// map's progress display (map_options::progress) if it is still drawing.
template <class R>
class map_range {
 public:
  /// The element type: R, or std::monostate when f returns void.
  using value_type = detail::map_value_t<R>;
  using chunk_type = std::vector<detail::outcome<R>>;

  /// Wraps the chunk futures of one map call. `progress`: the map's display (null when off),
  /// owned here so it lasts as long as the results can be read. `callbacks_read_values`: some
  /// chunk has a done callback that reads its value (the journal's), so a value is moved out
  /// only once the callbacks have run; the display's callbacks read no value and need no wait.
  map_range(std::vector<future<chunk_type>> chunks, bool unordered,
            std::optional<std::chrono::steady_clock::time_point> deadline,
            std::shared_ptr<detail::progress> progress = {}, bool callbacks_read_values = true)
      : chunks_(std::move(chunks)),
        unordered_(unordered),
        deadline_(deadline),
        progress_(std::move(progress)),
        callbacks_read_values_(callbacks_read_values) {}
  map_range(map_range&&) noexcept = default;
  map_range& operator=(map_range&&) noexcept = default;
  map_range(const map_range&) = delete;
  map_range& operator=(const map_range&) = delete;
  ~map_range() {
    for (std::size_t i = 0; i < chunks_.size(); ++i)
      if (!consumed(i)) chunks_[i].cancel();
    if (progress_) progress_->finish();  // the final line, even when the loop ended early
  }

  /// Input iterator over the results.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = detail::map_value_t<R>;
    using difference_type = std::ptrdiff_t;
    using reference = value_type&;
    using pointer = value_type*;

    iterator() = default;
    explicit iterator(map_range* r) : r_(r) { advance(); }
    /// The current result (rethrows the element's exception).
    reference operator*() const { return r_->current(); }
    pointer operator->() const { return &r_->current(); }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    friend bool operator==(const iterator& a, std::default_sentinel_t) { return a.r_ == nullptr; }

   private:
    void advance() {
      if (!r_->next()) r_ = nullptr;
    }
    map_range* r_ = nullptr;
  };

  /// Starts the iteration (an input range: iterate once).
  iterator begin() { return iterator(this); }
  /// End sentinel.
  std::default_sentinel_t end() const noexcept { return {}; }

  /// Consumes the whole range into a vector (rethrows the first exception in iteration order).
  std::vector<value_type> to_vector() {
    std::vector<value_type> out;
    for (auto& v : *this) out.push_back(std::move(v));
    return out;
  }

 private:
  bool consumed(std::size_t i) const { return i < taken_.size() && taken_[i]; }

  // Moves to the next element; false at the end.
  bool next() {
    while (true) {
      if (chunk_ && pos_ + 1 < chunk_->size()) {
        ++pos_;
        return true;
      }
      if (!load_next_chunk()) return false;
      pos_ = static_cast<std::size_t>(-1);
    }
  }

  bool load_next_chunk() {
    chunk_.reset();
    if (taken_count_ == chunks_.size()) return false;
    if (taken_.empty()) taken_.assign(chunks_.size(), false);
    std::size_t idx;
    if (!unordered_) {
      idx = taken_count_;
      wait_one(chunks_[idx]);
    } else {
      if (!completion_) {
        std::optional<std::chrono::duration<double>> t;
        if (deadline_) t = std::chrono::duration<double>(*deadline_ - std::chrono::steady_clock::now());
        if (t && t->count() < 0) t = std::chrono::duration<double>(0);
        completion_.emplace(chunks_, t, false);  // the map's own display counts elements
        completion_it_.emplace(completion_->begin());
      } else {
        ++*completion_it_;
      }
      const auto& f = **completion_it_;
      idx = index_of(f);
    }
    taken_[idx] = true;
    ++taken_count_;
    chunks_[idx].wait();
    auto& state = *chunks_[idx].state();
    if (state.get_status() == detail::status::finished && !state.exception_unsafe() &&
        (!callbacks_read_values_ || state.callbacks_done())) {
      // The chunk futures are this range's alone: take the results instead of copying them
      // (once the callbacks, such as the journal's, are done reading them).
      chunk_ = std::move(*state.value_for_sole_reader());
    } else {
      chunk_ = chunks_[idx].result();  // rethrows a whole-chunk failure (or cancellation)
    }
    if (progress_) progress_->add_delivered(chunk_->size());
    return true;
  }

  std::size_t index_of(const future<chunk_type>& f) const {
    for (std::size_t i = 0; i < chunks_.size(); ++i)
      if (chunks_[i] == f && !consumed(i)) return i;
    return 0;
  }

  void wait_one(const future<chunk_type>& f) const {
    if (!deadline_) return f.wait();
    auto left = *deadline_ - std::chrono::steady_clock::now();
    if (left < left.zero() || !f.state()->wait_for(left))
      if (!f.done()) throw timeout_error("rankpool: map timed out before all results arrived");
  }

  value_type& current() {
    auto& o = (*chunk_)[pos_];
    if (o.error) std::rethrow_exception(o.error);
    return *o.value;
  }

  std::vector<future<chunk_type>> chunks_;
  bool unordered_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::vector<bool> taken_;
  std::size_t taken_count_ = 0;
  std::optional<chunk_type> chunk_;
  std::size_t pos_ = 0;
  std::optional<as_completed_range<chunk_type>> completion_;
  std::optional<typename as_completed_range<chunk_type>::iterator> completion_it_;
  std::shared_ptr<detail::progress> progress_;
  bool callbacks_read_values_ = true;
};

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
