#pragma once
// One call of `map`, as named steps (mpi4py.futures' _build_chunks / _apply_chunks): build a
// chunk from the input, count it on the progress display, journal it (replay a finished one, or
// record its result), and hand finished chunks to the pool in batches, so workers start while
// the rest of the input is still being encoded. The results come back as a map_range.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <ranges>
#include <rankpool/detail/clock.hpp>
#include <rankpool/detail/core.hpp>
#include <rankpool/detail/journal.hpp>
#include <rankpool/detail/journaled.hpp>
#include <rankpool/detail/progress.hpp>
#include <rankpool/detail/task.hpp>
#include <rankpool/future.hpp>
#include <rankpool/map_range.hpp>
#include <rankpool/options.hpp>
#include <type_traits>
#include <utility>
#include <vector>

namespace rankpool::detail {

/// Gets a task ready for `c` (`Remote`: an MPI executor's task): encoded when it leaves the
/// process (unless the journal already encoded it), without its local copy of the arguments when
/// it cannot run here; for a local core the bytes the journal encoded for its key are dropped.
template <bool Remote, class Task>
void prepare_task(executor_core& c, Task& t) {
  if constexpr (Remote) {
    if (c.wants_bytes()) {
      if (t.bytes().empty()) t.encode_body();
      if (!c.runs_locally()) t.drop_local();
    } else {
      t.bytes() = {};  // encoded only for the journal's key
    }
  } else {
    (void)c, (void)t;
  }
}

/// Encoded bytes an automatic chunk aims at, at most (MPI executors); see auto_chunksize.
inline constexpr std::size_t auto_chunk_bytes = 64 * 1024;

/// The chunk size `map` uses for chunksize 0: about 16 chunks per worker, so the pool stays
/// balanced to the end, but at most 8192 elements, so results stream back early; 64 when the
/// input's size is unknown. For MPI executors a chunk is further limited to about
/// auto_chunk_bytes of encoded input, judged by its first element: measured on 4000 SVDs of
/// 1000 x 10 with 2 workers, one 80 KB matrix per task (each sent alone, without a copy, while
/// the previous ones compute) took 0.49 s, 6 per task 0.72 s, 100 per task 1.3 s; for tiny
/// elements the element limit decides (1M no-op ints: 37-50 M tasks/s).
inline std::size_t auto_chunksize(std::size_t n, std::size_t workers) {
  if (n == 0) return 64;
  const std::size_t per = n / (16 * std::max<std::size_t>(workers, 1));
  return std::clamp<std::size_t>(per, 1, 8192);
}

/// Builds the chunks of one map call over `core` and returns their results as a map_range.
/// `Sized`: the input's length is known up front (the display's total, the futures' room).
/// Use: construct, add() every element, then finish().
template <bool Remote, class Fn, class X, bool Sized>
class map_builder {
 public:
  using R = std::invoke_result_t<Fn&, X&&>;
  using chunk_t = std::vector<outcome<R>>;

  /// `size`: the input's length when Sized (else unused). `journal`: the executor's journal,
  /// which map_options::journal replaces. Throws what opening the journal throws.
  template <class F>
  map_builder(executor_core& core, F&& f, const map_options& o, std::size_t size, std::shared_ptr<journal> journal,
              std::shared_ptr<const retry_rule> retry = nullptr)
      : core_(core), fn_(std::forward<F>(f)), journal_(std::move(journal)), retry_(std::move(retry)) {
    if (o.timeout) deadline_ = deadline_after(*o.timeout);
    if constexpr (Remote) {
      if (o.journal) journal_ = journal::open(*o.journal);
    }
    chunksize_ = o.chunksize;
    priority_ = o.priority;
    if constexpr (Sized) size_ = o.contiguous ? size : 0;
    auto_chunks_ = chunksize_ == 0;
    if (auto_chunks_) chunksize_ = auto_chunksize(Sized ? size : 0, core_.num_workers());
    if constexpr (Sized) futures_.reserve(size / chunksize_ + 1);
    start_display(o.progress, size);
    // Chunks for other processes only are encoded straight from the input (no element copies).
    if constexpr (Remote && !std::is_same_v<X, bool>) stream_ = core_.wants_bytes() && !core_.runs_locally();
  }
  map_builder(const map_builder&) = delete;
  map_builder& operator=(const map_builder&) = delete;
  ~map_builder() {  // the display must not outlive a map that failed half-way
    if (prog_ && std::uncaught_exceptions() > exceptions_) prog_->finish();
  }

  /// Build a chunk: adds `x` to the chunk being built (encoded into the chunk's message at once
  /// when it goes to other processes) and ends the chunk once it is full.
  template <class Elem>
  void add(Elem&& x) {
    ++added_;
    if (stream_) {
      if constexpr (Remote) {
        encoder_.add(fn_, chunksize_, x);
        if (auto_chunks_ && encoder_.count() == 1) limit_chunk_bytes();
        if (encoder_.count() == chunksize_) end_chunk();
      }
    } else {
      items_.emplace_back(std::forward<Elem>(x));
      if (items_.size() == chunksize_) end_chunk();
    }
  }

  /// The input is over: ends the last chunk, hands over what is left and returns the results.
  map_range<R> finish(bool unordered) {
    end_input();
    return map_range<R>(std::move(futures_), unordered, deadline_, std::move(prog_), journal_ != nullptr);
  }

  /// For a bounded map (map_options::buffersize): every chunk goes to the pool as soon as it is
  /// built, not in batches.
  void hand_over_each() noexcept { batch_ = false; }
  /// Ends the last chunk and hands over what is left.
  void end_input() {
    if (!items_.empty() || !encoder_.empty()) end_chunk();
    if (!tasks_.empty()) core_.submit(tasks_);
    if (prog_) prog_->close_total();
  }
  /// Moves the futures of the chunks built since the last call to the end of `out`; true when
  /// there were any.
  template <class Out>
  bool take_futures(Out& out) {
    if (futures_.empty()) return false;
    for (auto& f : futures_) out.push_back(std::move(f));
    futures_.clear();
    return true;
  }
  /// The map's progress display (null when off), shared with the bounded map's range.
  const std::shared_ptr<progress>& display() const noexcept { return prog_; }
  /// The map_options::timeout deadline, if any.
  std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept { return deadline_; }
  /// Whether a journal reads the chunks' values in done callbacks (see map_range).
  bool journaled() const noexcept { return journal_ != nullptr; }

 private:
  using task_t = chunk_task<R, Fn, X>;
  using state_ptr = std::shared_ptr<shared_state<chunk_t>>;

  // The display, when on: null otherwise, and then nothing below costs more than a null check.
  void start_display(std::optional<bool> option, std::size_t size) {
    prog_ = progress::start("map", option, [c = &core_](std::size_t& busy, std::size_t& total) {
      busy = c->busy_workers();
      total = c->num_workers();
    });
    if constexpr (Sized) {
      if (prog_) {
        prog_->add_total(size);
        prog_->close_total();
      }
    }
  }

  // Automatic chunks also stay under auto_chunk_bytes, judged by the first element, so large
  // elements (matrices) travel in pieces that overlap sending with computing.
  void limit_chunk_bytes() {
    chunksize_ = std::clamp<std::size_t>(auto_chunk_bytes / std::max<std::size_t>(encoder_.first_element_bytes(), 1), 1,
                                         chunksize_);
  }

  // The chunk being built is full (or the input is over): count it, then complete it from the
  // journal or hand it over.
  void end_chunk() {
    auto s = std::make_shared<shared_state<chunk_t>>();
    if (prog_) count_progress(*s);
    auto t = make_task(s);
    if (size_ > 0) {
      // map_options::contiguous: the middle of the chunk's elements, as a fraction of the input.
      t->place = 0.5 * static_cast<double>(chunk_first_ + added_) / static_cast<double>(size_);
      chunk_first_ = added_;
    }
    if constexpr (Remote) {
      if (journal_ && detail::replay_or_record(*t, *s, journal_)) {
        futures_.emplace_back(std::move(s));
        return;
      }
    }
    hand_over(std::move(t), std::move(s));
  }

  // Count progress: the chunk's elements, before its task can run, so done never passes total.
  // The callback fires once, also for a journal-replayed chunk (at once) or a cancelled one
  // (dropped).
  void count_progress(shared_state<chunk_t>& s) {
    const std::size_t n = stream_ ? encoder_.count() : items_.size();
    if constexpr (!Sized) prog_->add_total(n);
    s.add_callback([prog = prog_, n](const future<chunk_t>& chunk) {
      if (chunk.cancelled())
        prog->add_dropped(n);
      else
        prog->add_done(n);
    });
  }

  // The chunk's task: its message, encoded while the elements came in, or the elements.
  std::unique_ptr<task_t> make_task(const state_ptr& s) {
    if constexpr (Remote) {
      if (stream_) {
        const auto n = encoder_.count();
        auto kept = encoder_.take_kept();
        auto t = std::make_unique<task_t>(s, fn_, encoder_.finish(), n);
        t->keep(std::move(kept));
        return t;
      }
    }
    auto t = std::make_unique<task_t>(s, fn_, std::move(items_));
    items_ = {};
    return t;
  }

  // Hand over: what is ready goes to the pool once it is worth a message, so encoding overlaps
  // computing.
  void hand_over(std::unique_ptr<task_t> t, state_ptr s) {
    t->priority = priority_;
    t->retry = retry_;
    detail::prepare_task<Remote>(core_, *t);
    pending_bytes_ += t->bytes().size();
    tasks_.push_back(std::move(t));
    futures_.emplace_back(std::move(s));
    if (!batch_ || pending_bytes_ >= (1u << 20) || tasks_.size() >= 256) {
      core_.submit(tasks_);
      pending_bytes_ = 0;
    }
  }

  executor_core& core_;
  Fn fn_;
  std::shared_ptr<journal> journal_;
  std::shared_ptr<const retry_rule> retry_;  // every chunk's retries, or null
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::size_t chunksize_ = 1;
  bool auto_chunks_ = false;
  bool stream_ = false;
  std::shared_ptr<progress> prog_;
  std::vector<future<chunk_t>> futures_;
  std::vector<task_ptr> tasks_;   // built, not yet handed over
  std::vector<X> items_;          // the chunk being built, when not streamed
  chunk_encoder<Fn, X> encoder_;  // the chunk being built, when streamed
  std::size_t pending_bytes_ = 0;
  bool batch_ = true;            // hand chunks over in batches (false: one by one, for a bounded map)
  int priority_ = 0;             // map_options::priority, for every chunk
  std::size_t size_ = 0;         // the input's length for a contiguous map, else 0
  std::size_t added_ = 0;        // elements added so far
  std::size_t chunk_first_ = 0;  // index of the first element of the chunk being built
  int exceptions_ = std::uncaught_exceptions();
};

/// The input side of a bounded lazy map (map_options::buffersize): owns the input view and a
/// map_builder, and reads the input only when the range asks for one more chunk. Heap-held, so
/// the view's iterator stays valid.
template <bool Remote, class Fn, class X, class View>
class lazy_map_input {
 public:
  using builder = map_builder<Remote, Fn, X, false>;
  using chunk_t = typename builder::chunk_t;

  template <class F>
  lazy_map_input(View view, executor_core& core, F&& f, const map_options& o, std::shared_ptr<journal> journal,
                 std::shared_ptr<const retry_rule> retry)
      : view_(std::move(view)),
        builder_(core, std::forward<F>(f), o, 0, std::move(journal), std::move(retry)),
        it_(std::ranges::begin(view_)) {
    builder_.hand_over_each();
  }

  /// Reads the input until one more chunk went to the pool and appends its future to `out`;
  /// false once the input is over and every chunk was handed over.
  template <class Out>
  bool next(Out& out) {
    while (it_ != std::ranges::end(view_)) {
      builder_.add(*it_);
      ++it_;
      if (builder_.take_futures(out)) return true;
    }
    if (ended_) return false;
    ended_ = true;
    builder_.end_input();
    return builder_.take_futures(out);
  }

  /// See map_builder.
  builder& chunks() noexcept { return builder_; }

 private:
  View view_;
  builder builder_;
  std::ranges::iterator_t<View> it_;
  bool ended_ = false;
};

}  // namespace rankpool::detail
