#include "common/time_format.h"

#include <cstdio>

#include "common/clock.h"

namespace pricing {

std::string FormatUtc(int64_t ms) {
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
  const int64_t days = FloorDiv(ms, 86'400'000);
  const int64_t sec_of_day = (ms - days * 86'400'000) / 1000;
  const int64_t z = days + 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ",
                static_cast<long long>(y), static_cast<long long>(m), static_cast<long long>(d),
                static_cast<long long>(sec_of_day / 3600),
                static_cast<long long>(sec_of_day / 60 % 60),
                static_cast<long long>(sec_of_day % 60));
  return buf;
}

}  // namespace pricing
