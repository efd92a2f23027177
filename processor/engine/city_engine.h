// The pricing core for one city: locates events in zones, keeps the sliding window,
// and closes ticks through the ratio-v1 model as the watermark advances. Pure: knows
// nothing of transports; time comes in as event timestamps and watermarks, and the
// injected clock is read only for the wall-clock fields of outputs.
// Not thread-safe; owned by one processing thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "engine/engine_config.h"
#include "engine/partials.h"
#include "events/event.h"
#include "pricing/ratio_model.h"
#include "window/sliding_window.h"
#include "zones/zone_index.h"
#include "zones/zone_set.h"

namespace pricing {

struct TickResult {
  std::string city;
  int64_t tick = 0;  // window is [tick - W, tick)
  int64_t window_start = 0;
  int64_t window_end = 0;
  SeqRange input_seqs;
  std::string model;
  int64_t config_version = 0;
  ModelOutput zones;  // indexed by zone index
  TickStats stats;
  int64_t computed_at_ms = 0;  // wall clock (not deterministic)
  double compute_ms = 0;       // wall time to close the tick (not deterministic)
};

// A city's zones with their lookup index, shared read-only between engines and tests.
struct CityZones {
  ZoneSet zones;
  ZoneIndex index;

  explicit CityZones(ZoneSet set) : zones(std::move(set)), index(zones) {}
  static std::shared_ptr<const CityZones> Load(const CityConfig& city);
};

class CityEngine {
 public:
  CityEngine(std::string city, std::shared_ptr<const CityZones> zones, const TimingParams& timing,
             const ModelParams& model, const std::map<std::string, ZoneOverride>& overrides,
             const Clock& clock);

  // Splits the city's work into `n` partitions by entity (engine/partials.h): each has
  // its own window, and a tick is priced from the sum of their counts, passed through
  // the partial counts' wire form. Before the first event; 1 (the default) is one
  // window. The outputs are the same for any `n`.
  void SetPartitions(int32_t n);
  int32_t partitions() const { return static_cast<int32_t>(windows_.size()); }
  // Stage 1 of partitioned pricing in its own process: this engine counts, in its one
  // window, only the drivers and riders of `partition` (of `partitions`); ticks are
  // closed with ClosePartials, not CloseTicks.
  void CountPartition(int32_t partition, int32_t partitions);
  // False for an entity of another partition than the one this engine counts.
  bool Owns(std::string_view entity_id) const {
    return counted_partition_ < 0 || PartitionOf(entity_id, counted_of_) == counted_partition_;
  }
  // Bytes of partial counts stage 1 handed to stage 2 so far (0 with one partition).
  uint64_t partial_bytes() const { return partial_bytes_; }

  // Makes `tick_ms` the next tick to close (rounded up to the tick grid). Without it
  // the first accepted event starts the clock at the first tick after its ts.
  void StartAt(int64_t tick_ms);
  bool started() const { return windows_.front().started(); }
  int64_t next_tick() const { return windows_.front().next_tick(); }

  // Applies one decoded event. `wall_clock_ms` is set in live mode, where events more
  // than max_future_skew ahead of it are rejected as `future`. Returns kNone when the
  // event was applied (an unzoned one included), else refused as late or future.
  Verdict Apply(const LocationEvent& event, uint64_t seq,
                std::optional<int64_t> wall_clock_ms = std::nullopt);

  // Counts an input of this city that was rejected before reaching Apply.
  void CountRejected(EventKind kind, RejectReason reason);

  // Closes, in order, every tick t with t + allowed_lateness <= watermark.
  std::vector<TickResult> CloseTicks(int64_t watermark_ms);
  // Stage 1 (CountPartition): closes the same ticks, each into this partition's counts.
  std::vector<PartialCounts> ClosePartials(int64_t watermark_ms);
  // Stage 2: prices the summed counts of every partition for `sum.tick`, the next tick
  // (or a later one while nothing was priced: the windows of stage 2 hold nothing).
  TickResult PriceCounts(const PartialCounts& sum);

  // New parameters and overrides from the next tick on; `version` is stamped on outputs.
  void Reconfigure(const ModelParams& model, const std::map<std::string, ZoneOverride>& overrides,
                   int64_t version);

  // The state carried between ticks, to survive a restart: encoded after a tick
  // closed, restored before the first event of the new process.
  std::string EncodeCheckpoint(int64_t tick) const;
  // Restores a checkpoint written by EncodeCheckpoint and makes the tick after it the
  // next to close, unless that tick is before `catch_up_from_ms`: then the model state
  // is kept but the clock starts at `resume_tick_ms` (a long outage is not replayed
  // tick by tick; its events have aged out). Returns an error text, or empty.
  std::string RestoreCheckpoint(std::string_view payload, int64_t catch_up_from_ms = INT64_MIN,
                                int64_t resume_tick_ms = 0);

  const RatioModel& model() const { return model_; }
  const std::string& city() const { return city_; }
  const ZoneSet& zones() const { return zones_->zones; }
  const ZoneIndex& index() const { return zones_->index; }
  // The first partition's window (every partition's is on the same tick).
  const SlidingWindow& window() const { return windows_.front(); }
  const TimingParams& timing() const { return timing_; }
  int64_t config_version() const { return config_version_; }

 private:
  TickResult CloseNextTick();
  // The fields of a tick's result that do not depend on its counts.
  TickResult ResultOf(int64_t tick) const;
  // Window `w`'s counts for its next tick, as partition `partition` of `partitions`.
  PartialCounts CountsOf(std::size_t w, int32_t partition, int32_t partitions) const;
  // Stage 1 and 2 over the partitions' windows: the summed counts of the next tick.
  PartialCounts SumPartitions();
  void StartWindows(int64_t tick_ms);

  std::string city_;
  std::shared_ptr<const CityZones> zones_;
  TimingParams timing_;
  const Clock& clock_;
  std::vector<SlidingWindow> windows_;  // one per partition
  RatioModel model_;
  int64_t config_version_ = 0;
  std::vector<TickStats> pending_stats_;  // one per partition
  uint64_t partial_bytes_ = 0;
  int32_t counted_partition_ = -1;  // stage 1: the partition counted here (-1: all)
  int32_t counted_of_ = 1;
};

}  // namespace pricing
