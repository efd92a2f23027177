#include "engine/outputs.h"

#include "common/json_writer.h"
#include "events/subject.h"

namespace pricing {

std::string PricingUpdateMsgId(std::string_view city, std::string_view zone_id, int64_t tick) {
  std::string id(city);
  id.push_back(':');
  id.append(zone_id).push_back(':');
  id.append(std::to_string(tick));
  return id;
}

std::string TickMsgId(std::string_view city, int64_t tick) {
  return std::string(city) + ":" + std::to_string(tick);
}

namespace {

void WriteTickHeader(JsonWriter& w, const TickResult& t) {
  w.Key("city").String(t.city);
  w.Key("tick").Int(t.tick);
  w.Key("window_start").Int(t.window_start);
  w.Key("window_end").Int(t.window_end);
  w.Key("model").String(t.model);
  w.Key("config_version").Int(t.config_version);
}

std::string EncodeZoneUpdate(const TickResult& t, const Zone& zone, Eigen::Index z) {
  const ModelOutput& m = t.zones;
  std::string out;
  out.reserve(512);
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("zone_id").String(zone.id);
  w.Key("zone_name").String(zone.name);
  WriteTickHeader(w, t);
  w.Key("multiplier").Double(m.multiplier[z]);
  w.Key("previous").Double(m.previous[z]);
  w.Key("demand").Int(static_cast<int64_t>(m.demand[z]));
  w.Key("supply").Int(static_cast<int64_t>(m.supply[z]));
  w.Key("demand_smoothed").Double(m.demand_smoothed[z]);
  w.Key("supply_smoothed").Double(m.supply_smoothed[z]);
  w.Key("ratio").Double(m.ratio[z]);
  w.Key("target").Double(m.target[z]);
  w.Key("raw").Double(m.raw[z]);
  w.Key("bound").String(ToString(m.bound[static_cast<std::size_t>(z)]));
  if (t.input_seqs.last != 0) {
    w.Key("input_seq_first").Uint(t.input_seqs.first);
    w.Key("input_seq_last").Uint(t.input_seqs.last);
  }
  w.Key("computed_at").Int(t.computed_at_ms);
  w.EndObject();
  return out;
}

std::string EncodeSurgeEvent(const TickResult& t, const ZoneSet& zones) {
  const ModelOutput& m = t.zones;
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  WriteTickHeader(w, t);
  w.Key("changes").BeginArray();
  for (Eigen::Index z = 0; z < m.multiplier.size(); ++z) {
    if (m.multiplier[z] == m.previous[z]) continue;
    w.BeginObject();
    w.Key("zone_id").String(zones.zone(static_cast<ZoneIndexT>(z)).id);
    w.Key("multiplier").Double(m.multiplier[z]);
    w.Key("previous").Double(m.previous[z]);
    w.Key("bound").String(ToString(m.bound[static_cast<std::size_t>(z)]));
    w.EndObject();
  }
  w.EndArray();
  w.Key("computed_at").Int(t.computed_at_ms);
  w.EndObject();
  return out;
}

std::string EncodeAnalytics(const TickResult& t) {
  const ModelOutput& m = t.zones;
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  WriteTickHeader(w, t);
  uint64_t total = 0;
  w.Key("events_read").BeginObject();
  for (std::size_t k = 0; k < kEventKindCount; ++k) {
    w.Key(ToString(static_cast<EventKind>(k))).Uint(t.stats.read[k]);
    total += t.stats.read[k];
  }
  w.Key("total").Uint(total);
  w.EndObject();
  w.Key("rejected").BeginObject();
  for (std::size_t r = 1; r < kRejectReasonCount; ++r) {
    w.Key(ToString(static_cast<RejectReason>(r))).Uint(t.stats.rejected[r]);
  }
  w.EndObject();
  w.Key("late").Uint(t.stats.rejected[static_cast<std::size_t>(RejectReason::kLate)]);
  w.Key("unzoned").Uint(t.stats.unzoned);
  w.Key("zones").Int(m.multiplier.size());
  w.Key("zones_surging").Int((m.multiplier.array() > kSurgeThreshold).count());
  w.Key("demand_total").Int(static_cast<int64_t>(m.demand.sum()));
  w.Key("supply_total").Int(static_cast<int64_t>(m.supply.sum()));
  w.Key("mean_multiplier").Double(m.multiplier.size() ? m.multiplier.mean() : 0.0);
  w.Key("max_multiplier").Double(m.multiplier.size() ? m.multiplier.maxCoeff() : 0.0);
  if (t.input_seqs.last != 0) {
    w.Key("input_seq_first").Uint(t.input_seqs.first);
    w.Key("input_seq_last").Uint(t.input_seqs.last);
  }
  w.Key("compute_ms").Double(t.compute_ms);
  w.Key("computed_at").Int(t.computed_at_ms);
  w.EndObject();
  return out;
}

}  // namespace

std::vector<OutputMessage> EncodeTick(const TickResult& tick, const ZoneSet& zones) {
  std::vector<OutputMessage> out;
  out.reserve(zones.size() + 2);
  for (std::size_t z = 0; z < zones.size(); ++z) {
    const Zone& zone = zones.zone(static_cast<ZoneIndexT>(z));
    out.push_back({PricingUpdateSubject(tick.city, zone.id),
                   PricingUpdateMsgId(tick.city, zone.id, tick.tick),
                   EncodeZoneUpdate(tick, zone, static_cast<Eigen::Index>(z))});
  }
  out.push_back({SurgeEventSubject(tick.city), TickMsgId(tick.city, tick.tick),
                 EncodeSurgeEvent(tick, zones)});
  out.push_back(
      {AnalyticsSubject(tick.city), TickMsgId(tick.city, tick.tick), EncodeAnalytics(tick)});
  return out;
}

}  // namespace pricing
