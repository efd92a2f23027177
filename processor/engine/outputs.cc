#include "engine/outputs.h"

#include <charconv>
#include <cmath>
#include <cstdint>

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

// What does not change from tick to tick, per zone: the start of its update, its subject
// and the start of its message id. Built once per city (zone set and name) on the
// encoding thread: a 10,000-zone tick then writes only the numbers.
struct ZoneTemplates {
  const ZoneSet* zones = nullptr;
  std::string city;
  std::vector<std::string> head;       // {"zone_id":"..","zone_name":"..",
  std::vector<std::string> subject;    // pricing.update.<city>.<zone>
  std::vector<std::string> id_prefix;  // <city>:<zone>:
};

const ZoneTemplates& TemplatesFor(const ZoneSet& zones, std::string_view city) {
  thread_local std::vector<ZoneTemplates> cache;
  for (const ZoneTemplates& t : cache) {
    if (t.zones == &zones && t.city == city && t.head.size() == zones.size()) return t;
  }
  if (cache.size() >= 16) cache.clear();  // a process prices a few cities
  ZoneTemplates& t = cache.emplace_back();
  t.zones = &zones;
  t.city = city;
  for (std::size_t z = 0; z < zones.size(); ++z) {
    const Zone& zone = zones.zone(static_cast<ZoneIndexT>(z));
    std::string head = "{\"zone_id\":";
    AppendJsonString(&head, zone.id);
    head += ",\"zone_name\":";
    AppendJsonString(&head, zone.name);
    head += ',';
    t.head.push_back(std::move(head));
    t.subject.push_back(PricingUpdateSubject(city, zone.id));
    t.id_prefix.push_back(PricingUpdateMsgId(city, zone.id, 0));
    t.id_prefix.back().resize(t.id_prefix.back().size() - 1);  // without the tick's "0"
  }
  return t;
}

// As JsonWriter::Double writes it (the shortest text that reads back; null when not
// finite), with small integers, most of a tick's values, written as integers: the same
// text, since for them the fixed form is the shortest.
void AppendNumber(std::string* out, double v) {
  char buf[32];
  if (v > -1000 && v < 1000 && v == std::trunc(v) && !(v == 0 && std::signbit(v))) {
    const auto res = std::to_chars(buf, buf + sizeof buf, static_cast<int32_t>(v));
    out->append(buf, res.ptr);
    return;
  }
  if (!std::isfinite(v)) {
    out->append("null");
    return;
  }
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, res.ptr);
}

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, res.ptr);
}

// The part of every zone update of a tick between the zone's name and its numbers,
// and the part after them.
struct TickParts {
  std::string
      header;  // "city":..,"tick":..,"window_start":..,"window_end":..,"model":..,"config_version":..,
  std::string tail;  // "input_seq_first":..,"input_seq_last":..,"computed_at":..}
  std::string tick;  // the tick as text, for message ids
};

TickParts PartsOf(const TickResult& t) {
  TickParts p;
  {
    std::string& out = p.header;
    out += "\"city\":";
    AppendJsonString(&out, t.city);
    out += ",\"tick\":";
    AppendInt(&out, t.tick);
    out += ",\"window_start\":";
    AppendInt(&out, t.window_start);
    out += ",\"window_end\":";
    AppendInt(&out, t.window_end);
    out += ",\"model\":";
    AppendJsonString(&out, t.model);
    out += ",\"config_version\":";
    AppendInt(&out, t.config_version);
    out += ",\"multiplier\":";
  }
  {
    std::string& out = p.tail;
    if (t.input_seqs.last != 0) {
      out += ",\"input_seq_first\":";
      out += std::to_string(t.input_seqs.first);
      out += ",\"input_seq_last\":";
      out += std::to_string(t.input_seqs.last);
    }
    out += ",\"computed_at\":";
    AppendInt(&out, t.computed_at_ms);
    out += '}';
  }
  p.tick = std::to_string(t.tick);
  return p;
}

// One zone's PRICING_UPDATES message, the fields in events.md's order (the same text
// JsonWriter would write).
std::string EncodeZoneUpdate(const TickResult& t, const TickParts& parts, const std::string& head,
                             Eigen::Index z) {
  const ModelOutput& m = t.zones;
  std::string out;
  out.reserve(head.size() + parts.header.size() + parts.tail.size() + 256);
  out += head;
  out += parts.header;
  AppendNumber(&out, m.multiplier[z]);
  out += ",\"previous\":";
  AppendNumber(&out, m.previous[z]);
  out += ",\"demand\":";
  AppendInt(&out, static_cast<int64_t>(m.demand[z]));
  out += ",\"supply\":";
  AppendInt(&out, static_cast<int64_t>(m.supply[z]));
  out += ",\"demand_smoothed\":";
  AppendNumber(&out, m.demand_smoothed[z]);
  out += ",\"supply_smoothed\":";
  AppendNumber(&out, m.supply_smoothed[z]);
  out += ",\"ratio\":";
  AppendNumber(&out, m.ratio[z]);
  out += ",\"target\":";
  AppendNumber(&out, m.target[z]);
  out += ",\"raw\":";
  AppendNumber(&out, m.raw[z]);
  out += ",\"bound\":\"";
  out += ToString(m.bound[static_cast<std::size_t>(z)]);
  out += '"';
  out += parts.tail;
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
  const ZoneTemplates& templates = TemplatesFor(zones, tick.city);
  const TickParts parts = PartsOf(tick);
  for (std::size_t z = 0; z < zones.size(); ++z) {
    out.push_back({templates.subject[z], templates.id_prefix[z] + parts.tick,
                   EncodeZoneUpdate(tick, parts, templates.head[z], static_cast<Eigen::Index>(z))});
  }
  out.push_back({SurgeEventSubject(tick.city), TickMsgId(tick.city, tick.tick),
                 EncodeSurgeEvent(tick, zones)});
  out.push_back(
      {AnalyticsSubject(tick.city), TickMsgId(tick.city, tick.tick), EncodeAnalytics(tick)});
  return out;
}

}  // namespace pricing
