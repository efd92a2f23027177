// The whole pipeline, measured from outside: the real `pricing run` binary on NATS
// JetStream or on Kafka, fed open-loop with the load generator's events, and watched
// on its pricing updates. For every event, the latency from its intended send time to
// the first pricing update of the tick that counts it; for every tick, the delay from
// the tick's close (its end plus the allowed lateness) to that first update, which is
// the part the broker and the processor add to what the tick interval imposes.
#pragma once

#include <cstdint>
#include <string>

#include "perf/backend.h"
#include "perf/histogram.h"

namespace pricing::perf {

struct PipelineOptions {
  std::string pricing_bin;  // the `pricing` binary
  std::string zones;        // GeoJSON of the city's zones
  std::string work_dir;     // configs and processor logs
  Endpoints endpoints;
};

struct PipelineSpec {
  std::string backend;  // jetstream-r3 or kafka
  double rate = 1000;   // events per second
  double warmup_seconds = 5;
  double seconds = 20;
};

struct PipelineResult {
  PipelineSpec spec;
  std::string label;
  std::string durability;
  int64_t interval_ms = 0;
  int64_t lateness_ms = 0;
  uint64_t sent = 0;
  uint64_t send_errors = 0;
  uint64_t unattributed = 0;        // measured events no pricing update ever covered
  uint64_t processor_read = 0;      // events the processor reports read, probes included
  uint64_t processor_rejected = 0;  // of those, refused (late ones, stored after their tick)
  uint64_t ticks = 0;
  double send_rate = 0;
  LatencyHistogram event_to_update;  // from the event's intended send time
  LatencyHistogram close_to_update;  // from the tick's close (wall clock)
  bool sustainable = false;
  std::string verdict;
};

PipelineResult RunPipeline(const PipelineOptions& options, const PipelineSpec& spec);

}  // namespace pricing::perf
