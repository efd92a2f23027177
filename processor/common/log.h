// Line-oriented logging to stderr with a UTC timestamp and a level. Thread-safe: each
// line is written with one call.
#pragma once

#include <sstream>
#include <string>

namespace pricing {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void SetLogLevel(LogLevel level);
void LogLine(LogLevel level, const std::string& text);

// LOG(kInfo) << "connected to " << url;
class LogStream {
 public:
  explicit LogStream(LogLevel level) : level_(level) {}
  ~LogStream() { LogLine(level_, os_.str()); }
  template <typename T>
  LogStream& operator<<(const T& v) {
    os_ << v;
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream os_;
};

}  // namespace pricing

#define PRICING_LOG(level) ::pricing::LogStream(::pricing::LogLevel::level)
