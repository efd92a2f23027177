#include "backtest/backtest.h"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "common/clock.h"
#include "engine/pricing_engine.h"
#include "events/event_decoder.h"
#include "events/subject.h"
#include "operator/pricing_operator.h"
#include "replay/replay.h"

namespace pricing {

namespace {

// Keeps what each closed tick published, per city.
class PriceRecorder final : public OperatorListener {
 public:
  explicit PriceRecorder(PricedRun* run) : run_(run) {}

  void TickClosed(const TickResult& t, const ZoneSet&) override {
    CityPrices& c = run_->cities.at(t.city);
    const ModelOutput& m = t.zones;
    c.ticks.push_back(t.tick);
    c.q.emplace_back(m.multiplier.data(), m.multiplier.data() + m.multiplier.size());
    c.bound.push_back(m.bound);
    auto counts = [](const Eigen::VectorXd& v) {
      std::vector<int32_t> out(static_cast<std::size_t>(v.size()));
      for (Eigen::Index i = 0; i < v.size(); ++i) out[i] = static_cast<int32_t>(v[i]);
      return out;
    };
    c.demand.push_back(counts(m.demand));
    c.supply.push_back(counts(m.supply));
  }

 private:
  PricedRun* run_;
};

// Calls `line_fn(line)` for each non-blank line of `text`.
template <class Fn>
void ForEachLine(std::string_view text, Fn&& line_fn) {
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) line_fn(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

// Nearest-rank percentile of `values` (sorted in place).
double Percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * values.size()));
  return values[std::max<std::size_t>(rank, 1) - 1];
}

// The figures of one run over `zones`, with the multipliers quoted to requests per zone.
SideFigures Figures(const CityPrices& c, const TimingParams& timing,
                    const std::vector<ZoneIndexT>& zones,
                    const std::vector<std::vector<double>>& quoted_per_zone) {
  SideFigures f;
  std::vector<double> all;
  all.reserve(c.ticks.size() * zones.size());
  double sum = 0;
  for (std::size_t t = 0; t < c.ticks.size(); ++t) {
    for (ZoneIndexT z : zones) {
      const double q = c.q[t][z];
      all.push_back(q);
      sum += q;
      f.max = std::max(f.max, q);
      if (q > kSurgeThreshold + 1e-9) ++f.surging;
      if (q > 2.0 + 1e-9) ++f.above_2;
      if (c.bound[t][z] == Bound::kCap) ++f.at_cap;
      if (c.bound[t][z] == Bound::kFloor) ++f.at_floor;
      if (t > 0 && std::abs(q - c.q[t - 1][z]) > 1e-9) ++f.changes;
    }
  }
  f.zone_ticks = all.size();
  f.mean = f.zone_ticks ? sum / static_cast<double>(f.zone_ticks) : 0;
  f.p95 = Percentile(all, 95);
  f.zone_hours = static_cast<double>(zones.size()) * static_cast<double>(c.ticks.size()) *
                 static_cast<double>(timing.interval_ms) / 3'600'000.0;
  for (ZoneIndexT z : zones) {
    for (double q : quoted_per_zone[z]) {
      ++f.requests;
      if (q >= 1.5 - 1e-9) ++f.requests_at_1_5;
      if (q >= 2.0 - 1e-9) ++f.requests_at_2;
    }
  }
  return f;
}

// Per zone, the multiplier each request was quoted: the latest tick published by the
// request's time (tick t is published once event time reaches t + lateness), or 1.0
// before the first.
std::vector<std::vector<double>> Quotes(const CityPrices& c, const TimingParams& timing,
                                        const std::string& city,
                                        const std::vector<PricedRequest>& requests) {
  std::vector<std::vector<double>> out(c.zones->zones.size());
  for (const PricedRequest& r : requests) {
    if (r.city != city) continue;
    const int64_t published_by = r.ts - timing.allowed_lateness_ms;
    const auto it = std::upper_bound(c.ticks.begin(), c.ticks.end(), published_by);
    double q = 1.0;
    if (it != c.ticks.begin()) q = c.q[static_cast<std::size_t>(it - c.ticks.begin() - 1)][r.zone];
    out[static_cast<std::size_t>(r.zone)].push_back(q);
  }
  return out;
}

}  // namespace

PricedRun PriceEvents(const EngineConfig& config, std::string_view events) {
  ManualClock clock;  // outputs' wall-clock fields only; the backtest reads none
  PricingEngine engine(config.timing, clock);
  PricedRun run;
  run.timing = config.timing;
  for (const auto& [key, city] : config.cities) {
    auto zones = CityZones::Load(city);
    engine.AddCity(key, zones, city.model, city.overrides);
    run.cities[key].zones = std::move(zones);
  }
  PriceRecorder recorder(&run);
  std::istringstream in{std::string(events)};
  std::ostream discard(nullptr);  // the published messages themselves are not needed
  RunReplay(engine, in, discard, &recorder);
  return run;
}

std::vector<PricedRequest> ReadRequests(const PricedRun& run, std::string_view events) {
  std::vector<PricedRequest> out;
  EventDecoder decoder;
  ReplayLineParser parser;
  ForEachLine(events, [&](std::string_view text) {
    const ReplayLine line = parser.Parse(text);
    const auto subject = ParseInputSubject(line.subject);
    if (!line.ok || !subject || subject->kind != EventKind::kRideRequest) return;
    const auto city = run.cities.find(std::string(subject->city));
    if (city == run.cities.end()) return;
    const DecodeResult d = decoder.Decode(EventKind::kRideRequest, line.payload);
    if (!d.ok()) return;
    const ZoneIndexT zone = city->second.zones->index.Locate(d.event.lon, d.event.lat);
    if (zone == kUnzoned) return;
    out.push_back({city->first, zone, d.event.ts});
  });
  return out;
}

Backtest CompareRuns(PricedRun a, PricedRun b, const std::vector<PricedRequest>& requests) {
  if (a.timing.interval_ms != b.timing.interval_ms) {
    throw std::invalid_argument(
        "the configurations tick at different intervals (interval_seconds " +
        std::to_string(a.timing.interval_ms / 1000) + " and " +
        std::to_string(b.timing.interval_ms / 1000) +
        "): their prices cannot be compared tick "
        "by tick; give both the same interval_seconds");
  }
  Backtest bt;
  for (const auto& [key, ca] : a.cities) {
    const auto found = b.cities.find(key);
    if (found == b.cities.end())
      throw std::invalid_argument("city '" + key + "' is in the first configuration only");
    const CityPrices& cb = found->second;
    const ZoneSet& za = ca.zones->zones;
    const ZoneSet& zb = cb.zones->zones;
    bool same_zones = za.size() == zb.size();
    for (std::size_t i = 0; same_zones && i < za.size(); ++i)
      same_zones = za.zones()[i].id == zb.zones()[i].id;
    if (!same_zones)
      throw std::invalid_argument("city '" + key +
                                  "' has other zones in each configuration: give both the same "
                                  "zones file and id_property");
    if (ca.ticks != cb.ticks)
      throw std::invalid_argument("city '" + key + "' closed other ticks in each configuration");

    CityComparison cc;
    cc.city = key;
    const auto quotes_a = Quotes(ca, a.timing, key, requests);
    const auto quotes_b = Quotes(cb, b.timing, key, requests);
    std::vector<ZoneIndexT> every(za.size());
    for (std::size_t z = 0; z < every.size(); ++z) every[z] = static_cast<ZoneIndexT>(z);
    cc.a = Figures(ca, a.timing, every, quotes_a);
    cc.b = Figures(cb, b.timing, every, quotes_b);
    for (ZoneIndexT z : every) {
      ZoneComparison zc;
      zc.zone = z;
      zc.a = Figures(ca, a.timing, {z}, quotes_a);
      zc.b = Figures(cb, b.timing, {z}, quotes_b);
      for (std::size_t t = 0; t < ca.ticks.size(); ++t) {
        const double d = cb.q[t][z] - ca.q[t][z];
        zc.mean_diff += d;
        zc.mean_abs_diff += std::abs(d);
        zc.max_abs_diff = std::max(zc.max_abs_diff, std::abs(d));
      }
      if (!ca.ticks.empty()) {
        zc.mean_diff /= static_cast<double>(ca.ticks.size());
        zc.mean_abs_diff /= static_cast<double>(ca.ticks.size());
      }
      if (zc.max_abs_diff > 1e-9) cc.most_different.push_back(z);
      cc.zones.push_back(zc);
    }
    std::stable_sort(cc.most_different.begin(), cc.most_different.end(),
                     [&](ZoneIndexT x, ZoneIndexT y) {
                       const ZoneComparison &p = cc.zones[x], &q = cc.zones[y];
                       if (p.mean_abs_diff != q.mean_abs_diff)
                         return p.mean_abs_diff > q.mean_abs_diff;
                       return p.max_abs_diff > q.max_abs_diff;
                     });
    bt.cities.push_back(std::move(cc));
  }
  for (const auto& [key, cb] : b.cities) {
    if (!a.cities.count(key))
      throw std::invalid_argument("city '" + key + "' is in the second configuration only");
  }
  bt.a = std::move(a);
  bt.b = std::move(b);
  return bt;
}

}  // namespace pricing
