#include "observe/held_ticks.h"

#include <cstdio>
#include <set>

#include "common/log.h"
#include "common/time_format.h"

namespace pricing {

void HeldTicksReporter::Report(const PricingOperator& op, int64_t now_ms) {
  if (now_ms - last_report_ms_ < 1000) return;
  last_report_ms_ = now_ms;
  std::string detail;
  std::set<std::string, std::less<>> held;
  for (const PricingOperator::HeldTick& h : op.Held(now_ms)) {
    std::string missing;
    for (int32_t p : h.missing) missing += (missing.empty() ? "" : ", ") + std::to_string(p);
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.0f", static_cast<double>(h.overdue_ms) / 1000.0);
    detail += (detail.empty() ? "" : "; ") + h.city + ": tick " + FormatUtc(h.tick) + " held " +
              seconds + " s past its close, waiting for the counts of partition " +
              (missing.empty() ? "?" : missing);
    metrics_.TickHeld(h.city, static_cast<int>(h.missing.size()),
                      static_cast<double>(h.overdue_ms) / 1000.0);
    held.insert(h.city);
  }
  for (const auto& [key, engine] : op.engine().cities()) {
    if (!held.contains(key)) metrics_.TickHeld(key, 0, 0);
  }
  health_.SetPartitionsHolding(detail);
  if (detail.empty() != detail_.empty()) {
    if (detail.empty()) {
      PRICING_LOG(kInfo) << "every partition's counts are in again: pricing caught up";
    } else {
      PRICING_LOG(kWarn) << "holding " << detail;
    }
  }
  detail_ = detail;
}

}  // namespace pricing
