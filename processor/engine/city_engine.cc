#include "engine/city_engine.h"

#include <simdjson.h>

#include <algorithm>
#include <stdexcept>

#include "common/clock.h"
#include "common/json_writer.h"

namespace pricing {

std::shared_ptr<const CityZones> CityZones::Load(const CityConfig& city) {
  return std::make_shared<const CityZones>(ZoneSet::LoadGeoJson(
      city.zones_path, city.id_property, city.name_property, city.model.adjacency_tolerance_deg));
}

CityEngine::CityEngine(std::string city, std::shared_ptr<const CityZones> zones,
                       const TimingParams& timing, const ModelParams& model,
                       const std::map<std::string, ZoneOverride>& overrides, const Clock& clock)
    : city_(std::move(city)),
      zones_(std::move(zones)),
      timing_(timing),
      clock_(clock),
      model_(zones_->zones, model, overrides) {
  SetPartitions(1);
}

void CityEngine::SetPartitions(int32_t n) {
  windows_.clear();
  for (int32_t p = 0; p < std::max(n, 1); ++p) {
    windows_.emplace_back(timing_.interval_ms, timing_.window_ms, zones_->zones.size());
  }
  pending_stats_.assign(windows_.size(), TickStats{});
}

void CityEngine::CountPartition(int32_t partition, int32_t partitions) {
  SetPartitions(1);
  counted_partition_ = partition;
  counted_of_ = partitions;
}

void CityEngine::StartWindows(int64_t tick_ms) {
  for (SlidingWindow& w : windows_) w.Start(tick_ms);
}

void CityEngine::StartAt(int64_t tick_ms) {
  const int64_t i = timing_.interval_ms;
  StartWindows(-FloorDiv(-tick_ms, i) * i);  // round up to the tick grid
}

Verdict CityEngine::Apply(const LocationEvent& event, uint64_t seq,
                          std::optional<int64_t> wall_clock_ms) {
  const auto kind = static_cast<std::size_t>(event.kind);
  const std::size_t partition = windows_.size() == 1
                                    ? 0
                                    : static_cast<std::size_t>(PartitionOf(
                                          event.entity_id, static_cast<int32_t>(windows_.size())));
  SlidingWindow& window = windows_[partition];
  TickStats& stats = pending_stats_[partition];
  ++stats.read[kind];
  if (wall_clock_ms && event.ts > *wall_clock_ms + timing_.max_future_skew_ms) {
    ++stats.rejected[static_cast<std::size_t>(RejectReason::kFuture)];
    return Verdict::Refused(RejectReason::kFuture, "ts is too far ahead of the wall clock");
  }
  if (!window.started()) {
    StartWindows((FloorDiv(event.ts, timing_.interval_ms) + 1) * timing_.interval_ms);
  }
  const ZoneIndexT zone = zones_->index.Locate(event.lon, event.lat);
  const Verdict result =
      event.kind == EventKind::kDriverPing
          ? window.AddDriverPing(event.entity_id, event.ts, zone, event.status, seq)
          : window.AddRideRequest(event.entity_id, event.ts, zone, seq);
  if (!result.ok()) {
    ++stats.rejected[static_cast<std::size_t>(result.reason)];
    return result;
  }
  if (zone == kUnzoned) ++stats.unzoned;
  return {};
}

void CityEngine::CountRejected(EventKind kind, RejectReason reason) {
  // An input refused before it had an entity: counted with the first partition.
  ++pending_stats_[0].read[static_cast<std::size_t>(kind)];
  ++pending_stats_[0].rejected[static_cast<std::size_t>(reason)];
}

std::vector<TickResult> CityEngine::CloseTicks(int64_t watermark_ms) {
  std::vector<TickResult> out;
  const SlidingWindow& window = windows_.front();
  while (window.started() && window.next_tick() + timing_.allowed_lateness_ms <= watermark_ms) {
    out.push_back(CloseNextTick());
  }
  return out;
}

std::vector<PartialCounts> CityEngine::ClosePartials(int64_t watermark_ms) {
  std::vector<PartialCounts> out;
  SlidingWindow& window = windows_.front();
  while (window.started() && window.next_tick() + timing_.allowed_lateness_ms <= watermark_ms) {
    out.push_back(CountsOf(0, std::max(counted_partition_, 0), counted_of_));
    pending_stats_.front() = TickStats{};
    window.Advance();
  }
  return out;
}

TickResult CityEngine::PriceCounts(const PartialCounts& sum) {
  const int64_t started_ns = clock_.MonotonicNs();
  SlidingWindow& window = windows_.front();
  if (!window.started() || window.next_tick() != sum.tick) StartWindows(sum.tick);
  TickResult r = ResultOf(sum.tick);
  r.input_seqs = sum.input_seqs;
  r.zones = model_.Compute(sum.supply, sum.demand);
  r.stats = sum.stats;
  window.Advance();
  r.computed_at_ms = clock_.NowMs();
  r.compute_ms = static_cast<double>(clock_.MonotonicNs() - started_ns) / 1e6;
  return r;
}

void CityEngine::Reconfigure(const ModelParams& model,
                             const std::map<std::string, ZoneOverride>& overrides,
                             int64_t version) {
  model_.Configure(model, overrides);
  config_version_ = version;
}

std::string CityEngine::EncodeCheckpoint(int64_t tick) const {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("city").String(city_);
  w.Key("tick").Int(tick);
  w.Key("config_version").Int(config_version_);
  w.Key("zones").BeginArray();
  for (std::size_t z = 0; z < zones_->zones.size(); ++z) {
    const auto i = static_cast<Eigen::Index>(z);
    w.BeginArray().String(zones_->zones.zone(static_cast<ZoneIndexT>(z)).id);
    w.Double(model_.state()[i]).Double(model_.published()[i]).EndArray();
  }
  w.EndArray();
  w.EndObject();
  return out;
}

std::string CityEngine::RestoreCheckpoint(std::string_view payload, int64_t catch_up_from_ms,
                                          int64_t resume_tick_ms) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(simdjson::padded_string(payload)).get(root)) return "checkpoint is not JSON";
  int64_t tick = 0;
  simdjson::dom::array zones;
  std::string_view city;
  if (root["city"].get_string().get(city) || root["tick"].get_int64().get(tick) ||
      root["zones"].get_array().get(zones)) {
    return "checkpoint lacks city, tick or zones";
  }
  if (city != city_) return "checkpoint is for city '" + std::string(city) + "'";
  if (tick % timing_.interval_ms != 0) return "checkpoint tick is not on this interval's grid";
  for (simdjson::dom::element z : zones) {
    std::string_view id;
    double raw = 0, published = 0;
    simdjson::dom::array triple;
    if (z.get_array().get(triple) || triple.size() != 3 || triple.at(0).get_string().get(id) ||
        triple.at(1).get_double().get(raw) || triple.at(2).get_double().get(published)) {
      return "checkpoint zone entry is not [id, raw, published]";
    }
    if (auto index = zones_->zones.Find(id)) model_.RestoreZone(*index, raw, published);
  }
  const int64_t next = tick + timing_.interval_ms;
  StartWindows(next >= catch_up_from_ms ? next : resume_tick_ms);
  return "";
}

TickResult CityEngine::CloseNextTick() {
  const int64_t started_ns = clock_.MonotonicNs();
  TickResult r = ResultOf(windows_.front().next_tick());
  if (windows_.size() == 1) {
    SlidingWindow& window = windows_.front();
    r.input_seqs = window.input_seqs();
    r.zones = model_.Compute(window.supply(), window.demand());
    r.stats = pending_stats_.front();
  } else {
    const PartialCounts sum = SumPartitions();
    r.input_seqs = sum.input_seqs;
    r.zones = model_.Compute(sum.supply, sum.demand);
    r.stats = sum.stats;
  }
  pending_stats_.assign(windows_.size(), TickStats{});
  for (SlidingWindow& window : windows_) window.Advance();
  r.computed_at_ms = clock_.NowMs();
  r.compute_ms = static_cast<double>(clock_.MonotonicNs() - started_ns) / 1e6;
  return r;
}

TickResult CityEngine::ResultOf(int64_t tick) const {
  TickResult r;
  r.city = city_;
  r.tick = tick;
  r.window_start = tick - timing_.window_ms;
  r.window_end = tick;
  r.model = model_.params().name;
  r.config_version = config_version_;
  return r;
}

PartialCounts CityEngine::CountsOf(std::size_t w, int32_t partition, int32_t partitions) const {
  const SlidingWindow& window = windows_[w];
  PartialCounts partial;
  partial.city = city_;
  partial.tick = window.next_tick();
  partial.partition = partition;
  partial.partitions = partitions;
  partial.supply.assign(window.supply().begin(), window.supply().end());
  partial.demand.assign(window.demand().begin(), window.demand().end());
  partial.stats = pending_stats_[w];
  partial.input_seqs = window.input_seqs();
  return partial;
}

PartialCounts CityEngine::SumPartitions() {
  const auto n = static_cast<int32_t>(windows_.size());
  PartialAssembler stage2(n, zones_->zones.size());
  for (int32_t p = 0; p < n; ++p) {
    // Stage 1: this partition's counts, as they would go on the wire.
    const PartialCounts partial = CountsOf(static_cast<std::size_t>(p), p, n);
    const std::string wire = EncodePartial(partial, zones_->zones);
    partial_bytes_ += wire.size();
    std::string error;
    PartialCounts received = DecodePartial(wire, zones_->zones, &error);
    if (!error.empty()) throw std::logic_error("partial counts do not read back: " + error);
    stage2.Add(std::move(received));
  }
  // Stage 2: every partition reported (all are here, in one process).
  std::optional<PartialCounts> sum = stage2.TakeNext();
  if (!sum) throw std::logic_error("a partition's counts are missing");
  return std::move(*sum);
}

}  // namespace pricing
