// Reading a Prometheus text exposition (what /metrics answers), for the tests and the
// bench harnesses.
#pragma once

#include <sstream>
#include <string>

namespace pricing::test {

// The value of `series` (name and labels, as exposed) in a Prometheus text exposition,
// or -1 when it is absent.
inline double MetricValue(const std::string& scrape, const std::string& series) {
  std::istringstream in(scrape);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// The sum of every series of counter family `family` (all label sets), 0 when absent.
inline double MetricSum(const std::string& scrape, const std::string& family) {
  std::istringstream in(scrape);
  double total = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(family + "{", 0) == 0) total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

}  // namespace pricing::test
