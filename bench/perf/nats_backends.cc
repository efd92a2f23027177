// Core NATS and JetStream as the comparison harness drives them. Publisher and
// receiver use separate connections, as producing and consuming services would.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "config/config.h"
#include "perf/backend.h"
#include "perf/schedule.h"
#include "transport/nats_client.h"
#include "transport/nats_handles.h"
#include "transport/pull_consumer.h"
#include "transport/stream_admin.h"

namespace pricing::perf {
namespace {

NatsSettings SettingsFor(const std::string& urls, const std::string& name, Profile profile) {
  NatsSettings s;
  s.urls = urls;
  s.name = name;
  s.auth = NatsAuthFromEnvironment();  // a secured cluster: NATS_CA, NATS_CERT, ...
  // Out of the box, libnats' flusher may hold a write up to 1 ms to batch it; tuned,
  // every publish and ack is written at once.
  s.send_asap = profile == Profile::kTuned;
  return s;
}

// A subscription's message handler; `closure` is the backend's OnReceive.
void DeliverToReceiver(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  const int64_t now = MonoNowNs();
  (*static_cast<OnReceive*>(closure))(natsMsg_GetData(msg),
                                      static_cast<std::size_t>(natsMsg_GetDataLength(msg)), now);
  natsMsg_Destroy(msg);
}

std::string RunId() {
  static std::atomic<int> cells{0};
  return std::to_string(::getpid()) + "_" + std::to_string(cells++);
}

// ---------------------------------------------------------------- core NATS

class NatsCoreBackend : public Backend {
 public:
  explicit NatsCoreBackend(std::string urls) : urls_(std::move(urls)) {}

  std::string Label() const override { return "nats-core"; }
  std::string Durability() const override {
    return "none: at-most-once, kept in no server's memory or disk; a message sent while "
           "no subscriber is connected is gone";
  }
  bool HasAcks() const override { return false; }
  std::string Consumer() const override { return "a core subscription"; }

  void Open(const CellSpec& cell, OnReceive on_receive, OnAck) override {
    on_receive_ = std::move(on_receive);
    prefix_ = "perf.core." + RunId() + ".";
    sub_client_ = NatsClient::Connect(SettingsFor(urls_, "perf-core-sub", cell.profile), 30000);
    pub_client_ = NatsClient::Connect(SettingsFor(urls_, "perf-core-pub", cell.profile), 30000);
    natsSubscription* raw = nullptr;
    CheckNats(natsConnection_Subscribe(&raw, sub_client_->connection(), (prefix_ + "*").c_str(),
                                       &DeliverToReceiver, &on_receive_),
              "subscribing to " + prefix_ + "*");
    sub_ = Subscription(sub_client_->connection(), raw);
    // No silent drops on the client side: a slow receiver shows as latency.
    natsSubscription_SetPendingLimits(sub_.get(), -1, -1);
    // The server knows the subscription before the first publish.
    CheckNats(natsConnection_FlushTimeout(sub_client_->connection(), 5000), "flushing the SUB");
    subjects_.clear();
    for (int p = 0; p < cell.partitions; ++p) subjects_.push_back(prefix_ + std::to_string(p));
  }

  bool Send(int partition, const std::string& payload) override {
    return natsConnection_Publish(pub_client_->connection(),
                                  subjects_[static_cast<std::size_t>(partition)].c_str(),
                                  payload.data(), static_cast<int>(payload.size())) == NATS_OK;
  }

  void Flush(int64_t timeout_ms) override {
    natsConnection_FlushTimeout(pub_client_->connection(), timeout_ms);
  }

  void Close() override {
    sub_.reset();
    pub_client_.reset();
    sub_client_.reset();
  }

 private:
  std::string urls_;
  std::string prefix_;
  std::vector<std::string> subjects_;
  OnReceive on_receive_;
  std::unique_ptr<NatsClient> sub_client_, pub_client_;
  Subscription sub_;
};

// ---------------------------------------------------------------- JetStream

class JetStreamBackend : public Backend {
 public:
  JetStreamBackend(std::string urls, int replicas, std::string sync_interval, std::string label,
                   bool durable_pull)
      : urls_(std::move(urls)),
        replicas_(replicas),
        sync_interval_(std::move(sync_interval)),
        label_(label.empty() ? "jetstream-r" + std::to_string(replicas_) : std::move(label)),
        durable_pull_(durable_pull) {}
  ~JetStreamBackend() override { Close(); }

  std::string Label() const override { return label_; }
  std::string Durability() const override {
    return "R" + std::to_string(replicas_) +
           ", file storage: " + JetStreamAckMeaning(replicas_, sync_interval_);
  }
  bool HasAcks() const override { return true; }
  std::string Consumer() const override {
    if (durable_pull_) {
      return "a durable pull consumer, explicit acks, one ack per message (as pricing run "
             "reads): batches of 256, 50 ms expiry";
    }
    return "an ordered push consumer: ephemeral, no acknowledgements";
  }
  std::string Leader() const override {
    if (!pub_client_ || stream_.empty()) return "";
    try {
      return GetStreamState(pub_client_->js(), stream_).leader;
    } catch (const std::exception&) {
      return "";
    }
  }

  void Open(const CellSpec& cell, OnReceive on_receive, OnAck on_ack) override {
    on_receive_ = std::move(on_receive);
    on_ack_ = std::move(on_ack);
    const std::string id = RunId();
    stream_ = "PERF_" + id;
    prefix_ = "perf.js." + id + ".";
    NatsSettings pub = SettingsFor(urls_, "perf-js-pub", cell.profile);
    pub.ack_handler = &JetStreamBackend::OnPubAck;
    pub.ack_handler_closure = this;
    pub.publish_max_pending = 4096;
    pub_client_ = NatsClient::Connect(pub, 30000);
    sub_client_ = NatsClient::Connect(SettingsFor(urls_, "perf-js-sub", cell.profile), 30000);
    pub_client_->WaitForJetStream(30000);

    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = stream_.c_str();
    const std::string subjects = prefix_ + "*";
    const char* subject_list[] = {subjects.c_str()};
    sc.Subjects = subject_list;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = replicas_;
    // A bench stream: bounded, so a long sweep cannot fill the disk.
    sc.MaxBytes = int64_t{2} << 30;
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    // A forming cluster may answer "no suitable peers" for a while.
    natsStatus s = NATS_OK;
    for (int attempt = 0; attempt < 60; ++attempt) {
      s = js_AddStream(&si, pub_client_->js(), &sc, nullptr, &jerr);
      if (s == NATS_OK || !IsRetryable(s, jerr)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    CheckNats(s, "creating stream " + stream_, jerr);
    jsStreamInfo_Destroy(si);

    if (durable_pull_) {
      OpenDurablePull(cell);
      return;
    }
    // An ordered push consumer: the stream's messages in order, no acks to send back,
    // flow control by the library.
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream_.c_str();
    so.Ordered = true;
    natsSubscription* raw = nullptr;
    CheckNats(js_Subscribe(&raw, sub_client_->js(), subjects.c_str(), &DeliverToReceiver,
                           &on_receive_, nullptr, &so, &jerr),
              "subscribing to stream " + stream_, jerr);
    sub_ = Subscription(sub_client_->connection(), raw);
    natsSubscription_SetPendingLimits(sub_.get(), -1, -1);
    natsConnection_FlushTimeout(sub_client_->connection(), 5000);
    subjects_.clear();
    for (int p = 0; p < cell.partitions; ++p) subjects_.push_back(prefix_ + std::to_string(p));
  }

  bool Send(int partition, const std::string& payload) override {
    natsMsg* msg = nullptr;
    if (natsMsg_Create(&msg, subjects_[static_cast<std::size_t>(partition)].c_str(), nullptr,
                       payload.data(), static_cast<int>(payload.size())) != NATS_OK)
      return false;
    jsPubOptions opts;
    jsPubOptions_Init(&opts);
    opts.MaxWait = 10000;  // a lost PubAck is reported as failed after 10 s, not never
    while (true) {
      natsMsg* m = msg;
      const natsStatus s = js_PublishMsgAsync(pub_client_->js(), &m, &opts);
      if (s == NATS_OK) return true;  // the ack handler owns it now
      // The window of 4,096 unacknowledged publishes is full: it returned without
      // sending, so wait for room (the schedule's lag shows in the latency).
      if (s == NATS_TIMEOUT) continue;
      natsMsg_Destroy(msg);
      return false;
    }
  }

  void Flush(int64_t timeout_ms) override {
    jsPubOptions opts;
    jsPubOptions_Init(&opts);
    opts.MaxWait = timeout_ms;
    js_PublishAsyncComplete(pub_client_->js(), &opts);
  }

  void Close() override {
    stop_ = true;
    if (reader_.joinable()) reader_.join();
    puller_.reset();
    sub_.reset();
    if (pub_client_ && !stream_.empty()) {
      jsErrCode jerr = static_cast<jsErrCode>(0);
      js_DeleteStream(pub_client_->js(), stream_.c_str(), nullptr, &jerr);
    }
    pub_client_.reset();
    sub_client_.reset();
  }

 private:
  // A durable with explicit acks, pulled and acknowledged one message at a time on a
  // thread of its own, as `pricing run` reads LOCATION_EVENTS.
  void OpenDurablePull(const CellSpec& cell) {
    const std::string durable = "perf-pull";
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream_.c_str();
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.AckWait = int64_t{30} * 1'000'000'000;
    so.Config.MaxAckPending = 20000;
    natsSubscription* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    CheckNats(js_PullSubscribe(&raw, sub_client_->js(), (prefix_ + "*").c_str(), durable.c_str(),
                               nullptr, &so, &jerr),
              "creating durable pull consumer on " + stream_, jerr);
    sub_ = Subscription(sub_client_->connection(), raw);
    puller_ = std::make_unique<PullConsumer>(sub_client_->connection(), stream_, durable);
    subjects_.clear();
    for (int p = 0; p < cell.partitions; ++p) subjects_.push_back(prefix_ + std::to_string(p));
    stop_ = false;
    reader_ = std::thread([this] {
      natsConnection* conn = sub_client_->connection();
      while (!stop_) {
        puller_->FetchEach(256, 50, [&](NatsPtr<natsMsg>& m) {
          const int64_t now = MonoNowNs();
          on_receive_(natsMsg_GetData(m.get()),
                      static_cast<std::size_t>(natsMsg_GetDataLength(m.get())), now);
          PullConsumer::Ack(conn, m.get());
        });
      }
    });
  }

  static void OnPubAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr*, void* closure) {
    const int64_t now = MonoNowNs();
    auto* self = static_cast<JetStreamBackend*>(closure);
    self->on_ack_(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)), now,
                  pa != nullptr);
    natsMsg_Destroy(msg);
  }

  std::string urls_;
  int replicas_;
  std::string sync_interval_;
  std::string label_;
  bool durable_pull_;
  std::string stream_, prefix_;
  std::vector<std::string> subjects_;
  OnReceive on_receive_;
  OnAck on_ack_;
  std::unique_ptr<NatsClient> pub_client_, sub_client_;
  Subscription sub_;
  std::unique_ptr<PullConsumer> puller_;
  std::atomic<bool> stop_{false};
  std::thread reader_;
};

}  // namespace

std::unique_ptr<Backend> MakeNatsCoreBackend(const std::string& urls) {
  return std::make_unique<NatsCoreBackend>(urls);
}

std::unique_ptr<Backend> MakeJetStreamBackend(const std::string& urls, int replicas,
                                              const std::string& sync_interval,
                                              const std::string& label, bool durable_pull) {
  return std::make_unique<JetStreamBackend>(urls, replicas, sync_interval, label, durable_pull);
}

}  // namespace pricing::perf
