// The generator's events to Kafka (backend: kafka): an idempotent producer to
// location-events, with the `subject` and `msg-id` headers the processor reads
// (events.md). Keyed by the subject's last token (the city, or the id on id subjects);
// with `partitions` above 1, keyed by the driver or rider id and put in its partition
// (PartitionOf: FNV-1a 32 of the id modulo the partition count), where the count stage
// of that partition reads it.
//
// Threads: one (the simulator's); delivery reports run inside Pump() and Flush().
#pragma once

#include <cstdint>

#include "config/config.h"
#include "sim/simulator.h"
#include "transport/kafka_handles.h"

namespace pricing {

class KafkaEventSink final : public EventSink {
 public:
  explicit KafkaEventSink(const Config& config);
  ~KafkaEventSink() override;

  void Send(const SimEvent& event, OnStored on_stored) override;
  void Pump() override;
  bool Flush(int64_t timeout_ms) override;
  Counts counts() const override;

 private:
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);

  const int32_t partitions_;
  const std::string topic_;
  KafkaPtr<rd_kafka_t> producer_;
  uint64_t acked_ = 0;
  uint64_t errors_ = 0;
};

}  // namespace pricing
