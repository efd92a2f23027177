#include "gateway/surge_board.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>

#include "common/json_writer.h"
#include "zones/boost_shapes.h"

namespace pricing {
namespace {

// Reads the fields every output shares; false names the first missing one.
bool ReadString(simdjson::dom::object o, std::string_view key, std::string_view* out,
                std::string* error) {
  if (o[key].get_string().get(*out) == simdjson::SUCCESS) return true;
  *error = "'" + std::string(key) + "' missing or not a string";
  return false;
}

bool ReadNumber(simdjson::dom::object o, std::string_view key, double* out, std::string* error) {
  if (o[key].get_double().get(*out) == simdjson::SUCCESS) return true;
  int64_t i = 0;
  if (o[key].get_int64().get(i) == simdjson::SUCCESS) {
    *out = static_cast<double>(i);
    return true;
  }
  *error = "'" + std::string(key) + "' missing or not a number";
  return false;
}

bool ReadInt(simdjson::dom::object o, std::string_view key, int64_t* out, std::string* error) {
  if (o[key].get_int64().get(*out) == simdjson::SUCCESS) return true;
  *error = "'" + std::string(key) + "' missing or not an integer";
  return false;
}

void AppendFixed(std::string* out, double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 5);
  out->append(buf, r.ptr);
}

}  // namespace

std::optional<ZoneFilter> ParseZoneFilter(std::string_view text, const ZoneSet& zones,
                                          std::string* error) {
  ZoneFilter filter;
  if (text.empty()) return filter;
  filter.wanted.assign(zones.size(), false);
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view id = text.substr(0, comma);
    if (!id.empty()) {
      const auto z = zones.Find(id);
      if (!z) {
        *error = "unknown zone '" + std::string(id) + "'";
        return std::nullopt;
      }
      filter.wanted[static_cast<std::size_t>(*z)] = true;
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return filter;
}

SurgeBoard::SurgeBoard(std::string city, std::shared_ptr<const ZoneSet> zones)
    : city_(std::move(city)), zones_(std::move(zones)), zones_state_(zones_->size()) {}

bool SurgeBoard::ApplyUpdate(std::string_view payload, std::string* error,
                             std::optional<SurgeChanges>* first) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(simdjson::padded_string(payload)).get_object().get(o)) {
    *error = "not a JSON object";
    return false;
  }
  std::string_view city, zone_id, bound;
  int64_t tick = 0, supply = 0, demand = 0;
  double multiplier = 0, previous = 0, ratio = 0;
  if (!ReadString(o, "city", &city, error) || !ReadString(o, "zone_id", &zone_id, error) ||
      !ReadString(o, "bound", &bound, error) || !ReadInt(o, "tick", &tick, error) ||
      !ReadInt(o, "supply", &supply, error) || !ReadInt(o, "demand", &demand, error) ||
      !ReadNumber(o, "multiplier", &multiplier, error) ||
      !ReadNumber(o, "previous", &previous, error)) {
    return false;
  }
  // The ratio is null when the model had no finite ratio to publish.
  if (!ReadNumber(o, "ratio", &ratio, error)) ratio = 0;
  if (city != city_) {
    *error = "city '" + std::string(city) + "' is not '" + city_ + "'";
    return false;
  }
  const auto z = zones_->Find(zone_id);
  if (!z) {
    *error = "unknown zone '" + std::string(zone_id) + "'";
    return false;
  }
  ZoneState& s = zones_state_[idx(*z)];
  if (tick < s.tick) return true;  // older than what is known: nothing to do
  if (first != nullptr && s.tick == 0) {
    SurgeChanges c;
    c.city = city_;
    c.tick = tick;
    c.changes.push_back({*z, multiplier, previous, std::string(bound)});
    *first = std::move(c);
  }
  s.tick = tick;
  s.multiplier = multiplier;
  s.previous = previous;
  s.ratio = ratio;
  s.supply = supply;
  s.demand = demand;
  s.bound = bound;
  s.update.assign(payload);
  tick_ = std::max(tick_, tick);
  return true;
}

std::optional<SurgeChanges> SurgeBoard::ApplySurge(std::string_view payload, std::string* error) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(simdjson::padded_string(payload)).get_object().get(o)) {
    *error = "not a JSON object";
    return std::nullopt;
  }
  SurgeChanges c;
  std::string_view city;
  if (!ReadString(o, "city", &city, error) || !ReadInt(o, "tick", &c.tick, error)) {
    return std::nullopt;
  }
  if (city != city_) {
    *error = "city '" + std::string(city) + "' is not '" + city_ + "'";
    return std::nullopt;
  }
  c.city = city;
  // Informational; absent in older payloads.
  std::string ignored;
  ReadInt(o, "config_version", &c.config_version, &ignored);
  ReadInt(o, "computed_at", &c.computed_at, &ignored);
  simdjson::dom::array list;
  if (o["changes"].get_array().get(list)) {
    *error = "'changes' missing or not an array";
    return std::nullopt;
  }
  for (simdjson::dom::element e : list) {
    simdjson::dom::object ch;
    if (e.get_object().get(ch)) {
      *error = "a change is not an object";
      return std::nullopt;
    }
    std::string_view zone_id, bound;
    SurgeChanges::Change change{};
    if (!ReadString(ch, "zone_id", &zone_id, error) || !ReadString(ch, "bound", &bound, error) ||
        !ReadNumber(ch, "multiplier", &change.multiplier, error) ||
        !ReadNumber(ch, "previous", &change.previous, error)) {
      return std::nullopt;
    }
    const auto z = zones_->Find(zone_id);
    if (!z) {
      *error = "unknown zone '" + std::string(zone_id) + "'";
      return std::nullopt;
    }
    change.zone = *z;
    change.bound = bound;
    c.changes.push_back(std::move(change));
  }
  // Validated whole before anything is applied.
  for (const auto& change : c.changes) {
    ZoneState& s = zones_state_[idx(change.zone)];
    // Supply, demand and ratio of this tick come with its full update; until then the
    // zone keeps those of its last one (whose own tick says how old they are).
    if (c.tick < s.tick) continue;
    s.tick = c.tick;
    s.multiplier = change.multiplier;
    s.previous = change.previous;
    s.bound = change.bound;
  }
  tick_ = std::max(tick_, c.tick);
  return c;
}

std::size_t SurgeBoard::known_zones() const {
  return static_cast<std::size_t>(std::count_if(zones_state_.begin(), zones_state_.end(),
                                                [](const ZoneState& s) { return s.tick != 0; }));
}

std::string SurgeBoard::SnapshotJson(const ZoneFilter& filter) const {
  std::string out;
  out.reserve(64 + 160 * zones_state_.size());
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("type").String("snapshot");
  w.Key("city").String(city_);
  w.Key("tick").Int(tick_);
  w.Key("zones").BeginArray();
  for (std::size_t i = 0; i < zones_state_.size(); ++i) {
    const ZoneState& s = zones_state_[i];
    const auto z = static_cast<ZoneIndexT>(i);
    if (s.tick == 0 || !filter.Wants(z)) continue;
    w.BeginObject();
    w.Key("zone_id").String(zones_->zone(z).id);
    w.Key("zone_name").String(zones_->zone(z).name);
    w.Key("multiplier").Double(s.multiplier);
    w.Key("previous").Double(s.previous);
    w.Key("bound").String(s.bound);
    w.Key("supply").Int(s.supply);
    w.Key("demand").Int(s.demand);
    w.Key("ratio").Double(s.ratio);
    w.Key("tick").Int(s.tick);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return out;
}

std::optional<std::string> ChangesJson(const SurgeChanges& changes, const ZoneSet& zones,
                                       const ZoneFilter& filter) {
  std::string out;
  out.reserve(128 + 96 * changes.changes.size());
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("type").String("changes");
  w.Key("city").String(changes.city);
  w.Key("tick").Int(changes.tick);
  w.Key("config_version").Int(changes.config_version);
  w.Key("computed_at").Int(changes.computed_at);
  w.Key("changes").BeginArray();
  bool any = false;
  for (const auto& c : changes.changes) {
    if (!filter.Wants(c.zone)) continue;
    any = true;
    w.BeginObject();
    w.Key("zone_id").String(zones.zone(c.zone).id);
    w.Key("multiplier").Double(c.multiplier);
    w.Key("previous").Double(c.previous);
    w.Key("bound").String(c.bound);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  // A tick with no change at all still reaches unfiltered clients: it says "fresh".
  if (!any && !filter.all()) return std::nullopt;
  return out;
}

std::string MapGeoJson(const ZoneSet& zones, double tolerance_deg) {
  namespace bg = boost::geometry;
  std::string out;
  out.reserve(zones.size() * 4096);
  out += R"({"type":"FeatureCollection","features":[)";
  for (std::size_t i = 0; i < zones.size(); ++i) {
    const Zone& zone = zones.zone(static_cast<ZoneIndexT>(i));
    if (i != 0) out += ',';
    out += R"({"type":"Feature","id":)";
    AppendJsonString(&out, zone.id);
    out += R"(,"properties":{"zone_id":)";
    AppendJsonString(&out, zone.id);
    out += R"(,"zone_name":)";
    AppendJsonString(&out, zone.name);
    out += R"(},"geometry":{"type":"MultiPolygon","coordinates":[)";
    for (std::size_t p = 0; p < zone.polygons.size(); ++p) {
      if (p != 0) out += ',';
      out += '[';
      const auto& rings = zone.polygons[p].rings;
      for (std::size_t r = 0; r < rings.size(); ++r) {
        detail::bg::model::ring<detail::BPoint> ring, simple;
        for (const Point& pt : rings[r]) ring.push_back(detail::BPoint(pt.x, pt.y));
        bg::simplify(ring, simple, tolerance_deg);
        // A ring simplified below a triangle keeps its original points.
        if (simple.size() < 4) simple = ring;
        if (r != 0) out += ',';
        out += '[';
        for (std::size_t k = 0; k < simple.size(); ++k) {
          if (k != 0) out += ',';
          out += '[';
          AppendFixed(&out, simple[k].x());
          out += ',';
          AppendFixed(&out, simple[k].y());
          out += ']';
        }
        out += ']';
      }
      out += ']';
    }
    out += "]}}";
  }
  out += "]}";
  return out;
}

}  // namespace pricing
