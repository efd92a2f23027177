#include "perf/backend.h"

namespace pricing::perf {

const char* ToString(Profile p) {
  switch (p) {
    case Profile::kTuned:
      return "tuned";
    case Profile::kOmb:
      return "omb";
    case Profile::kDefault:
      break;
  }
  return "default";
}

std::vector<std::string> BackendNames() {
  return {"loopback",           "nats-core", "jetstream-r1", "jetstream-r3", "jetstream-r3-pull",
          "jetstream-r3-fsync", "kafka",     "kafka-group",  "kafka-fsync"};
}

namespace {

// A backend and the processes that serve it: everything but ServerPids is the inner one's.
class WithServers final : public Backend {
 public:
  WithServers(std::unique_ptr<Backend> inner, std::vector<int> pids)
      : inner_(std::move(inner)), pids_(std::move(pids)) {}
  std::string Label() const override { return inner_->Label(); }
  std::string Durability() const override { return inner_->Durability(); }
  bool HasAcks() const override { return inner_->HasAcks(); }
  std::string Consumer() const override { return inner_->Consumer(); }
  std::vector<int> ServerPids() const override { return pids_; }
  std::string Leader() const override { return inner_->Leader(); }
  void Open(const CellSpec& cell, OnReceive on_receive, OnAck on_ack) override {
    inner_->Open(cell, std::move(on_receive), std::move(on_ack));
  }
  bool Send(int partition, const std::string& payload) override {
    return inner_->Send(partition, payload);
  }
  void Flush(int64_t timeout_ms) override { inner_->Flush(timeout_ms); }
  void Close() override { inner_->Close(); }

 private:
  std::unique_ptr<Backend> inner_;
  std::vector<int> pids_;
};

std::unique_ptr<Backend> Served(std::unique_ptr<Backend> b, const std::vector<int>& pids) {
  if (b == nullptr || pids.empty()) return b;
  return std::make_unique<WithServers>(std::move(b), pids);
}

}  // namespace

std::unique_ptr<Backend> MakeBackend(const std::string& name, const Endpoints& e) {
  if (name == "loopback") return MakeLoopbackBackend();
  if (name == "nats-core") return Served(MakeNatsCoreBackend(e.nats_urls), e.nats_pids);
  if (name == "jetstream-r1")
    return Served(MakeJetStreamBackend(e.nats_urls, 1, e.nats_sync_interval), e.nats_pids);
  if (name == "jetstream-r3")
    return Served(MakeJetStreamBackend(e.nats_urls, 3, e.nats_sync_interval), e.nats_pids);
  if (name == "jetstream-r3-pull")
    return Served(MakeJetStreamBackend(e.nats_urls, 3, e.nats_sync_interval, "jetstream-r3-pull",
                                       /*durable_pull=*/true),
                  e.nats_pids);
  if (name == "jetstream-r3-fsync") {
    if (e.nats_fsync_urls.empty()) return nullptr;
    return Served(MakeJetStreamBackend(e.nats_fsync_urls, 3, "always", "jetstream-r3-fsync"),
                  e.nats_fsync_pids);
  }
  if (name == "kafka" || name == "kafka-fsync" || name == "kafka-group") {
    if (e.kafka_brokers.empty()) return nullptr;
    return Served(MakeKafkaBackend(e, name == "kafka-fsync", name == "kafka-group"), e.kafka_pids);
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
