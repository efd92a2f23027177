// The pricing operator's view in Prometheus: what it reports once per tick,
// configuration document or checkpoint (OperatorListener), and its input counters,
// copied as running totals on every scrape (CopyTotals, a scrape hook). The per-input
// path thus touches only the operator's relaxed atomics, never a mutex or a map.
//
// Threads: the listener methods run on the operator's thread; CopyTotals on the HTTP
// thread that scrapes.
#pragma once

#include "observe/metrics.h"
#include "operator/pricing_operator.h"

namespace pricing {

class OperatorMetrics final : public OperatorListener {
 public:
  explicit OperatorMetrics(Metrics& metrics) : metrics_(metrics) {}

  void TickClosed(const TickResult& tick, const ZoneSet& zones) override {
    metrics_.Tick(tick, zones);
  }
  void TickStored(const std::string& city, int64_t tick, int64_t now_ms,
                  const TickLatency& latency) override {
    metrics_.EventsToPublish(city, latency, static_cast<double>(now_ms - tick) / 1000.0);
  }
  void ConfigAnswered(const std::string& city, bool applied) override {
    metrics_.ConfigUpdate(city, applied);
  }
  void HandlingFailed(bool final) override { metrics_.HandlingFailed(final); }
  void Checkpointed() override { metrics_.Checkpointed(); }

  // Copies the operator's input counters into the metrics.
  void CopyTotals(const PricingOperator& op) {
    for (const auto& [key, engine] : op.engine().cities()) {
      if (const CityCounters* c = op.city_counters(key)) metrics_.InputTotals(key, *c);
    }
    metrics_.InputTotals("", op.counters().unrouted);
    metrics_.RedeliveriesSkipped(op.counters().skipped.load(std::memory_order_relaxed));
  }

 private:
  Metrics& metrics_;
};

}  // namespace pricing
