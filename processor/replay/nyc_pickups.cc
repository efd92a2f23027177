#include "replay/nyc_pickups.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace pricing {
namespace {

int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// Day of month of the n-th Sunday (n >= 1) of a month.
int NthSunday(int year, int month, int n) {
  const int64_t first = DaysFromCivil(year, month, 1);
  const int weekday =
      static_cast<int>(((first % 7) + 11) % 7);  // 0 = Sunday; 1970-01-01 was a Thursday
  const int first_sunday = 1 + (7 - weekday) % 7;
  return first_sunday + 7 * (n - 1);
}

}  // namespace

int64_t NewYorkLocalToUtcMs(int year, int month, int day, int hour, int minute, int second) {
  if (year < 2007) throw std::invalid_argument("New York times before 2007 are not supported");
  const int64_t local_s =
      DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  const int64_t dst_start = DaysFromCivil(year, 3, NthSunday(year, 3, 2)) * 86400 + 2 * 3600;
  // Clocks go back at 02:00 daylight time; local 01:00-02:00 happens twice and the
  // first (daylight) reading is taken, so daylight time lasts until local 02:00.
  const int64_t dst_end = DaysFromCivil(year, 11, NthSunday(year, 11, 1)) * 86400 + 2 * 3600;
  const bool dst = local_s >= dst_start && local_s < dst_end;
  const int64_t offset_s = dst ? -4 * 3600 : -5 * 3600;
  return (local_s - offset_s) * 1000;
}

int64_t ParseNewYorkTime(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  char sep = 0;
  const int n = std::sscanf(text.c_str(), "%d-%d-%d%c%d:%d:%d", &y, &mo, &d, &sep, &h, &mi, &s);
  if (n < 6 || (sep != 'T' && sep != ' ') || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
      mi > 59 || s > 59) {
    throw std::invalid_argument("time '" + text + "' is not YYYY-MM-DDTHH:MM[:SS]");
  }
  return NewYorkLocalToUtcMs(y, mo, d, h, mi, s);
}

std::vector<Pickup> ReadUberPickups(const std::filesystem::path& csv) {
  std::ifstream in(csv);
  if (!in) throw std::runtime_error(csv.string() + ": cannot open pickups file");
  std::string line;
  std::getline(in, line);
  if (line.rfind("Date/Time,Lat,Lon", 0) != 0 &&
      line.rfind("\"Date/Time\",\"Lat\",\"Lon\"", 0) != 0) {
    throw std::runtime_error(csv.string() + ": header is not 'Date/Time,Lat,Lon,Base'");
  }
  std::vector<Pickup> out;
  uint64_t row = 0;
  while (std::getline(in, line)) {
    ++row;
    if (line.empty() || line == "\r") continue;
    std::erase(line, '"');
    int a = 0, b = 0, c = 0, h = 0, mi = 0, s = 0;
    double lat = 0, lon = 0;
    if (std::sscanf(line.c_str(), "%d/%d/%d %d:%d:%d,%lf,%lf", &a, &b, &c, &h, &mi, &s, &lat,
                    &lon) != 8) {
      throw std::runtime_error(csv.string() + ": line " + std::to_string(row + 1) +
                               " is not 'Y/M/D H:MM:SS,lat,lon,base': " + line);
    }
    // The FiveThirtyEight releases write Y/M/D in some files and M/D/Y in others.
    const bool year_first = a > 31;
    const int y = year_first ? a : c, mo = year_first ? b : a, d = year_first ? c : b;
    out.push_back({NewYorkLocalToUtcMs(y, mo, d, h, mi, s), lat, lon, row});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Pickup& a, const Pickup& b) { return a.ts_ms < b.ts_ms; });
  return out;
}

}  // namespace pricing
