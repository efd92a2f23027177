// What the health checks ask of JetStream: the connection, every configured stream,
// and the durable consumer's pending count.
//
// Threads: made on any thread, then used by the health monitor's thread alone, with a
// JetStream context of its own.
#pragma once

#include <string>

#include "config/config.h"
#include "observe/health_monitor.h"
#include "observe/metrics.h"
#include "transport/nats_client.h"

namespace pricing {

class NatsHealthProbe : public HealthProbe {
 public:
  // `client` outlives the probe. The durable `durable` of `stream` is the one whose lag
  // is checked.
  NatsHealthProbe(const Config& config, const NatsClient& client, Metrics& metrics,
                  std::string stream, std::string durable);
  void Probe(HealthSnapshot* s) override;

 private:
  const Config& config_;
  const NatsClient& client_;
  Metrics& metrics_;
  NatsPtr<jsCtx> js_;
  std::string stream_;
  std::string durable_;
};

}  // namespace pricing
