// Replay mode: runs the pricing core on an event-time clock over a JSON Lines file
// (pricing-model.md, "Replay files") and writes every output message as JSON Lines.
// Not thread-safe; one replay runs on the calling thread.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/time_format.h"
#include "engine/pricing_engine.h"
#include "operator/pricing_operator.h"

namespace pricing {

// A zone's busiest moment during a replay, for the summary table.
struct ZonePeak {
  std::string city;
  std::string zone_id;
  std::string zone_name;
  double peak_multiplier = 1.0;
  int64_t peak_tick = 0;
  int64_t demand_at_peak = 0;
  int64_t supply_at_peak = 0;
  int64_t surging_ticks = 0;  // ticks with a published multiplier above 1
  // Over those ticks: the riders and drivers counted (means say what drove the surge).
  int64_t demand_while_surging = 0;
  int64_t supply_while_surging = 0;
};

struct ReplayStats {
  uint64_t lines = 0;
  uint64_t applied = 0;
  RejectCounts rejected{};
  uint64_t ticks = 0;
  uint64_t messages_written = 0;
  std::vector<ZonePeak> peaks;  // every zone that surged, most surging first
};

// One input line of a replay file: `{"subject":..., "data":{...}, "headers":{...}}`,
// where `data` may also be a JSON string holding the raw payload bytes.
struct ReplayLine {
  std::string subject;
  std::string payload;
  std::vector<std::pair<std::string, std::string>> headers;
  bool ok = false;  // false: not a JSON object with `subject` and `data`
};

// Parses replay lines, reusing its buffers between lines. Not thread-safe.
class ReplayLineParser {
 public:
  ReplayLineParser();
  ~ReplayLineParser();
  ReplayLine Parse(std::string_view line);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads input lines `{"subject":..., "data":{...}, "headers":{...}}` from `in`; `data`
// may also be a JSON string holding the raw payload bytes. Line numbers serve as input
// sequences. Runs them through the pricing operator on event time and writes
// `{"subject":..., "msg_id":..., "data":{...}}` lines to `out`, and for every rejected
// input its dead letter as the live processor stores it: `{"subject":
// "dlq.location.<city>", "msg_id":..., "headers":{...}, "payload":"..."}`.
// Deterministic apart from computed_at and compute_ms. `observer`, if given, is told of
// every closed tick as well (the backtest reads the published prices there).
ReplayStats RunReplay(PricingEngine& engine, std::istream& in, std::ostream& out,
                      OperatorListener* observer = nullptr);

// Prints the `top` most-surging zones as an aligned text table.
void PrintSurgeTable(const ReplayStats& stats, std::size_t top, std::ostream& out);

}  // namespace pricing
