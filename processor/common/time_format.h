// Formatting of times for logs, tables and reports. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pricing {

// "2014-04-01T21:35:00Z" for a UTC time in milliseconds.
std::string FormatUtc(int64_t ms);

// A moment given on a command line, in ms since the epoch: "2026-12-04T17:00:00Z" or
// "2026-12-04T17:00Z" (UTC), or a time before `now_ms`: "90s", "15m", "2h", "1d".
// nullopt when it is neither.
std::optional<int64_t> ParseMoment(std::string_view text, int64_t now_ms);

}  // namespace pricing
