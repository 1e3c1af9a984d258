#pragma once
/// \file wait.hpp
/// Waiting on many futures: rankpool::wait (concurrent.futures.wait) and rankpool::as_completed.

#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <rankpool/detail/clock.hpp>
#include <rankpool/detail/progress.hpp>
#include <rankpool/future.hpp>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace rankpool {

/// When `wait` returns, as concurrent.futures' FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED.
enum class return_when { first_completed, first_exception, all_completed };

/// What `wait` returns: the futures that are done and those that are not, each in input order
/// and each distinct future once.
template <class T>
struct wait_result {
  std::vector<future<T>> done;      ///< finished or cancelled
  std::vector<future<T>> not_done;  ///< still pending or running
};

/// Waits until the condition `w` holds for `fs` or `timeout` runs out (no exception on timeout:
/// the not-done futures are in `not_done`). `first_exception` returns at the first future that
/// finishes with an exception, or when all are done.
template <class T>
wait_result<T> wait(const std::vector<future<T>>& given, std::optional<std::chrono::duration<double>> timeout = {},
                    return_when w = return_when::all_completed) {
  // Each distinct future once, as Python's wait takes a set: a future given twice is waited for,
  // counted and returned once, in the order of its first appearance.
  std::vector<future<T>> fs;
  fs.reserve(given.size());
  {
    std::unordered_set<const detail::state_base*> seen;
    for (const auto& f : given) {
      if (!f.valid()) throw invalid_state_error("rankpool::wait: invalid future");
      if (seen.insert(f.state().get()).second) fs.push_back(f);
    }
  }
  detail::multi_waiter waiter;
  std::size_t done_now = 0, failed_now = 0;
  std::vector<detail::state_base*> registered;
  registered.reserve(fs.size());
  for (const auto& f : fs) {
    if (f.state()->add_waiter(&waiter)) {
      ++done_now;
      if (f.state()->failed()) ++failed_now;
    } else {
      registered.push_back(f.state().get());
    }
  }
  auto satisfied = [&](std::size_t done, std::size_t failed) {
    switch (w) {
      case return_when::first_completed:
        return done > 0 || fs.empty();
      case return_when::first_exception:
        return failed > 0 || done == fs.size();
      case return_when::all_completed:
        return done == fs.size();
    }
    return true;
  };
  {
    auto pred = [&] { return satisfied(done_now + waiter.completed_.size(), failed_now + waiter.failed_); };
    bool now;
    {
      std::lock_guard l(waiter.m_);
      now = pred();
    }
    std::optional<detail::lend_guard> lent;
    const auto deadline = timeout ? detail::deadline_after(*timeout) : std::chrono::steady_clock::time_point::max();
    if (!now) {
      lent.emplace();  // a task's thread lets another run tasks meanwhile
      waiter.drive_until(pred, deadline);
    }
    std::unique_lock lk(waiter.m_);
    if (timeout) {
      waiter.cv_.wait_until(lk, deadline, pred);
    } else {
      waiter.cv_.wait(lk, pred);
    }
  }
  for (auto* s : registered) s->remove_waiter(&waiter);
  wait_result<T> r;
  for (const auto& f : fs) (f.done() ? r.done : r.not_done).push_back(f);
  return r;
}

/// An input range over futures that yields each one as it finishes (completion order).
/// Iterating throws timeout_error when `timeout` (counted from the as_completed call) runs out.
/// With a progress display, it counts futures as they finish, whether or not the loop has
/// reached them yet, and ends when all are done or the range is destroyed.
template <class T>
class as_completed_range {
 public:
  /// Starts watching `fs`; futures already done are yielded first, in input order. `progress`:
  /// the display switch, resolved as map_options::progress (unset: RANKPOOL_PROGRESS, else on
  /// when stderr is a terminal).
  as_completed_range(const std::vector<future<T>>& fs, std::optional<std::chrono::duration<double>> timeout,
                     std::optional<bool> progress = {})
      : impl_(std::make_unique<impl>()) {
    if (timeout) impl_->deadline = detail::deadline_after(*timeout);
    for (const auto& f : fs) {
      if (!f.valid()) throw invalid_state_error("rankpool::as_completed: invalid future");
      if (impl_->by_state.contains(f.state().get())) continue;  // duplicates are yielded once
      impl_->by_state.emplace(f.state().get(), f);
      if (f.state()->add_waiter(&impl_->waiter)) {
        impl_->ready.push_back(f);
      } else {
        impl_->registered.push_back(f.state().get());
      }
    }
    impl_->remaining = impl_->by_state.size();
    if (auto p = detail::progress::start("as_completed", progress)) {  // busy: every live executor
      p->add_total(impl_->by_state.size());
      p->close_total();
      // A callback per future (at once for those already done): a future counts when it
      // finishes, not when the loop gets to it.
      for (auto& entry : impl_->by_state) entry.second.add_done_callback([p](const future<T>&) { p->add_done(1); });
      impl_->progress = std::move(p);
    }
  }
  as_completed_range(as_completed_range&&) noexcept = default;
  as_completed_range& operator=(as_completed_range&&) noexcept = default;
  ~as_completed_range() {
    if (!impl_) return;
    for (auto* s : impl_->registered) s->remove_waiter(&impl_->waiter);
    if (impl_->progress) impl_->progress->finish();  // the final line, even after an early break
  }

  /// Input iterator: dereference gives the next finished future.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = future<T>;
    using difference_type = std::ptrdiff_t;
    using pointer = const future<T>*;
    using reference = const future<T>&;

    iterator() = default;
    explicit iterator(as_completed_range* r) : r_(r) { advance(); }
    reference operator*() const { return current_; }
    pointer operator->() const { return &current_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    friend bool operator==(const iterator& a, std::default_sentinel_t) { return a.r_ == nullptr; }

   private:
    void advance() {
      if (auto f = r_->next()) {
        current_ = std::move(*f);
      } else {
        r_ = nullptr;
      }
    }
    as_completed_range* r_ = nullptr;
    future<T> current_;
  };

  /// Starts (or continues) the iteration.
  iterator begin() { return iterator(this); }
  /// End sentinel.
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  struct impl {
    detail::multi_waiter waiter;
    std::unordered_map<detail::state_base*, future<T>> by_state;
    std::vector<future<T>> ready;
    std::size_t ready_pos = 0;
    std::size_t taken_from_waiter = 0;
    std::size_t remaining = 0;
    std::vector<detail::state_base*> registered;
    std::optional<std::chrono::steady_clock::time_point> deadline;
    std::shared_ptr<detail::progress> progress;  // null when the display is off
  };

  std::optional<future<T>> next() {
    auto& im = *impl_;
    if (im.remaining == 0) return std::nullopt;
    --im.remaining;
    if (im.ready_pos < im.ready.size()) {
      if (im.progress) im.progress->add_delivered(1);
      return im.ready[im.ready_pos++];
    }
    auto pred = [&] { return im.taken_from_waiter < im.waiter.completed_.size(); };
    bool now;
    {
      std::lock_guard l(im.waiter.m_);
      now = pred();
    }
    std::optional<detail::lend_guard> lent;
    if (!now) {
      lent.emplace();  // a task's thread lets another run tasks meanwhile
      im.waiter.drive_until(pred, im.deadline.value_or(std::chrono::steady_clock::time_point::max()));
    }
    std::unique_lock lk(im.waiter.m_);
    if (im.deadline) {
      if (!im.waiter.cv_.wait_until(lk, *im.deadline, pred)) {
        ++im.remaining;
        throw timeout_error("rankpool::as_completed: timed out with futures unfinished");
      }
    } else {
      im.waiter.cv_.wait(lk, pred);
    }
    // Counted now: the future is done, though its callback may still be on its way.
    if (im.progress) im.progress->add_delivered(1);
    return im.by_state.at(im.waiter.completed_[im.taken_from_waiter++]);
  }

  std::unique_ptr<impl> impl_;
};

/// Yields each future of `fs` as it finishes; see as_completed_range. `progress` forces the
/// progress display on or off (e.g. `as_completed(fs, {}, true)`); unset, RANKPOOL_PROGRESS
/// decides, else it is on when stderr is a terminal.
template <class T>
as_completed_range<T> as_completed(const std::vector<future<T>>& fs,
                                   std::optional<std::chrono::duration<double>> timeout = {},
                                   std::optional<bool> progress = {}) {
  return as_completed_range<T>(fs, timeout, progress);
}

}  // namespace rankpool
