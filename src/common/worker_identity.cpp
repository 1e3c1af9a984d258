// Who this process is, as remote errors and log lines report it (see worker_identity.hpp).

#include "common/worker_identity.hpp"

#include <unistd.h>

namespace rankpool::detail {

worker_identity& this_worker() noexcept {
  static worker_identity id = [] {
    worker_identity w;
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) w.host = host;
    return w;
  }();
  return id;
}

}  // namespace rankpool::detail
