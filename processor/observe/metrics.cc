#include "observe/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>

#include "engine/city_engine.h"
#include "observe/build_info.h"
#include "operator/pricing_operator.h"

namespace pricing {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Tick compute: tens of microseconds for a city of hundreds of zones, milliseconds for
// 10,000 zones (docs/performance.md).
const prometheus::Histogram::BucketBoundaries& ComputeBuckets() {
  static const prometheus::Histogram::BucketBoundaries b{0.00001, 0.00003, 0.0001, 0.0003, 0.001,
                                                         0.003,   0.01,    0.03,   0.1,    0.3};
  return b;
}

// Event to PubAck: at least the time to the tick's close (up to an interval plus the
// allowed lateness), so seconds to tens of seconds.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries b{0.05, 0.1, 0.25, 0.5, 1,  1.5, 2,  3,
                                                         5,    7.5, 10,   15,  20, 30,  60, 120};
  return b;
}

std::string CityLabel(std::string_view city) {
  return city.empty() ? std::string("unknown") : std::string(city);
}

}  // namespace

Metrics::Metrics(MetricsOptions options)
    : options_(options),
      registry_(std::make_shared<prometheus::Registry>()),
      events_read_(BuildCounter()
                       .Name("pricing_events_read_total")
                       .Help("Input events read from LOCATION_EVENTS, valid or not")
                       .Register(*registry_)),
      events_rejected_(BuildCounter()
                           .Name("pricing_events_rejected_total")
                           .Help("Input events rejected (and dead-lettered), by reason")
                           .Register(*registry_)),
      events_unzoned_(BuildCounter()
                          .Name("pricing_events_unzoned_total")
                          .Help("Valid events outside every zone of their city")
                          .Register(*registry_)),
      dead_letters_(BuildCounter()
                        .Name("pricing_dead_letters_total")
                        .Help("Dead letters published to DEAD_LETTERS")
                        .Register(*registry_)),
      redeliveries_skipped_(BuildCounter()
                                .Name("pricing_redeliveries_skipped_total")
                                .Help("Redelivered events already applied, acknowledged only")
                                .Register(*registry_)
                                .Add({})),
      handling_failures_(BuildCounter()
                             .Name("pricing_handling_failures_total")
                             .Help("Events whose handling failed: retried (negatively "
                                   "acknowledged for redelivery), or dead-lettered as poison "
                                   "at the consumer's max_deliver")
                             .Register(*registry_)),
      handling_retried_(handling_failures_.Add({{"outcome", "retried"}})),
      handling_dead_lettered_(handling_failures_.Add({{"outcome", "dead_lettered"}})),
      ticks_closed_(BuildCounter()
                        .Name("pricing_ticks_closed_total")
                        .Help("Ticks closed and published")
                        .Register(*registry_)),
      tick_compute_(BuildHistogram()
                        .Name("pricing_tick_compute_seconds")
                        .Help("Time to compute one tick of a city (window counts and model)")
                        .Register(*registry_)),
      event_to_publish_(BuildHistogram()
                            .Name("pricing_event_to_publish_seconds")
                            .Help("From an event's ts to the PubAck of the first tick it is in")
                            .Register(*registry_)),
      last_tick_(BuildGauge()
                     .Name("pricing_last_tick_timestamp_seconds")
                     .Help("End of the last closed tick's window, Unix time")
                     .Register(*registry_)),
      last_tick_age_(
          BuildGauge()
              .Name("pricing_last_tick_age_seconds")
              .Help("Seconds since the end of the last tick whose updates are all stored")
              .Register(*registry_)),
      partitions_missing_(BuildGauge()
                              .Name("pricing_partitions_missing")
                              .Help("Stage 2: partitions whose counts of the city's held tick "
                                    "are missing (0: the city is not held)")
                              .Register(*registry_)),
      tick_held_(BuildGauge()
                     .Name("pricing_tick_held_seconds")
                     .Help("Stage 2: how long the city's next tick has waited for a "
                           "partition's counts past its close time (0: not held)")
                     .Register(*registry_)),
      zone_multiplier_(BuildGauge()
                           .Name("pricing_zone_multiplier")
                           .Help("Published surge multiplier of a zone at the last tick")
                           .Register(*registry_)),
      zone_supply_(BuildGauge()
                       .Name("pricing_zone_supply_drivers")
                       .Help("Distinct available drivers in a zone's window at the last tick")
                       .Register(*registry_)),
      zone_demand_(BuildGauge()
                       .Name("pricing_zone_demand_riders")
                       .Help("Distinct requesting riders in a zone's window at the last tick")
                       .Register(*registry_)),
      config_updates_(BuildCounter()
                          .Name("pricing_config_updates_total")
                          .Help("CONFIG_UPDATES documents answered, by result")
                          .Register(*registry_)),
      checkpoints_(BuildCounter()
                       .Name("pricing_checkpoints_total")
                       .Help("Model-state checkpoints stored")
                       .Register(*registry_)
                       .Add({})),
      publish_acked_(BuildCounter()
                         .Name("pricing_publish_acked_total")
                         .Help("Publishes acknowledged by JetStream")
                         .Register(*registry_)
                         .Add({})),
      publish_errors_(BuildCounter()
                          .Name("pricing_publish_errors_total")
                          .Help("Publish attempts that failed (then retried unless permanent)")
                          .Register(*registry_)
                          .Add({})),
      publish_retries_(BuildCounter()
                           .Name("pricing_publish_retries_total")
                           .Help("Publishes sent again with the same message id")
                           .Register(*registry_)
                           .Add({})),
      publish_duplicates_(BuildCounter()
                              .Name("pricing_publish_duplicates_total")
                              .Help("Retries JetStream reported as already stored")
                              .Register(*registry_)
                              .Add({})),
      publish_failed_(BuildCounter()
                          .Name("pricing_publish_failed_total")
                          .Help("Publishes given up: refused for good (permissions, no stream)")
                          .Register(*registry_)
                          .Add({})),
      publish_in_flight_(BuildGauge()
                             .Name("pricing_publish_in_flight_messages")
                             .Help("Publishes sent and not yet acknowledged")
                             .Register(*registry_)
                             .Add({})),
      consumer_pending_(BuildGauge()
                            .Name("pricing_consumer_pending_messages")
                            .Help("Events stored and not yet delivered to the processor")
                            .Register(*registry_)
                            .Add({})),
      consumer_ack_pending_(BuildGauge()
                                .Name("pricing_consumer_ack_pending_messages")
                                .Help("Events delivered and not yet acknowledged")
                                .Register(*registry_)
                                .Add({})),
      consumer_redelivered_(BuildGauge()
                                .Name("pricing_consumer_redelivered_messages")
                                .Help("Events delivered more than once and not yet acknowledged")
                                .Register(*registry_)
                                .Add({})),
      stream_messages_(BuildGauge()
                           .Name("pricing_stream_messages")
                           .Help("Messages stored in a JetStream stream")
                           .Register(*registry_)),
      stream_bytes_(BuildGauge()
                        .Name("pricing_stream_bytes")
                        .Help("Bytes stored in a JetStream stream")
                        .Register(*registry_)),
      nats_connected_(BuildGauge()
                          .Name("pricing_nats_connected")
                          .Help("1 while connected to a NATS server")
                          .Register(*registry_)
                          .Add({})),
      nats_disconnects_(BuildCounter()
                            .Name("pricing_nats_disconnects_total")
                            .Help("Connections to NATS lost")
                            .Register(*registry_)
                            .Add({})),
      nats_reconnects_(BuildCounter()
                           .Name("pricing_nats_reconnects_total")
                           .Help("Connections to NATS re-established")
                           .Register(*registry_)
                           .Add({})),
      health_check_(BuildGauge()
                        .Name("pricing_health_check_ok")
                        .Help("1 when a readiness check passed at its last evaluation")
                        .Register(*registry_)),
      ready_(BuildGauge()
                 .Name("pricing_ready")
                 .Help("1 when every readiness check passed (what /readyz answers)")
                 .Register(*registry_)
                 .Add({})),
      active_(BuildGauge()
                  .Name("pricing_active")
                  .Help("1 when this processor is the active one of the processors sharing its "
                        "consumer, 0 when it stands by")
                  .Register(*registry_)),
      ws_clients_(BuildGauge()
                      .Name("pricing_websocket_clients")
                      .Help("Connected WebSocket clients")
                      .Register(*registry_)
                      .Add({})),
      ws_dropped_(BuildCounter()
                      .Name("pricing_websocket_dropped_total")
                      .Help("WebSocket clients disconnected by the gateway, by reason")
                      .Register(*registry_)),
      ws_sent_(BuildCounter()
                   .Name("pricing_websocket_messages_sent_total")
                   .Help("Messages written to WebSocket clients")
                   .Register(*registry_)
                   .Add({})) {
  BuildGauge()
      .Name("pricing_build_info")
      .Help("Version and build of the running processor (value 1)")
      .Register(*registry_)
      .Add({{"version", kBuildVersion}, {"commit", kBuildCommit}, {"compiler", kBuildCompiler}})
      .Set(1);
}

void Metrics::AddScrapeHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  hooks_.push_back(std::move(hook));
}

std::string Metrics::Scrape() {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hooks = hooks_;
  }
  for (const auto& hook : hooks) hook();
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

Metrics::CitySeries& Metrics::City(std::string_view city) {
  auto it = cities_.find(city);
  if (it != cities_.end()) return it->second;
  const std::string label = CityLabel(city);
  CitySeries c;
  for (std::size_t k = 0; k < kEventKindCount; ++k) {
    c.read[k] = &events_read_.Add(
        {{"city", label}, {"kind", std::string(ToString(static_cast<EventKind>(k)))}});
  }
  for (std::size_t r = 1; r < kRejectReasonCount; ++r) {
    c.rejected[r] = &events_rejected_.Add(
        {{"city", label}, {"reason", std::string(ToString(static_cast<RejectReason>(r)))}});
  }
  c.unzoned = &events_unzoned_.Add({{"city", label}});
  c.dead_letters = &dead_letters_.Add({{"city", label}});
  c.ticks = &ticks_closed_.Add({{"city", label}});
  c.compute = &tick_compute_.Add({{"city", label}}, ComputeBuckets());
  c.latency = &event_to_publish_.Add({{"city", label}}, LatencyBuckets());
  c.last_tick = &last_tick_.Add({{"city", label}});
  c.last_tick_age = &last_tick_age_.Add({{"city", label}});
  c.config_applied = &config_updates_.Add({{"city", label}, {"result", "applied"}});
  c.config_refused = &config_updates_.Add({{"city", label}, {"result", "refused"}});
  return cities_.emplace(std::string(city), std::move(c)).first->second;
}

void Metrics::EventRead(std::string_view city, EventKind kind) {
  std::lock_guard<std::mutex> lock(mu_);
  City(city).read[static_cast<std::size_t>(kind)]->Increment();
}

void Metrics::EventRejected(std::string_view city, RejectReason reason) {
  if (reason == RejectReason::kNone) return;
  std::lock_guard<std::mutex> lock(mu_);
  City(city).rejected[static_cast<std::size_t>(reason)]->Increment();
}

void Metrics::EventsUnzoned(std::string_view city, uint64_t count) {
  if (count == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  City(city).unzoned->Increment(static_cast<double>(count));
}

void Metrics::DeadLettered(std::string_view city) {
  std::lock_guard<std::mutex> lock(mu_);
  City(city).dead_letters->Increment();
}

void Metrics::RedeliverySkipped() { redeliveries_skipped_.Increment(); }

void Metrics::HandlingFailed(bool final) {
  (final ? handling_dead_lettered_ : handling_retried_).Increment();
}

void Metrics::TickClosed(const std::string& city, double compute_seconds, int64_t tick_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  CitySeries& c = City(city);
  c.ticks->Increment();
  c.compute->Observe(compute_seconds);
  c.last_tick->Set(static_cast<double>(tick_ms) / 1000.0);
}

void Metrics::Tick(const TickResult& tick, const ZoneSet& zones) {
  TickClosed(tick.city, tick.compute_ms / 1000.0, tick.tick);
  ZoneValues(tick.city, zones, tick.zones.multiplier.data(), tick.zones.supply.data(),
             tick.zones.demand.data());
  EventsUnzoned(tick.city, tick.stats.unzoned);
}

void Metrics::EventsToPublish(const std::string& city, const TickLatency& latency,
                              double stored_after_tick_s) {
  if (latency.total == 0) return;
  const auto& bounds = LatencyBuckets();
  std::vector<double> increments(bounds.size() + 1, 0.0);
  for (std::size_t b = 0; b < TickLatency::kBuckets; ++b) {
    if (latency.counts[b] == 0) continue;
    const double seconds =
        stored_after_tick_s + (static_cast<double>(b) + 0.5) * latency.bucket_ms / 1000.0;
    const std::size_t at = static_cast<std::size_t>(
        std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin());
    increments[at] += latency.counts[b];
  }
  const double sum =
      stored_after_tick_s * static_cast<double>(latency.total) + latency.sum_offset_ms / 1000.0;
  std::lock_guard<std::mutex> lock(mu_);
  City(city).latency->ObserveMultiple(increments, sum);
}

void Metrics::InputTotals(std::string_view city, const CityCounters& counters) {
  std::lock_guard<std::mutex> lock(mu_);
  CitySeries& c = City(city);
  for (std::size_t k = 0; k < kEventKindCount; ++k)
    AdvanceTo(*c.read[k], counters.read[k].load(std::memory_order_relaxed));
  for (std::size_t r = 1; r < kRejectReasonCount; ++r)
    AdvanceTo(*c.rejected[r], counters.rejected[r].load(std::memory_order_relaxed));
  AdvanceTo(*c.dead_letters, counters.dead_lettered.load(std::memory_order_relaxed));
}

void Metrics::RedeliveriesSkipped(uint64_t total) { AdvanceTo(redeliveries_skipped_, total); }

void Metrics::EventToPublish(const std::string& city, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  City(city).latency->Observe(seconds);
}

void Metrics::ZoneValues(const std::string& city, const ZoneSet& zones, const double* multiplier,
                         const double* supply, const double* demand) {
  std::lock_guard<std::mutex> lock(mu_);
  CitySeries& c = City(city);
  if (c.zone_series < 0) {
    c.zone_series = options_.zone_series && zones.size() <= options_.max_zone_series;
    if (c.zone_series) {
      for (std::size_t z = 0; z < zones.size(); ++z) {
        const prometheus::Labels labels{{"city", city},
                                        {"zone", zones.zone(static_cast<ZoneIndexT>(z)).id}};
        c.zones.push_back(
            {&zone_multiplier_.Add(labels), &zone_supply_.Add(labels), &zone_demand_.Add(labels)});
      }
    }
  }
  if (!c.zone_series) return;
  for (std::size_t z = 0; z < c.zones.size(); ++z) {
    c.zones[z][0]->Set(multiplier[z]);
    c.zones[z][1]->Set(supply[z]);
    c.zones[z][2]->Set(demand[z]);
  }
}

void Metrics::ConfigUpdate(const std::string& city, bool applied) {
  std::lock_guard<std::mutex> lock(mu_);
  CitySeries& c = City(city);
  (applied ? c.config_applied : c.config_refused)->Increment();
}

void Metrics::Checkpointed() { checkpoints_.Increment(); }

void Metrics::AdvanceTo(prometheus::Counter& counter, uint64_t total) {
  const double now = counter.Value();
  if (static_cast<double>(total) > now) counter.Increment(static_cast<double>(total) - now);
}

void Metrics::PublishTotals(uint64_t acked, uint64_t errors, uint64_t retries, uint64_t duplicates,
                            uint64_t failed, uint64_t in_flight) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceTo(publish_acked_, acked);
  AdvanceTo(publish_errors_, errors);
  AdvanceTo(publish_retries_, retries);
  AdvanceTo(publish_duplicates_, duplicates);
  AdvanceTo(publish_failed_, failed);
  publish_in_flight_.Set(static_cast<double>(in_flight));
}

void Metrics::ConsumerState(uint64_t pending, uint64_t ack_pending, uint64_t redelivered) {
  consumer_pending_.Set(static_cast<double>(pending));
  consumer_ack_pending_.Set(static_cast<double>(ack_pending));
  consumer_redelivered_.Set(static_cast<double>(redelivered));
}

prometheus::Gauge& Metrics::NamedGauge(prometheus::Family<prometheus::Gauge>& family,
                                       const std::string& label, const std::string& value) {
  const std::string key = std::to_string(reinterpret_cast<std::uintptr_t>(&family)) + "/" + value;
  auto it = named_gauges_.find(key);
  if (it != named_gauges_.end()) return *it->second;
  prometheus::Gauge& g = family.Add({{label, value}});
  named_gauges_.emplace(key, &g);
  return g;
}

void Metrics::StreamState(const std::string& stream, uint64_t messages, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  NamedGauge(stream_messages_, "stream", stream).Set(static_cast<double>(messages));
  NamedGauge(stream_bytes_, "stream", stream).Set(static_cast<double>(bytes));
}

void Metrics::Connection(bool connected, uint64_t disconnects, uint64_t reconnects) {
  std::lock_guard<std::mutex> lock(mu_);
  nats_connected_.Set(connected ? 1 : 0);
  AdvanceTo(nats_disconnects_, disconnects);
  AdvanceTo(nats_reconnects_, reconnects);
}

void Metrics::Health(const std::string& check, bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  NamedGauge(health_check_, "check", check).Set(ok ? 1 : 0);
}

void Metrics::Ready(bool ready) { ready_.Set(ready ? 1 : 0); }

void Metrics::Active(Role role) {
  if (role == Role::kNone) return;
  active_.Add({}).Set(role == Role::kActive ? 1 : 0);
}

void Metrics::LastTickAge(const std::string& city, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  City(city).last_tick_age->Set(seconds);
}

void Metrics::TickHeld(const std::string& city, int missing_partitions, double held_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  NamedGauge(partitions_missing_, "city", city).Set(missing_partitions);
  NamedGauge(tick_held_, "city", city).Set(held_seconds);
}

void Metrics::WebSocketClients(int64_t clients) { ws_clients_.Set(static_cast<double>(clients)); }

void Metrics::WebSocketDropped(std::string_view why) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ws_dropped_by_.find(why);
  if (it == ws_dropped_by_.end()) {
    it = ws_dropped_by_.emplace(std::string(why), &ws_dropped_.Add({{"reason", std::string(why)}}))
             .first;
  }
  it->second->Increment();
}

void Metrics::WebSocketSent(uint64_t messages) {
  ws_sent_.Increment(static_cast<double>(messages));
}

}  // namespace pricing
