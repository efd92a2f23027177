// Exact partitioned pricing, in two stages. The work of a city is split by entity:
// driver pings by driver_id, ride requests by rider_id (PartitionOf: FNV-1a 32 of the
// id, modulo the partition count, which is what a NATS subject mapping's
// {{partition(N, token)}} computes for the same id). Then
// - stage 1, per partition: the sliding window of its own drivers and riders counts
//   supply and demand per zone for each tick, and hands over a PartialCounts (one per
//   partition per tick, carrying only the zones with a count);
// - stage 2, per city: PartialAssembler sums the partials of a tick once every
//   partition's is there, and the model prices the sums.
// Distinct counts stay exact because the entity sets of the partitions are disjoint: a
// driver's latest ping in the window is in one partition, whichever zones it moved
// through. Partitioning by zone would not be exact (a moving driver would count in two
// zones, and smoothing needs the neighbours' counts).
//
// Pure: no transport, no clock. `pricing replay --partitions N` runs both stages in one
// process, through the wire encoding below.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine_config.h"
#include "events/event.h"
#include "window/sliding_window.h"
#include "zones/zone_set.h"

namespace pricing {

// Inputs seen between two tick closes (by arrival), for ANALYTICS_EVENTS.
struct TickStats {
  std::array<uint64_t, kEventKindCount> read{};  // every input of the city, valid or not
  RejectCounts rejected{};
  uint64_t unzoned = 0;
};

// The partition of an entity: FNV-1a 32 of its id, modulo `partitions`.
int32_t PartitionOf(std::string_view entity_id, int32_t partitions);

struct PartialCounts {
  std::string city;
  int64_t tick = 0;
  int32_t partition = 0;
  int32_t partitions = 1;
  std::vector<int32_t> supply;  // by zone index
  std::vector<int32_t> demand;  // by zone index
  TickStats stats;
  SeqRange input_seqs;  // {0, 0}: none
};

// The wire form, JSON: {"city","tick","partition","partitions","zones":[[id,supply,
// demand],...] (zones with a count only),"read":[drivers,requests],"rejected":[by
// reason],"unzoned","seqs":[first,last]}.
std::string EncodePartial(const PartialCounts& p, const ZoneSet& zones);
// Empty `error` on success. A zone id this city does not have is an error.
PartialCounts DecodePartial(std::string_view payload, const ZoneSet& zones, std::string* error);

// Stage 2's gate: a tick is priced only from every partition's counts.
class PartialAssembler {
 public:
  PartialAssembler(int32_t partitions, std::size_t zones)
      : partitions_(partitions), zones_(zones) {}

  // Only ticks after `tick` are taken (a restored stage 2: the checkpoint's tick). With
  // `first_complete` (nothing priced yet), the first tick handed out is the first one
  // every partition reported: partitions that began counting at different ticks never
  // all report the earlier ones. After it, no tick is ever skipped.
  void StartAfter(int64_t tick, bool first_complete);
  // One partition's counts. A second copy of the same (tick, partition) is ignored (a
  // redelivery); so is a tick already handed out. False when ignored.
  bool Add(PartialCounts p);
  // The earliest tick every partition reported, summed; nullopt while one is missing
  // (the tick, and every later one, is held: ticks are priced in order).
  std::optional<PartialCounts> TakeNext();
  // The partitions that have not reported the earliest held tick (empty: none held).
  std::vector<int32_t> Missing() const;
  // The partitions that have not reported `tick`.
  std::vector<int32_t> MissingAt(int64_t tick) const;
  std::optional<int64_t> held_tick() const;

 private:
  int32_t partitions_;
  std::size_t zones_;
  int64_t handed_through_ = INT64_MIN;  // the last tick handed out
  bool first_complete_ = false;
  std::map<int64_t, std::map<int32_t, PartialCounts>> ticks_;
};

}  // namespace pricing
