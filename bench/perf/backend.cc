#include "perf/backend.h"

namespace pricing::perf {

const char* ToString(Profile p) { return p == Profile::kTuned ? "tuned" : "default"; }

std::vector<std::string> BackendNames() {
  return {"loopback", "nats-core", "jetstream-r1", "jetstream-r3", "kafka"};
}

std::unique_ptr<Backend> MakeBackend(const std::string& name, const Endpoints& e) {
  if (name == "loopback") return MakeLoopbackBackend();
  if (name == "nats-core") return MakeNatsCoreBackend(e.nats_urls);
  if (name == "jetstream-r1") return MakeJetStreamBackend(e.nats_urls, 1);
  if (name == "jetstream-r3") return MakeJetStreamBackend(e.nats_urls, 3);
  if (name == "kafka") {
    if (e.kafka_brokers.empty()) return nullptr;
    return MakeKafkaBackend(e);
  }
  return nullptr;
}

}  // namespace pricing::perf
