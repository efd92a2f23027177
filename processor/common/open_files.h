// The process's open-file limit. Every WebSocket client, NATS connection and test
// socket is a descriptor, and Debian's default soft limit of 1,024 refuses the
// thousandth client: raise the soft limit to the hard one.
#pragma once

#include <sys/resource.h>

namespace pricing {

inline void RaiseOpenFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace pricing
