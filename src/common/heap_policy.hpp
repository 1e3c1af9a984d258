#pragma once
// Does this process keep the memory it frees? glibc returns freed memory to the kernel early: a
// block of 128 KiB or more is its own mapping, unmapped when freed, and a free heap top over
// 128 KiB is trimmed. The next allocation then touches fresh pages, and a fresh page costs a
// fault (12 µs a page in the 2-core VM the project is measured on, 0.5 s per 160 MB). A pool
// allocates a state, a task and its buffers for every task and frees them when the result is
// taken, so a run of 100k submits faulted in its memory again every time (0.45 M tasks/s, 1.0 M
// with the memory kept), and every 1 MiB argument was a fresh mapping (90 MB/s, 4.5 GB/s kept).
// So a pool sets glibc's thresholds to where its own adaptive rule ends up after the first large
// free (allocations up to 32 MiB from the heap) and keeps up to 128 MiB of free heap top.

#include <optional>

namespace rankpool::detail::heap_policy {

/// What the decision rests on.
struct facts {
  std::optional<bool> keep_env;  ///< RANKPOOL_KEEP_MEMORY, when it holds a boolean
  bool tunables_set = false;     ///< GLIBC_TUNABLES names a glibc.malloc setting (the application chose)
  bool glibc = false;            ///< malloc is glibc's (mallopt exists)
};

/// True when the thresholds are to be set: RANKPOOL_KEEP_MEMORY decides when set (and glibc is
/// there); otherwise unless the application set malloc's thresholds through GLIBC_TUNABLES.
bool should_keep(const facts& f) noexcept;

/// Allocations up to this size come from the heap instead of a mapping of their own.
inline constexpr int mmap_threshold = 32 << 20;
/// Free memory at the heap's top up to this size stays with the process.
inline constexpr int trim_threshold = 128 << 20;

/// This process's facts, from its environment.
facts from_environment() noexcept;

/// Decides once per process (later calls do nothing) and sets the thresholds with mallopt when
/// should_keep says so; RANKPOOL_LOG=debug says which. Called as a pool starts, on every rank.
void apply_once() noexcept;

}  // namespace rankpool::detail::heap_policy
