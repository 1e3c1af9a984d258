#pragma once
// Internal: a worker's answer to the root's cancel and take-back requests, as one message. No
// MPI in it: the serve loop sends what it builds.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "wire/framing.hpp"

namespace rankpool::detail {

/// Acts on `requests` (cancel and take_back headers) through `cancel` (true: the task will not
/// run here) and `take_back` (the ids of up to n unstarted tasks, removed), and returns the
/// `answer` message: how many requests it answers, the ids that will not run here, the ids
/// whose cancel came too late.
std::vector<char> answer_requests(const std::vector<wire::header>& requests,
                                  const std::function<bool(std::uint64_t)>& cancel,
                                  const std::function<std::vector<std::uint64_t>(std::size_t)>& take_back);

}  // namespace rankpool::detail
