// What the WebSocket gateway knows of one city: the latest published state of every
// zone, fed by PRICING_UPDATES (full per-zone updates) and WEBSOCKET_EVENTS (the zones
// whose multiplier changed), and the JSON it sends to clients. Messages are applied by
// tick: an older tick never overwrites a newer one, so the two streams may arrive in
// any order and replays are harmless. Not thread-safe; the gateway guards it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "zones/zone_set.h"

namespace pricing {

// A set of zone indices a client asked for; empty means every zone.
struct ZoneFilter {
  std::vector<bool> wanted;  // by zone index; empty: no filter

  bool all() const { return wanted.empty(); }
  bool Wants(ZoneIndexT z) const { return wanted.empty() || wanted[static_cast<std::size_t>(z)]; }
};

// Parses "132,138" (zone ids, comma-separated) against `zones`. Returns nullopt and
// sets `error` naming the first unknown id; an empty text is no filter.
std::optional<ZoneFilter> ParseZoneFilter(std::string_view text, const ZoneSet& zones,
                                          std::string* error);

// One WEBSOCKET_EVENTS message, parsed.
struct SurgeChanges {
  struct Change {
    ZoneIndexT zone;
    double multiplier, previous;
    std::string bound;
  };
  std::string city;
  int64_t tick = 0;
  int64_t config_version = 0;
  int64_t computed_at = 0;
  std::vector<Change> changes;
};

class SurgeBoard {
 public:
  SurgeBoard(std::string city, std::shared_ptr<const ZoneSet> zones);

  // A PRICING_UPDATES payload for this city. Returns false and sets `error` when it is
  // not a valid update of a known zone. With `first`, the zone's first known state is
  // returned there (a zone nothing was known of), as a change to tell clients: surge
  // events only name zones whose multiplier changed, so a zone that stays at 1 would
  // otherwise never reach a client connected before it had a price.
  bool ApplyUpdate(std::string_view payload, std::string* error,
                   std::optional<SurgeChanges>* first = nullptr);
  // A WEBSOCKET_EVENTS payload for this city. Returns the parsed changes (all of them,
  // also those older than what is known: clients order by tick themselves) or nullopt
  // with `error`.
  std::optional<SurgeChanges> ApplySurge(std::string_view payload, std::string* error);

  // {"type":"snapshot","city":..,"tick":..,"zones":[{zone_id, zone_name, multiplier,
  //  previous, bound, supply, demand, ratio, tick}, ...]}: every zone with a known state.
  std::string SnapshotJson(const ZoneFilter& filter) const;
  // The latest PRICING_UPDATES payload of `zone`, as published; empty when none yet.
  const std::string& LatestUpdate(ZoneIndexT zone) const { return zones_state_[idx(zone)].update; }
  // The newest tick known for any zone (0 before the first message).
  int64_t tick() const { return tick_; }
  std::size_t known_zones() const;

 private:
  struct ZoneState {
    int64_t tick = 0;  // 0: nothing known yet
    double multiplier = 1, previous = 1, ratio = 0;
    int64_t supply = 0, demand = 0;
    std::string bound;
    std::string update;  // the latest full update, verbatim
  };
  static std::size_t idx(ZoneIndexT z) { return static_cast<std::size_t>(z); }

  std::string city_;
  std::shared_ptr<const ZoneSet> zones_;
  std::vector<ZoneState> zones_state_;
  int64_t tick_ = 0;
};

// {"type":"changes","city":..,"tick":..,"config_version":..,"computed_at":..,
//  "changes":[{zone_id, multiplier, previous, bound}, ...]} with the zones `filter`
// wants; nullopt when it wants none of them.
std::optional<std::string> ChangesJson(const SurgeChanges& changes, const ZoneSet& zones,
                                       const ZoneFilter& filter);

// The city's zones for drawing: {"type":"FeatureCollection","features":[{"type":"Feature",
// "id":..,"properties":{"zone_id","zone_name"},"geometry":{MultiPolygon}}]}, each ring
// simplified to `tolerance_deg` and coordinates rounded to 5 decimals (about 1 m).
std::string MapGeoJson(const ZoneSet& zones, double tolerance_deg = 5e-5);

}  // namespace pricing
