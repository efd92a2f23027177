// Pricing updates as the integration and chaos tests compare them: by (tick, zone),
// read from PRICING_UPDATES or from `pricing replay` over the same inputs.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "engine/pricing_engine.h"
#include "replay/replay.h"

namespace pricing::test {

struct PriceUpdate {
  int count = 0;  // how many messages carried it (1 unless duplicated)
  double multiplier = 0, raw = 0;
  int64_t demand = 0, supply = 0;
  int64_t config_version = 0;
};
using PriceUpdates = std::map<std::pair<int64_t, std::string>, PriceUpdate>;  // (tick, zone)

// The pricing.update.* messages among (subject, data) pairs.
inline PriceUpdates ParsePriceUpdates(
    const std::vector<std::pair<std::string, std::string>>& messages) {
  PriceUpdates out;
  simdjson::dom::parser parser;
  for (const auto& [subject, data] : messages) {
    if (!subject.starts_with("pricing.update.")) continue;
    const simdjson::dom::element e = parser.parse(simdjson::padded_string(data));
    PriceUpdate& u = out[{int64_t(e["tick"]), std::string(std::string_view(e["zone_id"]))}];
    ++u.count;
    u.multiplier = double(e["multiplier"]);
    u.raw = double(e["raw"]);
    u.demand = int64_t(e["demand"]);
    u.supply = int64_t(e["supply"]);
    u.config_version = int64_t(e["config_version"]);
  }
  return out;
}

// One replay input line for an event.
inline std::string ReplayInputLine(const std::string& subject, const std::string& payload) {
  return R"({"subject":")" + subject + R"(","data":)" + payload + "}\n";
}

// What `pricing replay` makes of `input` (replay input lines) under `config`, as
// (subject, data) pairs.
inline std::vector<std::pair<std::string, std::string>> ReplayOutputs(const Config& config,
                                                                      const std::string& input) {
  SystemClock clock;
  PricingEngine engine(config.engine(), clock);
  std::istringstream in(input);
  std::ostringstream out;
  RunReplay(engine, in, out);
  std::vector<std::pair<std::string, std::string>> messages;
  simdjson::dom::parser parser;
  std::istringstream lines(out.str());
  std::string line;
  while (std::getline(lines, line)) {
    const simdjson::dom::element e = parser.parse(line);
    // Outputs carry a JSON "data"; dead letters (late or rejected events) carry the
    // rejected input verbatim as a "payload" string.
    simdjson::dom::element data;
    std::string body;
    if (!e["data"].get(data)) {
      body = simdjson::minify(data);
    } else {
      body = std::string(std::string_view(e["payload"]));
    }
    messages.push_back({std::string(std::string_view(e["subject"])), std::move(body)});
  }
  return messages;
}

}  // namespace pricing::test
