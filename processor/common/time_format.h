// Formatting of times for logs, tables and reports. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace pricing {

// "2014-04-01T21:35:00Z" for a UTC time in milliseconds.
std::string FormatUtc(int64_t ms);

}  // namespace pricing
