#include "engine/pricing_engine.h"

#include <algorithm>

#include "events/subject.h"

namespace pricing {

PricingEngine::PricingEngine(const EngineConfig& config, const Clock& clock)
    : timing_(config.timing), clock_(clock) {
  for (const auto& [key, city] : config.cities) {
    AddCity(key, CityZones::Load(city), city.model, city.overrides);
  }
}

PricingEngine::PricingEngine(const TimingParams& timing, const Clock& clock)
    : timing_(timing), clock_(clock) {}

void PricingEngine::AddCity(const std::string& key, std::shared_ptr<const CityZones> zones,
                            const ModelParams& model,
                            const std::map<std::string, ZoneOverride>& overrides) {
  cities_[key] =
      std::make_unique<CityEngine>(key, std::move(zones), timing_, model, overrides, clock_);
}

CityEngine* PricingEngine::city(std::string_view key) {
  auto it = cities_.find(key);
  return it == cities_.end() ? nullptr : it->second.get();
}

void PricingEngine::CountPartition(int32_t partition, int32_t partitions, bool routed_source) {
  counted_partition_ = partition;
  routed_source_ = routed_source;
  for (auto& [key, engine] : cities_) engine->CountPartition(partition, partitions);
}

IngestOutcome PricingEngine::Ingest(std::string_view subject, std::string_view payload,
                                    uint64_t seq, std::optional<int64_t> wall_clock_ms) {
  IngestOutcome out;
  // Counting one partition: an input on a subject of four tokens came to this partition
  // alone (LOCATION_EVENTS's subject transform made the fourth token the partition of
  // the id the publisher put there), so it is this partition's to refuse, whatever its
  // entity. An input on a subject of three tokens reaches every partition: refused
  // before its entity is known, it is partition 0's. From a routed source (a Kafka
  // partition) every input came here alone.
  const bool routed_here = counted_partition_ >= 0 &&
                           (routed_source_ || std::count(subject.begin(), subject.end(), '.') == 3);
  const bool others_refuse = counted_partition_ > 0 && !routed_here;
  const auto parsed = ParseInputSubject(subject);
  if (!parsed && others_refuse) {
    out.foreign = true;
    return out;
  }
  if (!parsed) {
    static_cast<Verdict&>(out) = Verdict::Refused(
        RejectReason::kSchema, "subject is not location.driver.<city> or location.request.<city>");
    ++unrouted_rejects_[static_cast<std::size_t>(out.reason)];
    return out;
  }
  out.kind = parsed->kind;
  out.city = parsed->city;
  CityEngine* engine = city(parsed->city);
  if (engine == nullptr && others_refuse) {
    out.foreign = true;
    return out;
  }
  if (engine == nullptr) {
    static_cast<Verdict&>(out) =
        Verdict::Refused(RejectReason::kUnknownCity, "city is not configured");
    ++unrouted_rejects_[static_cast<std::size_t>(out.reason)];
    return out;
  }
  out.engine = engine;
  const DecodeResult decoded = decoder_.Decode(parsed->kind, payload);
  if (!decoded.ok() && others_refuse) {
    out.foreign = true;
    return out;
  }
  if (!decoded.ok()) {
    static_cast<Verdict&>(out) = decoded;  // the decoder's refusal, unchanged
    engine->CountRejected(out.kind, out.reason);
    return out;
  }
  if (!engine->Owns(decoded.event.entity_id)) {
    if (!routed_here) {
      out.foreign = true;
      return out;
    }
    // Its id is not the one it was partitioned by: no partition would count it.
    static_cast<Verdict&>(out) = Verdict::Refused(
        RejectReason::kSchema,
        routed_source_
            ? "its id belongs to another partition than the one it was read from: a "
              "partitioned topic takes each event in partition FNV-1a(driver_id or "
              "rider_id) modulo the partition count"
            : "its id belongs to another partition than its subject's: the fourth token of "
              "location.<kind>.<city>.<id> must be its driver_id or rider_id");
    engine->CountRejected(out.kind, out.reason);
    return out;
  }
  out.ts = decoded.event.ts;
  if (!engine->started()) {
    // The first event of a run starts every city's clock together, so cities share
    // one tick grid and a city without events still publishes its (calm) prices.
    const int64_t first =
        (FloorDiv(decoded.event.ts, timing_.interval_ms) + 1) * timing_.interval_ms;
    for (auto& [key, other] : cities_) {
      if (!other->started()) other->StartAt(first);
    }
  }
  static_cast<Verdict&>(out) = engine->Apply(decoded.event, seq, wall_clock_ms);
  if (out.reason != RejectReason::kFuture) {
    max_event_ts_ = std::max(max_event_ts_.value_or(decoded.event.ts), decoded.event.ts);
  }
  return out;
}

int64_t PricingEngine::NextCloseMs() const {
  int64_t next = INT64_MAX;
  for (const auto& [key, engine] : cities_) {
    if (engine->started()) next = std::min(next, engine->next_tick() + timing_.allowed_lateness_ms);
  }
  return next;
}

namespace {

// What `close` closes in every city, ordered by tick, then city.
template <class Closed, class Cities, class Close>
std::vector<Closed> CloseEveryCity(Cities& cities, Close close) {
  std::vector<Closed> out;
  for (auto& [key, engine] : cities) {
    auto closed = close(*engine);
    std::move(closed.begin(), closed.end(), std::back_inserter(out));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Closed& a, const Closed& b) { return a.tick < b.tick; });
  return out;
}

}  // namespace

std::vector<TickResult> PricingEngine::AdvanceWatermark(int64_t watermark_ms) {
  return CloseEveryCity<TickResult>(
      cities_, [&](CityEngine& city) { return city.CloseTicks(watermark_ms); });
}

std::vector<PartialCounts> PricingEngine::AdvancePartials(int64_t watermark_ms) {
  return CloseEveryCity<PartialCounts>(
      cities_, [&](CityEngine& city) { return city.ClosePartials(watermark_ms); });
}

std::vector<TickResult> PricingEngine::Finish() {
  if (!max_event_ts_) return {};
  const int64_t i = timing_.interval_ms;
  const int64_t last_tick = (FloorDiv(*max_event_ts_, i) + 1) * i;
  for (auto& [key, engine] : cities_) {
    if (!engine->started()) engine->StartAt(last_tick);
  }
  return AdvanceWatermark(last_tick + timing_.allowed_lateness_ms);
}

}  // namespace pricing
