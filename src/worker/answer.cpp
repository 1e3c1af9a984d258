// A worker's answer to cancel and take-back requests (see answer.hpp).

#include "worker/answer.hpp"

#include <cstring>

namespace rankpool::detail {

std::vector<char> answer_requests(const std::vector<wire::header>& requests,
                                  const std::function<bool(std::uint64_t)>& cancel,
                                  const std::function<std::vector<std::uint64_t>(std::size_t)>& take_back) {
  std::vector<std::uint64_t> returned, refused;
  for (const auto& r : requests) {
    if (r.kind == static_cast<std::uint8_t>(wire::kind::cancel)) {
      (cancel(r.id) ? returned : refused).push_back(r.id);
    } else if (r.kind == static_cast<std::uint8_t>(wire::kind::take_back)) {
      auto ids = take_back(static_cast<std::size_t>(r.id));
      returned.insert(returned.end(), ids.begin(), ids.end());
    }
  }
  const wire::answer_counts counts{returned.size(), refused.size()};
  std::vector<char> b(sizeof(wire::header) + sizeof counts +
                      (returned.size() + refused.size()) * sizeof(std::uint64_t));
  wire::put_header(b.data(), wire::kind::answer, requests.size(), b.size() - sizeof(wire::header));
  char* at = b.data() + sizeof(wire::header);
  std::memcpy(at, &counts, sizeof counts);
  at += sizeof counts;
  for (const auto* ids : {&returned, &refused}) {
    if (ids->empty()) continue;
    std::memcpy(at, ids->data(), ids->size() * sizeof(std::uint64_t));
    at += ids->size() * sizeof(std::uint64_t);
  }
  return b;
}

}  // namespace rankpool::detail
