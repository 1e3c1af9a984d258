// The parts of the observer hooks (observer.hpp) that are not inline: the real-time clock offset
// and the conversion of a worker's result record into a task event.

#include "observe/observer.hpp"

#include <algorithm>

#include "wire/framing.hpp"

namespace rankpool::detail {

std::int64_t observe_clock::realtime_offset() noexcept {
  static const std::int64_t offset = [] {
    // The smallest of a few readings' gaps: a reading interrupted between the two clocks is off.
    std::int64_t best = 0, best_gap = INT64_MAX;
    for (int i = 0; i < 5; ++i) {
      const auto a = now();
      const auto r =
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      const auto b = now();
      if (b - a < best_gap) {
        best_gap = b - a;
        best = r - (a + (b - a) / 2);
      }
    }
    return best;
  }();
  return offset;
}

void hooks::report_result(const task& t, std::size_t slot, const wire::result_record& rec, std::int64_t dispatched,
                          std::uint64_t bytes_in, std::int64_t received) const {
  task_event e;
  e.id = rec.id;
  e.slot = slot;
  e.lane = rec.lane;
  e.elements = static_cast<std::uint32_t>(t.weight);
  e.submitted = t.submitted_ns;
  e.dispatched = dispatched;
  // Bounded, so a corrupt record cannot overflow the arithmetic: it only misplaces a slice.
  constexpr std::int64_t limit = std::int64_t{1} << 62;
  const auto exec = static_cast<std::int64_t>(std::min<std::uint64_t>(rec.exec_ns, limit));
  e.started =
      rec.start_ns > 0 && rec.start_ns < limit ? rec.start_ns : received + observe_clock::realtime_offset() - exec;
  e.ended = e.started + exec;
  e.received = received;
  e.bytes_in = bytes_in;
  e.bytes_out = sizeof rec + rec.bytes;
  obs_->on_task_done(t, e);
}

}  // namespace rankpool::detail
