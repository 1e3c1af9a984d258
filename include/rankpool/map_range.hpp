#pragma once
/// \file map_range.hpp
/// rankpool::map_range: the lazy range of results that every executor's `map` returns.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <rankpool/detail/progress.hpp>
#include <rankpool/detail/state.hpp>
#include <rankpool/detail/task.hpp>
#include <rankpool/errors.hpp>
#include <rankpool/future.hpp>
#include <rankpool/wait.hpp>
#include <utility>
#include <vector>

namespace rankpool {

/// The lazy result range of `map`: yields f(x) for each x, in input order (or completion order
/// with `unordered`). Iterating rethrows a task's exception at its position and throws
/// timeout_error when the map's timeout has run out. Destroying the range once its iteration has
/// begun cancels the tasks that have not started, as closing the generator of Python's
/// Executor.map does; destroyed before begin() was called, it cancels nothing (Python's map
/// generator cancels only once it has started), so the tasks run and their futures complete. It
/// also ends the map's progress display (map_options::progress) if it is still drawing.
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
  /// A bounded lazy map's results (map_options::buffersize): `feed(out)` reads the input until
  /// one more chunk went to the pool and appends its future to `out`, false once the input is
  /// over. At most `buffer` chunks are submitted and not yet taken: `buffer` now, then one more
  /// for each chunk taken. Throws what `feed` throws.
  map_range(std::function<bool(std::vector<future<chunk_type>>&)> feed, std::size_t buffer, bool unordered,
            std::optional<std::chrono::steady_clock::time_point> deadline,
            std::shared_ptr<detail::progress> progress = {}, bool callbacks_read_values = true)
      : unordered_(unordered),
        deadline_(deadline),
        progress_(std::move(progress)),
        callbacks_read_values_(callbacks_read_values),
        feed_(std::move(feed)),
        lazy_(true) {
    while (window_.size() < buffer && feed_more()) {
    }
  }
  map_range(map_range&&) noexcept = default;
  map_range& operator=(map_range&&) noexcept = default;
  map_range(const map_range&) = delete;
  map_range& operator=(const map_range&) = delete;
  ~map_range() {
    if (iterating_) {
      for (std::size_t i = 0; i < chunks_.size(); ++i)
        if (!consumed(i)) chunks_[i].cancel();
      for (auto& f : window_) f.cancel();
    }
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
  iterator begin() {
    iterating_ = true;
    return iterator(this);
  }
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
    if (lazy_) return load_next_lazy();
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
    take(chunks_[idx]);
    return true;
  }

  // The bounded map's next chunk: the oldest (or, unordered, any done one) of the window, which
  // gets one more chunk from the input in its place.
  bool load_next_lazy() {
    if (window_.empty()) return false;
    std::size_t idx = 0;
    if (!unordered_) {
      wait_one(window_.front());
    } else {
      idx = first_done_in_window();
    }
    auto f = std::move(window_[idx]);
    window_.erase(window_.begin() + static_cast<std::ptrdiff_t>(idx));
    feed_more();
    take(f);
    return true;
  }

  // The position of a done chunk of the window, waiting (until the deadline) for one.
  std::size_t first_done_in_window() {
    auto find = [&]() -> std::optional<std::size_t> {
      for (std::size_t i = 0; i < window_.size(); ++i)
        if (window_[i].done()) return i;
      return std::nullopt;
    };
    if (auto i = find()) return *i;
    std::optional<std::chrono::duration<double>> t;
    if (deadline_)
      t = std::max(std::chrono::duration<double>(*deadline_ - std::chrono::steady_clock::now()),
                   std::chrono::duration<double>(0));
    rankpool::wait(window_, t, return_when::first_completed);
    if (auto i = find()) return *i;
    throw timeout_error("rankpool: map timed out before all results arrived");
  }

  // Asks the input for one more chunk; false (and no more asking) once it is over.
  bool feed_more() {
    if (!feed_) return false;
    if (feed_(window_)) return true;
    feed_ = nullptr;
    return false;
  }

  // Makes the done chunk `f` the current one.
  void take(const future<chunk_type>& f) {
    f.wait();
    auto& state = *f.state();
    if (state.get_status() == detail::status::finished && !state.exception_unsafe() &&
        (!callbacks_read_values_ || state.callbacks_done())) {
      // The chunk futures are this range's alone: take the results instead of copying them
      // (once the callbacks, such as the journal's, are done reading them).
      chunk_ = std::move(*state.value_for_sole_reader());
    } else {
      chunk_ = f.result();  // rethrows a whole-chunk failure (or cancellation)
    }
    if (progress_) progress_->add_delivered(chunk_->size());
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
  bool iterating_ = false;  // begin() was called: destruction cancels what has not started
  // A bounded lazy map: the input (null once it is over) and the chunks submitted, not taken.
  std::function<bool(std::vector<future<chunk_type>>&)> feed_;
  std::vector<future<chunk_type>> window_;
  bool lazy_ = false;
};

}  // namespace rankpool
