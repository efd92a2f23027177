// The processor's Prometheus metrics (prometheus-cpp), named by Prometheus conventions:
// base units, `_total` counters, `_seconds` histograms, `pricing_` prefix. The names and
// labels are the contract of grafana/dashboards/*.json; tests/observe checks every
// panel's query against a real Prometheus scraping a real run.
//
// Recording is thread-safe (prometheus-cpp metrics are atomic); families are created
// once here. Per-zone series are bounded: they are off when `zone_series` is false or
// a city has more zones than `max_zone_series`.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "events/event.h"
#include "observe/health.h"
#include "zones/zone_set.h"

namespace pricing {

struct TickResult;
struct TickLatency;
struct CityCounters;

struct MetricsOptions {
  bool zone_series = true;
  std::size_t max_zone_series = 2000;  // per city
};

class Metrics {
 public:
  explicit Metrics(MetricsOptions options = {});
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Runs `hook` before every scrape (to copy counters kept elsewhere).
  void AddScrapeHook(std::function<void()> hook);
  // The text exposition format (version 0.0.4) of every metric.
  std::string Scrape();

  // Inputs. `city` is empty when the subject named none.
  void EventRead(std::string_view city, EventKind kind);
  void EventRejected(std::string_view city, RejectReason reason);
  void EventsUnzoned(std::string_view city, uint64_t count);
  void DeadLettered(std::string_view city);
  void RedeliverySkipped();
  // An event whose handling failed (threw): `final` when it was the last delivery the
  // consumer allows, so it goes to DEAD_LETTERS with reason `poison`.
  void HandlingFailed(bool final);

  // Ticks.
  void TickClosed(const std::string& city, double compute_seconds, int64_t tick_ms);
  // Everything a closed tick updates: TickClosed, ZoneValues and EventsUnzoned.
  void Tick(const TickResult& tick, const ZoneSet& zones);
  void EventToPublish(const std::string& city, double seconds);
  // The events of one tick, stored `stored_after_tick_s` after the tick: each event's
  // latency is that plus how long before the tick it happened (bucketed).
  void EventsToPublish(const std::string& city, const TickLatency& latency,
                       double stored_after_tick_s);
  // Input counts kept by the pricing operator, as running totals (copied on scrape).
  // `city` is empty for inputs that named no known city.
  void InputTotals(std::string_view city, const CityCounters& counters);
  void RedeliveriesSkipped(uint64_t total);
  // Arrays of zones.size() values, in zone index order.
  void ZoneValues(const std::string& city, const ZoneSet& zones, const double* multiplier,
                  const double* supply, const double* demand);
  void ConfigUpdate(const std::string& city, bool applied);
  void Checkpointed();

  // Publishing, as running totals (copied on scrape from JsPublisher::Stats).
  void PublishTotals(uint64_t acked, uint64_t errors, uint64_t retries, uint64_t duplicates,
                     uint64_t failed, uint64_t in_flight);

  // State read by the health loop.
  void ConsumerState(uint64_t pending, uint64_t ack_pending, uint64_t redelivered);
  void StreamState(const std::string& stream, uint64_t messages, uint64_t bytes);
  void Connection(bool connected, uint64_t disconnects, uint64_t reconnects);
  void Health(const std::string& check, bool ok);
  void Ready(bool ready);
  void Active(Role role);  // pricing_active: 1 active, 0 standby (kNone: not exported)
  void LastTickAge(const std::string& city, double seconds);
  // Stage 2 of partitioned pricing: the partitions whose counts of the city's next tick
  // are missing while it is held (0: not held), and for how long it has been held.
  void TickHeld(const std::string& city, int missing_partitions, double held_seconds);

  // WebSocket gateway.
  void WebSocketClients(int64_t clients);
  void WebSocketDropped(std::string_view why);
  void WebSocketSent(uint64_t messages);

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  prometheus::Gauge& NamedGauge(prometheus::Family<prometheus::Gauge>& family,
                                const std::string& label, const std::string& value);
  static void AdvanceTo(prometheus::Counter& counter, uint64_t total);

  MetricsOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::function<void()>> hooks_;

  prometheus::Family<prometheus::Counter>& events_read_;
  prometheus::Family<prometheus::Counter>& events_rejected_;
  prometheus::Family<prometheus::Counter>& events_unzoned_;
  prometheus::Family<prometheus::Counter>& dead_letters_;
  prometheus::Counter& redeliveries_skipped_;
  prometheus::Family<prometheus::Counter>& handling_failures_;
  prometheus::Counter& handling_retried_;
  prometheus::Counter& handling_dead_lettered_;
  prometheus::Family<prometheus::Counter>& ticks_closed_;
  prometheus::Family<prometheus::Histogram>& tick_compute_;
  prometheus::Family<prometheus::Histogram>& event_to_publish_;
  prometheus::Family<prometheus::Gauge>& last_tick_;
  prometheus::Family<prometheus::Gauge>& last_tick_age_;
  prometheus::Family<prometheus::Gauge>& partitions_missing_;
  prometheus::Family<prometheus::Gauge>& tick_held_;
  prometheus::Family<prometheus::Gauge>& zone_multiplier_;
  prometheus::Family<prometheus::Gauge>& zone_supply_;
  prometheus::Family<prometheus::Gauge>& zone_demand_;
  prometheus::Family<prometheus::Counter>& config_updates_;
  prometheus::Counter& checkpoints_;
  prometheus::Counter& publish_acked_;
  prometheus::Counter& publish_errors_;
  prometheus::Counter& publish_retries_;
  prometheus::Counter& publish_duplicates_;
  prometheus::Counter& publish_failed_;
  prometheus::Gauge& publish_in_flight_;
  prometheus::Gauge& consumer_pending_;
  prometheus::Gauge& consumer_ack_pending_;
  prometheus::Gauge& consumer_redelivered_;
  prometheus::Family<prometheus::Gauge>& stream_messages_;
  prometheus::Family<prometheus::Gauge>& stream_bytes_;
  prometheus::Gauge& nats_connected_;
  prometheus::Counter& nats_disconnects_;
  prometheus::Counter& nats_reconnects_;
  prometheus::Family<prometheus::Gauge>& health_check_;
  prometheus::Gauge& ready_;
  prometheus::Family<prometheus::Gauge>& active_;
  prometheus::Gauge& ws_clients_;
  prometheus::Family<prometheus::Counter>& ws_dropped_;
  prometheus::Counter& ws_sent_;

  // A city's series, resolved once: Family::Add hashes its labels on every call.
  struct CitySeries {
    std::array<prometheus::Counter*, kEventKindCount> read{};
    std::array<prometheus::Counter*, kRejectReasonCount> rejected{};
    prometheus::Counter* unzoned = nullptr;
    prometheus::Counter* dead_letters = nullptr;
    prometheus::Counter* ticks = nullptr;
    prometheus::Histogram* compute = nullptr;
    prometheus::Histogram* latency = nullptr;
    prometheus::Gauge* last_tick = nullptr;
    prometheus::Gauge* last_tick_age = nullptr;
    prometheus::Counter* config_applied = nullptr;
    prometheus::Counter* config_refused = nullptr;
    int zone_series = -1;  // unknown until the first tick; then 0 or 1
    std::vector<std::array<prometheus::Gauge*, 3>> zones;
  };
  CitySeries& City(std::string_view city);  // under mu_

  std::mutex mu_;
  std::map<std::string, CitySeries, std::less<>> cities_;
  std::map<std::string, prometheus::Gauge*, std::less<>> named_gauges_;  // streams, checks
  std::map<std::string, prometheus::Counter*, std::less<>> ws_dropped_by_;
};

}  // namespace pricing
