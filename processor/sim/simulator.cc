#include "sim/simulator.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/json_writer.h"
#include "common/log.h"
#include "replay/synthetic_drivers.h"

namespace pricing {

Simulator::Simulator(SimulatorOptions options, std::shared_ptr<const CityZones> zones,
                     const Clock& clock)
    : options_(std::move(options)),
      zones_(std::move(zones)),
      clock_(clock),
      run_ms_(clock.NowMs()),
      rng_state_(options_.seed) {
  Rng rng(options_.seed);
  rng_state_ = rng.Next();
  for (int h = 0; h < options_.hotspots; ++h) {
    const auto [lat, lon] = RandomPointInCity();
    hotspots_.push_back({lat, lon, rng.Normal() * 0.0005, rng.Normal() * 0.0005});
  }
  if (!options_.pickups.empty()) {
    FleetOptions fleet;
    fleet.drivers = static_cast<int>(std::min<int64_t>(options_.drivers, 1'000'000));
    fleet.seed = options_.seed;
    fleet_ = std::make_unique<Fleet>(fleet, options_.pickups);
    fleet_->AdvanceTo(options_.pickups.front().ts_ms);
  }
  for (int64_t d = 0; d < options_.drivers; ++d) {
    const auto [lat, lon] = RandomPointInCity();
    drivers_.push_back(
        {lat, lon, rng.Uniform() < 0.75 ? DriverStatus::kAvailable : DriverStatus::kBusy});
  }
}

std::pair<double, double> Simulator::RandomPointInCity() {
  Rng rng(rng_state_);
  const Box& e = zones_->zones.extent();
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const double lon = e.min_x + rng.Uniform() * (e.max_x - e.min_x);
    const double lat = e.min_y + rng.Uniform() * (e.max_y - e.min_y);
    if (zones_->index.Locate(lon, lat) != kUnzoned) {
      rng_state_ = rng.Next();
      return {lat, lon};
    }
  }
  rng_state_ = rng.Next();
  return {(e.min_y + e.max_y) / 2, (e.min_x + e.max_x) / 2};
}

void Simulator::MoveHotspots(int64_t now_ms) {
  if (now_ms - last_hotspot_move_ms_ < 1000) return;
  last_hotspot_move_ms_ = now_ms;
  const Box& e = zones_->zones.extent();
  for (Hotspot& h : hotspots_) {
    h.lat += h.dlat;
    h.lon += h.dlon;
    if (h.lat < e.min_y || h.lat > e.max_y) h.dlat = -h.dlat;
    if (h.lon < e.min_x || h.lon > e.max_x) h.dlon = -h.dlon;
  }
}

Simulator::Event Simulator::Next(int64_t now_ms) {
  Rng rng(rng_state_ + sequence_++);
  rng_state_ = rng.Next();
  Event ev;
  std::string& payload = ev.payload;
  JsonWriter w(&payload);
  const auto coord = [](double v) { return std::round(v * 1e6) / 1e6; };

  if (!options_.pickups.empty() && (next_pickup_ == 0 || rng.Uniform() < options_.request_share)) {
    // A real pickup, in file time order, stamped with the time it is sent.
    const Pickup& p = options_.pickups[next_pickup_ % options_.pickups.size()];
    const uint64_t lap = next_pickup_ / options_.pickups.size();
    ++next_pickup_;
    // The fleet lives on the pickups' clock: a new lap starts it at the first again.
    fleet_->AdvanceTo(p.ts_ms);
    fleet_->Answer(p.lat, p.lon);
    Route(ev, "request", "rider-" + std::to_string(p.row));
    ev.msg_id = "pickup-" + std::to_string(options_.seed) + "-" + std::to_string(run_ms_) + "-" +
                std::to_string(lap) + "-" + std::to_string(p.row);
    w.BeginObject()
        .Key("request_id")
        .String(ev.msg_id)
        .Key("rider_id")
        .String("rider-" + std::to_string(p.row));
    w.Key("lat").Double(p.lat).Key("lon").Double(p.lon).Key("ts").Int(now_ms).EndObject();
    return ev;
  }

  MoveHotspots(now_ms);
  if (options_.pickups.empty() && rng.Uniform() < options_.request_share && !hotspots_.empty()) {
    // Requests cluster around hotspots, with some background everywhere.
    double lat, lon;
    if (rng.Uniform() < 0.7) {
      const Hotspot& h = hotspots_[rng.Next() % hotspots_.size()];
      lat = h.lat + rng.Normal() * 0.004;
      lon = h.lon + rng.Normal() * 0.004;
    } else {
      std::tie(lat, lon) = RandomPointInCity();
    }
    const uint64_t n = requests_++;
    const std::string rider = "sim-u-" + std::to_string(rng.Next() % (options_.drivers * 4 + 1));
    Route(ev, "request", rider);
    ev.msg_id = "sim-r-" + std::to_string(options_.seed) + "-" + std::to_string(run_ms_) + "-" +
                std::to_string(n);
    w.BeginObject().Key("request_id").String(ev.msg_id);
    w.Key("rider_id").String(rider);
    w.Key("lat").Double(coord(lat)).Key("lon").Double(coord(lon)).Key("ts").Int(now_ms).EndObject();
    return ev;
  }

  if (fleet_) {
    if (const std::optional<DriverPingRecord> ping = fleet_->NextPing()) {
      Route(ev, "driver", ping->driver_id);
      ev.msg_id = ping->driver_id + ":" + std::to_string(now_ms) + ":" + std::to_string(sequence_);
      w.BeginObject().Key("driver_id").String(ping->driver_id);
      w.Key("lat").Double(coord(ping->lat)).Key("lon").Double(coord(ping->lon));
      w.Key("status").String(ToString(ping->status)).Key("ts").Int(now_ms).EndObject();
      return ev;
    }
  }
  const uint64_t id =
      next_driver_++ % static_cast<uint64_t>(std::max<int64_t>(1, options_.drivers));
  Driver& d = drivers_[id];
  d.lat += rng.Normal() * 0.0008;
  d.lon += rng.Normal() * 0.0008;
  if (zones_->index.Locate(d.lon, d.lat) == kUnzoned) std::tie(d.lat, d.lon) = RandomPointInCity();
  const double u = rng.Uniform();
  if (d.status == DriverStatus::kAvailable && u < 0.05) {
    d.status = DriverStatus::kBusy;
  } else if (d.status == DriverStatus::kBusy && u < 0.15) {
    d.status = DriverStatus::kAvailable;
  } else if (u > 0.999) {
    d.status =
        d.status == DriverStatus::kOffline ? DriverStatus::kAvailable : DriverStatus::kOffline;
  }
  const std::string driver_id = "sim-d-" + std::to_string(id);
  Route(ev, "driver", driver_id);
  ev.msg_id = driver_id + ":" + std::to_string(now_ms) + ":" + std::to_string(sequence_);
  w.BeginObject()
      .Key("driver_id")
      .String(driver_id)
      .Key("lat")
      .Double(coord(d.lat))
      .Key("lon")
      .Double(coord(d.lon));
  w.Key("status").String(ToString(d.status)).Key("ts").Int(now_ms).EndObject();
  return ev;
}

void Simulator::Route(Event& ev, const char* kind, const std::string& id) const {
  ev.subject = "location." + std::string(kind) + "." + options_.city;
  if (options_.id_subjects) ev.subject += "." + id;
  ev.entity = id;
}

namespace {

// Acknowledged ids, appended from cnats threads; shared so that a late ack after Run
// returned still has somewhere to go.
struct AckedLog {
  std::mutex mu;
  std::ofstream out;
};

}  // namespace

SimulatorReport Simulator::Run(EventSink& sink, const std::atomic<bool>& stop) {
  SimulatorReport report;
  auto acked_log = std::make_shared<AckedLog>();
  if (!options_.acked_log.empty()) acked_log->out.open(options_.acked_log, std::ios::trunc);
  const auto start = std::chrono::steady_clock::now();
  const auto interval = std::chrono::duration<double>(1.0 / options_.rate);
  auto last_report = start;
  uint64_t sent_at_last_report = 0;
  for (uint64_t i = 0; !stop.load(); ++i) {
    const auto due =
        start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval * i);
    const double elapsed = std::chrono::duration<double>(due - start).count();
    if (options_.duration_s > 0 && elapsed >= options_.duration_s) break;
    auto now = std::chrono::steady_clock::now();
    if (due > now) {
      std::this_thread::sleep_until(due);
    } else {
      report.max_lag_ms =
          std::max(report.max_lag_ms, std::chrono::duration<double, std::milli>(now - due).count());
    }
    Event ev = Next(clock_.NowMs());
    EventSink::OnStored on_stored;
    if (acked_log->out.is_open()) {
      // The wall clock, not clock_: the line may be written after Run returned.
      on_stored = [acked_log, id = ev.msg_id] {
        const int64_t at = SystemClock().NowMs();
        std::lock_guard<std::mutex> lock(acked_log->mu);
        acked_log->out << id << ' ' << at << '\n';
      };
    }
    sink.Send(ev, std::move(on_stored));
    ++report.sent;
    sink.Pump();
    now = std::chrono::steady_clock::now();
    if (now - last_report >= std::chrono::seconds(1)) {
      const double secs = std::chrono::duration<double>(now - last_report).count();
      const EventSink::Counts c = sink.counts();
      std::fprintf(
          stderr, "simulate: %.0f events/s, %llu sent, %llu acked, %llu errors, %llu in flight\n",
          (report.sent - sent_at_last_report) / secs, static_cast<unsigned long long>(report.sent),
          static_cast<unsigned long long>(c.acked), static_cast<unsigned long long>(c.errors),
          static_cast<unsigned long long>(c.in_flight));
      last_report = now;
      sent_at_last_report = report.sent;
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  sink.Flush(30000);
  const EventSink::Counts c = sink.counts();
  report.acked = c.acked;
  report.errors = c.errors;
  report.retries = c.retries;
  report.achieved_rate = report.seconds > 0 ? report.sent / report.seconds : 0;
  return report;
}

}  // namespace pricing
