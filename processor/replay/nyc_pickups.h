// Reads the FiveThirtyEight Uber pickups CSV (`Date/Time,Lat,Lon,Base`, New York local
// time at minute resolution) into time-ordered ride requests. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace pricing {

struct Pickup {
  int64_t ts_ms;  // UTC
  double lat, lon;
  uint64_t row;  // 1-based data row in the file, for stable ids
};

// America/New_York local civil time to UTC milliseconds, with the US rules in force
// since 2007 (DST from the second Sunday of March 02:00 to the first Sunday of November
// 02:00). In the repeated autumn hour the earlier (daylight) reading is taken.
// Throws std::invalid_argument for years before 2007.
int64_t NewYorkLocalToUtcMs(int year, int month, int day, int hour, int minute, int second);

// Parses "2014-04-01T16:00" or "2014-04-01 16:00[:ss]" as New York local time.
int64_t ParseNewYorkTime(const std::string& text);

// Rows sorted by time (ties keep file order). Throws std::runtime_error naming the file
// and line on an unreadable file or a malformed row.
std::vector<Pickup> ReadUberPickups(const std::filesystem::path& csv);

}  // namespace pricing
