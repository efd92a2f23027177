// What the health checks ask of JetStream: the connection, every configured stream,
// and the durable consumer's pending count.
//
// Threads: made on any thread, then used by the health monitor's thread alone, with a
// JetStream context of its own.
#pragma once

#include "config/config.h"
#include "observe/health_monitor.h"
#include "observe/metrics.h"
#include "transport/nats_client.h"

namespace pricing {

class NatsHealthProbe : public HealthProbe {
 public:
  // `client` outlives the probe.
  NatsHealthProbe(const Config& config, const NatsClient& client, Metrics& metrics);
  void Probe(HealthSnapshot* s) override;

 private:
  const Config& config_;
  const NatsClient& client_;
  Metrics& metrics_;
  NatsPtr<jsCtx> js_;
};

}  // namespace pricing
