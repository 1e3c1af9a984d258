#pragma once
// The result journal as submit and map use it (executor_options::journal, map_options::journal):
// a task whose encoded body a previous run already finished is completed from the stored result
// without running; any other task records its result once it succeeds. The file itself is
// detail::journal (journal.hpp, src/journal.cpp).

#include <cstdint>
#include <exception>
#include <memory>
#include <rankpool/detail/codec.hpp>
#include <rankpool/detail/journal.hpp>
#include <rankpool/detail/task.hpp>
#include <rankpool/future.hpp>
#include <type_traits>
#include <vector>

namespace rankpool::detail {

/// Writes a task's result as the journal stores it: the value (or, for a map chunk, every
/// element's value). Only successful results are stored (false: nothing to store); a failed task
/// runs again on the next run.
template <class T>
bool encode_journaled(writer& w, const T& v) {
  detail::encode(w, v);
  return true;
}
template <class R>
bool encode_journaled(writer& w, const std::vector<outcome<R>>& chunk) {
  for (const auto& o : chunk)
    if (o.error) return false;
  w.raw().put_value<std::uint64_t>(chunk.size());
  if constexpr (!std::is_void_v<R>)
    for (const auto& o : chunk) detail::encode(w, *o.value);
  return true;
}

/// Reads what encode_journaled wrote.
template <class T>
T decode_journaled(reader& r, std::type_identity<T>) {
  T v{};
  detail::decode(r, v);
  return v;
}
template <class R>
std::vector<outcome<R>> decode_journaled(reader& r, std::type_identity<std::vector<outcome<R>>>) {
  std::vector<outcome<R>> chunk(r.get_length(std::is_void_v<R> ? 0 : 1));
  for (auto& o : chunk) {
    if constexpr (std::is_void_v<R>) {
      o.value.emplace();
    } else {
      detail::decode(r, o.value.emplace());
    }
  }
  return chunk;
}

/// With a journal: completes the future from a previous run's result and returns true, or
/// arranges for the result to be recorded when the task succeeds and returns false. Encodes the
/// task's body (its key), which the executor then sends as it is.
template <class Task, class T>
bool replay_or_record(Task& t, shared_state<T>& s, const std::shared_ptr<journal>& j) {
  t.encode_body();
  const auto& b = t.bytes();
  auto key = journal::key_of(b.data() + task_header_room, b.size() - task_header_room);
  if (auto stored = j->find(key)) {
    try {
      reader r(stored->data(), stored->size());
      if constexpr (std::is_void_v<T>) {
        s.set_value();
      } else {
        s.set_value(detail::decode_journaled(r, std::type_identity<T>{}));
      }
      return true;
    } catch (const std::exception&) {
      // an unreadable record: run the task again
    }
  }
  s.add_callback([j, key](const future<T>& f) {
    if (f.state()->exception_unsafe() || f.cancelled()) return;
    writer w;
    if constexpr (std::is_void_v<T>) {
      (void)w;
      j->append(key, nullptr, 0);
    } else if (detail::encode_journaled(w, *f.state()->value_unsafe())) {
      w.reset_archive();
      auto& bytes = w.raw().bytes();
      j->append(key, bytes.data(), bytes.size());
    }
  });
  return false;
}

}  // namespace rankpool::detail
