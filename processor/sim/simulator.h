// The load generator: publishes driver pings and ride requests for one city to
// LOCATION_EVENTS at a fixed open-loop rate (send i is due at t0 + i / rate, whatever
// happened to earlier sends), with message ids on every publish. Synthetic mode moves
// drivers, turns them busy and back, and draws requests around demand hotspots that
// drift; pickup mode replays the real NYC pickups at a chosen speed-up, with the
// replay's fleet (replay/synthetic_drivers.h): on duty and waiting where pickups usually
// are at the pickup's hour, answering the requests it sends.
// Runs on the calling thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "engine/city_engine.h"
#include "replay/nyc_pickups.h"
#include "replay/synthetic_drivers.h"
#include "transport/js_publisher.h"

namespace pricing {

struct SimulatorOptions {
  std::string city = "nyc";
  double rate = 1000;      // events per second, open loop
  double duration_s = 60;  // 0: until stopped
  int64_t drivers = 5000;
  double request_share = 0.2;  // fraction of events that are ride requests
  int hotspots = 6;
  uint64_t seed = 1;
  // Pickup mode when not empty: ride requests are the real pickups in time order (a
  // request_share of the events; the rest are the pings of a fleet of `drivers` at the
  // busiest hour, which follows the pickups: Fleet).
  std::vector<Pickup> pickups;
  // For reconciliation: a line per acknowledged event, its message id and when the
  // acknowledgement arrived (ms since the epoch), space-separated.
  std::string acked_log;
  // Publish on location.<kind>.<city>.<driver or rider id>, the subjects partitioned
  // pricing stores by partition (config key partitions), instead of
  // location.<kind>.<city>.
  bool id_subjects = false;
};

// One generated event.
struct SimEvent {
  std::string subject;
  std::string msg_id;
  std::string payload;
  std::string entity;  // its driver_id or rider_id
};

// Where the generator's events go: JetStream (JsEventSink) or Kafka (kafka_event_sink.h).
// Called on Run()'s thread only.
class EventSink {
 public:
  // Runs once the broker stored the event; may run on another thread.
  using OnStored = std::function<void()>;
  struct Counts {
    uint64_t acked = 0;
    uint64_t errors = 0;
    uint64_t retries = 0;
    uint64_t in_flight = 0;
  };
  virtual ~EventSink() = default;
  virtual void Send(const SimEvent& event, OnStored on_stored) = 0;
  // Retries and delivery reports; called after every send.
  virtual void Pump() = 0;
  // Until nothing is in flight or `timeout_ms` passed; true when all are stored.
  virtual bool Flush(int64_t timeout_ms) = 0;
  virtual Counts counts() const = 0;
};

// To LOCATION_EVENTS, through a JetStream publisher attached to a connection.
class JsEventSink final : public EventSink {
 public:
  explicit JsEventSink(JsPublisher& publisher) : publisher_(publisher) {}
  void Send(const SimEvent& event, OnStored on_stored) override {
    publisher_.Publish(event.subject, event.msg_id, event.payload, {}, std::move(on_stored));
  }
  void Pump() override { publisher_.Pump(); }
  bool Flush(int64_t timeout_ms) override { return publisher_.Flush(timeout_ms); }
  Counts counts() const override {
    return {publisher_.stats().acked.load(), publisher_.stats().errors.load(),
            publisher_.stats().retries.load(), publisher_.in_flight()};
  }

 private:
  JsPublisher& publisher_;
};

struct SimulatorReport {
  uint64_t sent = 0;
  uint64_t acked = 0;
  uint64_t errors = 0;
  uint64_t retries = 0;
  double seconds = 0;
  double achieved_rate = 0;
  double max_lag_ms = 0;  // furthest behind the open-loop schedule a send started
};

class Simulator {
 public:
  Simulator(SimulatorOptions options, std::shared_ptr<const CityZones> zones, const Clock& clock);

  // Publishes until the duration is over or `stop` is set; prints progress every second
  // to stderr.
  SimulatorReport Run(EventSink& sink, const std::atomic<bool>& stop);

  // The next event for wall-clock time `now_ms`; exposed for tests.
  using Event = SimEvent;
  Event Next(int64_t now_ms);

 private:
  struct Driver {
    double lat, lon;
    DriverStatus status;
  };
  struct Hotspot {
    double lat, lon, dlat, dlon;
  };
  std::pair<double, double> RandomPointInCity();
  void MoveHotspots(int64_t now_ms);
  // Sets the event's subject (location.<kind>.<city>, or with id_subjects
  // location.<kind>.<city>.<id>) and entity.
  void Route(Event& ev, const char* kind, const std::string& id) const;

  SimulatorOptions options_;
  std::shared_ptr<const CityZones> zones_;
  const Clock& clock_;
  // Request ids carry the run's start time: a second run with the same seed inside
  // the streams' 2-minute duplicate window would otherwise have its requests dropped
  // as duplicates of the first run's (found by the pipeline comparison).
  int64_t run_ms_;
  uint64_t rng_state_;
  std::vector<Driver> drivers_;
  std::vector<Hotspot> hotspots_;
  uint64_t next_driver_ = 0;
  uint64_t requests_ = 0;
  uint64_t sequence_ = 0;
  int64_t last_hotspot_move_ms_ = 0;
  std::size_t next_pickup_ = 0;   // pickup mode
  std::unique_ptr<Fleet> fleet_;  // pickup mode
};

}  // namespace pricing
