// Routes raw input messages (subject + payload) to the city engines: subject parsing,
// decoding, validation, and the watermark that closes ticks. The same object serves
// replay (watermark = largest event ts) and live mode (watermark = wall clock).
// Not thread-safe; owned by one processing thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "engine/city_engine.h"
#include "engine/engine_config.h"
#include "events/event_decoder.h"

namespace pricing {

struct IngestOutcome : Verdict {
  std::string_view city;         // empty when the subject could not be parsed
  CityEngine* engine = nullptr;  // the city's engine; null when the city is unknown
  EventKind kind = EventKind::kDriverPing;
  std::optional<int64_t> ts;  // set once the payload decoded
  // Stage 1 (CountPartition): another partition's input, neither applied nor refused
  // here. The partition that owns its entity does that; an input refused before its
  // entity is known belongs to partition 0.
  bool foreign = false;
};

class PricingEngine {
 public:
  // Loads every city's zones. Throws ConfigError on broken zone files or overrides.
  PricingEngine(const EngineConfig& config, const Clock& clock);
  // For tests and benchmarks: cities built from zones already in memory.
  PricingEngine(const TimingParams& timing, const Clock& clock);
  void AddCity(const std::string& key, std::shared_ptr<const CityZones> zones,
               const ModelParams& model, const std::map<std::string, ZoneOverride>& overrides = {});

  // Stage 1 of partitioned pricing (engine/partials.h): every city counts only the
  // entities of `partition`. Before the first input. `routed_source`: the source hands
  // every input to one partition only (a partition of a keyed Kafka topic), so every
  // input is this partition's to count or refuse, whatever its subject.
  void CountPartition(int32_t partition, int32_t partitions, bool routed_source = false);
  // The partition counted here; -1 when this engine prices every input itself.
  int32_t counted_partition() const { return counted_partition_; }

  // Decodes and applies one input. `seq` is the stream sequence (0: none);
  // `wall_clock_ms` is set in live mode only.
  IngestOutcome Ingest(std::string_view subject, std::string_view payload, uint64_t seq,
                       std::optional<int64_t> wall_clock_ms = std::nullopt);

  // Closes every tick of every city up to `watermark_ms`; results ordered by tick, then city.
  std::vector<TickResult> AdvanceWatermark(int64_t watermark_ms);
  // Stage 1: the same ticks, closed into this partition's counts; ordered the same way.
  std::vector<PartialCounts> AdvancePartials(int64_t watermark_ms);
  // The watermark at which AdvanceWatermark would next close a tick: the earliest next
  // tick of a started city plus the allowed lateness; INT64_MAX while none has started.
  int64_t NextCloseMs() const;

  // End of a replay: the watermark becomes the largest ts read, and every tick up to
  // and including the first tick after it is closed.
  std::vector<TickResult> Finish();

  // Largest ts of any applied or late event so far (the replay watermark).
  std::optional<int64_t> max_event_ts() const { return max_event_ts_; }
  CityEngine* city(std::string_view key);
  const std::map<std::string, std::unique_ptr<CityEngine>, std::less<>>& cities() const {
    return cities_;
  }
  // Inputs that named no known city, by reason.
  const RejectCounts& unrouted_rejects() const { return unrouted_rejects_; }

 private:
  TimingParams timing_;
  const Clock& clock_;
  EventDecoder decoder_;
  std::map<std::string, std::unique_ptr<CityEngine>, std::less<>> cities_;
  std::optional<int64_t> max_event_ts_;
  RejectCounts unrouted_rejects_{};
  int32_t counted_partition_ = -1;
  bool routed_source_ = false;  // CountPartition: every input came to this partition alone
};

}  // namespace pricing
