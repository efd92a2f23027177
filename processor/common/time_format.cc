#include "common/time_format.h"

#include <cstdio>
#include <string>

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

std::optional<int64_t> ParseMoment(std::string_view text, int64_t now_ms) {
  if (text.empty()) return std::nullopt;
  // A duration ago: digits and one unit.
  const char unit = text.back();
  const std::string_view digits = text.substr(0, text.size() - 1);
  if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos &&
      digits.size() <= 9) {
    const int64_t n = std::stoll(std::string(digits));
    const int64_t per = unit == 's'   ? 1000
                        : unit == 'm' ? 60'000
                        : unit == 'h' ? 3'600'000
                        : unit == 'd' ? 86'400'000
                                      : 0;
    if (per > 0) return now_ms - n * per;
  }
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, used = 0;
  const std::string t(text);
  const bool with_seconds =
      std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &s, &used) == 6 &&
      used == static_cast<int>(t.size());
  used = 0;
  if (!with_seconds &&
      !(std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &used) == 5 &&
        used == static_cast<int>(t.size()))) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  // Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
  const int64_t yy = mo <= 2 ? y - 1 : y;
  const int64_t era = FloorDiv(yy, 400);
  const int64_t yoe = yy - era * 400;
  const int64_t doy = (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = era * 146097 + doe - 719468;
  return ((days * 24 + h) * 60 + mi) * 60'000 + s * 1000LL;
}

}  // namespace pricing
