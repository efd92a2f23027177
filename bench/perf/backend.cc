#include "perf/backend.h"

namespace pricing::perf {

const char* ToString(Profile p) { return p == Profile::kTuned ? "tuned" : "default"; }

std::vector<std::string> BackendNames() {
  return {"loopback", "nats-core", "jetstream-r1", "jetstream-r3", "kafka"};
}

std::unique_ptr<Backend> MakeBackend(const std::string& name, const Endpoints& e) {
  if (name == "loopback") return MakeLoopbackBackend();
  if (name == "nats-core") return MakeNatsCoreBackend(e.nats_urls);
  if (name == "jetstream-r1") return MakeJetStreamBackend(e.nats_urls, 1, e.nats_sync_interval);
  if (name == "jetstream-r3") return MakeJetStreamBackend(e.nats_urls, 3, e.nats_sync_interval);
  if (name == "kafka") {
    if (e.kafka_brokers.empty()) return nullptr;
    return MakeKafkaBackend(e);
  }
  return nullptr;
}

std::string JetStreamAckMeaning(int replicas, const std::string& sync_interval) {
  const std::string who = replicas == 1 ? "the stream leader" : "a quorum of replicas";
  if (sync_interval == "always") {
    return "acknowledged once " + who + " wrote it and fsynced it (sync_interval always)";
  }
  if (sync_interval.empty()) {
    return "acknowledged once " + who + " wrote it; fsync interval unknown";
  }
  return "acknowledged once " + who +
         " wrote it (the OS page cache: it survives a killed "
         "server, not a power loss), fsynced within " +
         sync_interval;
}

}  // namespace pricing::perf
