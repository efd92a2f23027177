// What the health checks ask of Kafka: whether a broker answers, whether every topic
// of the configuration is there, and the group's lag on what its stage reads
// (KafkaStageInputOf: location-events, one partition of it, or the partials; what
// kafka-consumer-groups reports: each partition's high watermark less the group's
// committed offset, summed).
//
// Threads: made on any thread, then used by the health monitor's thread alone, with a
// client handle of its own (it never joins the group; it only reads its offsets).
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "observe/health_monitor.h"
#include "transport/kafka_admin.h"
#include "transport/kafka_handles.h"

namespace pricing {

class KafkaHealthProbe : public HealthProbe {
 public:
  explicit KafkaHealthProbe(const Config& config);
  void Probe(HealthSnapshot* s) override;

 private:
  // The lag of the group on the input topic's `partitions`, or an error text.
  bool GroupLag(int partitions, uint64_t* lag, std::string* error);

  const Config& config_;
  const int timeout_ms_;
  std::vector<std::string> topics_;  // every topic of the configuration
  KafkaStageInput input_;
  KafkaPtr<rd_kafka_t> client_;
};

}  // namespace pricing
