// Google Benchmarks of the pricing core on one core: decode, zone lookup, window ingest,
// the whole ingest path, and tick compute. Results and the command to reproduce them
// are in docs/performance.md.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "engine/city_engine.h"
#include "engine/outputs.h"
#include "engine/partials.h"
#include "engine/pricing_engine.h"
#include "events/event_decoder.h"
#include "replay/nyc_pickups.h"
#include "replay/synthetic_drivers.h"
#include "window/sliding_window.h"
#include "zones/zone_index.h"

namespace pricing {
namespace {

std::string Source(const std::string& rel) { return std::string(PRICING_SOURCE_DIR) + "/" + rel; }

const std::shared_ptr<const CityZones>& Nyc() {
  static const auto zones = std::make_shared<const CityZones>(
      ZoneSet::LoadGeoJson(Source("data/nyc/taxi_zones.geojson"), "LocationID", "zone", 1e-4));
  return zones;
}

// A 100 x 100 grid of square zones: 10,000 zones, each with up to 8 neighbours.
const std::shared_ptr<const CityZones>& Grid10k() {
  static const auto zones = [] {
    std::vector<Zone> zones;
    for (int r = 0; r < 100; ++r) {
      for (int c = 0; c < 100; ++c) {
        Zone z;
        z.id = std::to_string(r * 100 + c + 1);
        z.name = z.id;
        const double x0 = c * 0.01, y0 = r * 0.01;
        z.polygons.push_back(
            {{{{x0, y0}, {x0 + 0.01, y0}, {x0 + 0.01, y0 + 0.01}, {x0, y0 + 0.01}, {x0, y0}}}});
        zones.push_back(std::move(z));
      }
    }
    return std::make_shared<const CityZones>(ZoneSet::FromZones(std::move(zones), 1e-4));
  }();
  return zones;
}

const std::vector<Pickup>& Pickups() {
  static const auto rows = ReadUberPickups(Source("data/nyc/uber-pickups-2014-04.csv"));
  return rows;
}

// Driver pings and ride requests as they arrive on the wire, positioned at real pickups.
struct Workload {
  std::vector<std::string> subjects;
  std::vector<std::string> payloads;
};

const Workload& Payloads() {
  static const Workload w = [] {
    Workload w;
    Rng rng(7);
    const auto& pickups = Pickups();
    const int64_t t0 = 1'700'000'000'000;
    for (std::size_t i = 0; i < 200'000; ++i) {
      const Pickup& p = pickups[rng.Next() % pickups.size()];
      // 200 events per second of event time: 50k drivers ping about every 60 s.
      const int64_t ts = t0 + static_cast<int64_t>(i) * 5;
      char buf[256];
      if (i % 4 != 0) {  // three pings for every request
        std::snprintf(buf, sizeof buf,
                      R"({"driver_id":"d-%llu","lat":%.6f,"lon":%.6f,"status":"%s","ts":%lld})",
                      static_cast<unsigned long long>(rng.Next() % 50'000),
                      p.lat + rng.Normal() * 0.002, p.lon + rng.Normal() * 0.002,
                      rng.Uniform() < 0.8 ? "available" : "busy", static_cast<long long>(ts));
        w.subjects.push_back("location.driver.nyc");
      } else {
        std::snprintf(
            buf, sizeof buf,
            R"({"request_id":"r-%zu","rider_id":"u-%llu","lat":%.6f,"lon":%.6f,"ts":%lld})", i,
            static_cast<unsigned long long>(rng.Next() % 100'000), p.lat, p.lon,
            static_cast<long long>(ts));
        w.subjects.push_back("location.request.nyc");
      }
      w.payloads.push_back(buf);
    }
    return w;
  }();
  return w;
}

void BM_Decode(benchmark::State& state) {
  const auto& w = Payloads();
  EventDecoder decoder;
  std::size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const std::size_t k = i++ % w.payloads.size();
    const auto r = decoder.Decode(
        w.subjects[k][9] == 'd' ? EventKind::kDriverPing : EventKind::kRideRequest, w.payloads[k]);
    benchmark::DoNotOptimize(r.event.ts);
    bytes += w.payloads[k].size();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_Decode);

void BM_ZoneLookupNycPickups(benchmark::State& state) {
  const auto& index = Nyc()->index;
  const auto& pickups = Pickups();
  std::size_t i = 0;
  for (auto _ : state) {
    const Pickup& p = pickups[i++ % pickups.size()];
    benchmark::DoNotOptimize(index.Locate(p.lon, p.lat));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ZoneLookupNycPickups);

// Points spread evenly over the zones' extent, as the simulator's drivers are: unlike
// the Manhattan-heavy pickups, they touch the whole grid, most of it out of cache.
void BM_ZoneLookupNycUniform(benchmark::State& state) {
  const auto& index = Nyc()->index;
  const Box& ext = Nyc()->zones.extent();
  Rng rng(11);
  std::vector<std::pair<double, double>> points(1 << 20);
  for (auto& [lon, lat] : points) {
    lon = ext.min_x + rng.Uniform() * (ext.max_x - ext.min_x);
    lat = ext.min_y + rng.Uniform() * (ext.max_y - ext.min_y);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& [lon, lat] = points[i++ & (points.size() - 1)];
    benchmark::DoNotOptimize(index.Locate(lon, lat));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ZoneLookupNycUniform);

void BM_ZoneLookupNycPlainRtreeBoost(benchmark::State& state) {
  const auto& index = Nyc()->index;
  const auto& pickups = Pickups();
  std::size_t i = 0;
  for (auto _ : state) {
    const Pickup& p = pickups[i++ % pickups.size()];
    benchmark::DoNotOptimize(index.LocatePlain(p.lon, p.lat));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ZoneLookupNycPlainRtreeBoost);

// Window ingest alone, ticks closing as event time passes. Arg: events per second of
// event time; at 200/s a few thousand drivers are active, at 100,000/s all 50k are.
void BM_WindowIngest(benchmark::State& state) {
  const int64_t rate = state.range(0);
  const auto& w = Payloads();
  EventDecoder decoder;
  std::vector<LocationEvent> events;
  std::vector<std::string> ids;
  std::vector<ZoneIndexT> zones;
  for (std::size_t k = 0; k < w.payloads.size(); ++k) {
    const auto r = decoder.Decode(
        w.subjects[k][9] == 'd' ? EventKind::kDriverPing : EventKind::kRideRequest, w.payloads[k]);
    ids.emplace_back(r.event.entity_id);
    events.push_back(r.event);
    zones.push_back(Nyc()->index.Locate(r.event.lon, r.event.lat));
  }
  const int64_t t0 = 1'700'000'000'000;
  SlidingWindow window(5000, 30000, Nyc()->zones.size());
  window.Start(t0 + 5000);
  uint64_t i = 0;
  for (auto _ : state) {
    const std::size_t k = i % events.size();
    const LocationEvent& e = events[k];
    const int64_t ts = t0 + static_cast<int64_t>(i * 1000 / rate);  // laps keep moving on
    ++i;
    while (ts >= window.next_tick() + 1000) window.Advance();
    if (e.kind == EventKind::kDriverPing) {
      window.AddDriverPing(ids[k], ts, zones[k], e.status, k + 1);
    } else {
      window.AddRideRequest(ids[k], ts, zones[k], k + 1);
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["active_drivers"] = static_cast<double>(window.active_drivers());
}
BENCHMARK(BM_WindowIngest)->Arg(200)->Arg(100000);

// The whole ingest path: subject, decode, validate, zone, window, tick closes. Each lap
// over the workload starts a fresh engine (untimed), so every event is applied rather
// than rejected as late on the second lap.
void BM_IngestPath(benchmark::State& state) {
  const auto& w = Payloads();
  ManualClock clock(0);
  std::unique_ptr<PricingEngine> engine;
  std::size_t i = 0;
  uint64_t ticks = 0, rejected = 0;
  for (auto _ : state) {
    const std::size_t k = i++ % w.payloads.size();
    if (k == 0) {
      state.PauseTiming();
      engine = std::make_unique<PricingEngine>(TimingParams{5000, 30000, 1000, 10000}, clock);
      engine->AddCity("nyc", Nyc(), ModelParams{});
      state.ResumeTiming();
    }
    const auto outcome = engine->Ingest(w.subjects[k], w.payloads[k], i);
    rejected += !outcome.ok();
    if (k % 1000 == 0 && engine->max_event_ts()) {
      ticks += engine->AdvanceWatermark(*engine->max_event_ts()).size();
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["ticks"] = static_cast<double>(ticks);
  state.counters["rejected"] = static_cast<double>(rejected);
}
BENCHMARK(BM_IngestPath);

// One tick: the window's counts through the model (arg: 0 = NYC's 263 zones, 1 = 10k grid).
void BM_TickCompute(benchmark::State& state) {
  const auto& zones = state.range(0) == 0 ? Nyc() : Grid10k();
  const std::size_t n = zones->zones.size();
  RatioModel model(zones->zones, ModelParams{}, {});
  Rng rng(3);
  std::vector<int32_t> supply(n), demand(n);
  for (std::size_t z = 0; z < n; ++z) {
    supply[z] = static_cast<int32_t>(rng.Next() % 10);
    demand[z] = static_cast<int32_t>(rng.Next() % 14);
  }
  for (auto _ : state) {
    auto out = model.Compute(supply, demand);
    benchmark::DoNotOptimize(out.multiplier.data());
  }
  state.SetLabel(std::to_string(n) + " zones");
}
BENCHMARK(BM_TickCompute)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// A tick including its output messages (JSON of every zone update), as published.
void BM_TickComputeAndEncode(benchmark::State& state) {
  const auto& zones = state.range(0) == 0 ? Nyc() : Grid10k();
  ManualClock clock(0);
  CityEngine engine("nyc", zones, TimingParams{}, ModelParams{}, {}, clock);
  engine.StartAt(5000);
  int64_t watermark = 6000;
  for (auto _ : state) {
    auto ticks = engine.CloseTicks(watermark);
    watermark += 5000;
    auto messages = EncodeTick(ticks[0], zones->zones);
    benchmark::DoNotOptimize(messages.data());
  }
  state.SetLabel(std::to_string(zones->zones.size()) + " zones");
}
BENCHMARK(BM_TickComputeAndEncode)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// Partitioned pricing, stage 1's hand-over: one partition's counts for a tick, as they
// go on the wire (arg: 0 = NYC, 1 = 10k grid; a third of the zones have a count).
PartialCounts BenchPartial(const CityZones& zones, int32_t partition, int32_t partitions) {
  PartialCounts p;
  p.city = "nyc";
  p.tick = 1'700'000'000'000;
  p.partition = partition;
  p.partitions = partitions;
  const std::size_t n = zones.zones.size();
  p.supply.assign(n, 0);
  p.demand.assign(n, 0);
  Rng rng(11 + static_cast<uint64_t>(partition));
  for (std::size_t z = 0; z < n; ++z) {
    if (rng.Next() % 3 != 0) continue;
    p.supply[z] = static_cast<int32_t>(rng.Next() % 6);
    p.demand[z] = static_cast<int32_t>(rng.Next() % 8);
  }
  p.input_seqs = {1, 1000};
  return p;
}

void BM_PartialEncode(benchmark::State& state) {
  const auto& zones = state.range(0) == 0 ? Nyc() : Grid10k();
  const PartialCounts p = BenchPartial(*zones, 0, 4);
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string wire = EncodePartial(p, zones->zones);
    bytes = wire.size();
    benchmark::DoNotOptimize(wire.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.SetLabel(std::to_string(zones->zones.size()) + " zones");
}
BENCHMARK(BM_PartialEncode)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// Stage 2's share of a tick: decode and sum 4 partitions' counts (the model and the
// encoding of the outputs are BM_TickComputeAndEncode).
void BM_PartialDecodeAndSum4(benchmark::State& state) {
  const auto& zones = state.range(0) == 0 ? Nyc() : Grid10k();
  std::vector<std::string> wires;
  for (int32_t p = 0; p < 4; ++p)
    wires.push_back(EncodePartial(BenchPartial(*zones, p, 4), zones->zones));
  for (auto _ : state) {
    PartialAssembler stage2(4, zones->zones.size());
    std::string error;
    for (const std::string& wire : wires) stage2.Add(DecodePartial(wire, zones->zones, &error));
    auto sum = stage2.TakeNext();
    benchmark::DoNotOptimize(sum->supply.data());
  }
  state.SetLabel(std::to_string(zones->zones.size()) + " zones");
}
BENCHMARK(BM_PartialDecodeAndSum4)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_ZoneIndexBuildNyc(benchmark::State& state) {
  const auto& zones = Nyc()->zones;
  for (auto _ : state) {
    ZoneIndex index(zones);
    benchmark::DoNotOptimize(&index);
  }
}
BENCHMARK(BM_ZoneIndexBuildNyc)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pricing
