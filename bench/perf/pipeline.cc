#include "perf/pipeline.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "config/config.h"
#include "engine/city_engine.h"
#include "http_get.h"
#include "perf/schedule.h"
#include "prometheus_text.h"
#include "sim/simulator.h"
#include "transport/js_publisher.h"
#include "transport/kafka_handles.h"
#include "transport/nats_client.h"

namespace pricing::perf {
namespace {

constexpr int64_t kIntervalMs = 1000;
constexpr int64_t kLatenessMs = 200;
constexpr const char* kCity = "nyc";

int64_t WallNowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// A port the kernel just handed out and took back: free for the processor to bind.
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("pipeline: no free port");
  ::close(fd);
  return ntohs(addr.sin_port);
}

int64_t TickOf(const void* data, std::size_t len) {
  const std::string_view p(static_cast<const char*>(data), len);
  const std::size_t at = p.find("\"tick\":");
  if (at == std::string_view::npos) return -1;
  return std::strtoll(std::string(p.substr(at + 7, 20)).c_str(), nullptr, 10);
}

// The sum of a counter family's series in the processor's /metrics.
double CounterTotal(int port, const std::string& family) {
  return test::MetricSum(test::HttpGet(port, "/metrics").body, family);
}

// Where events go and where pricing updates come from, per backend.
class PipelineIo {
 public:
  virtual ~PipelineIo() = default;
  virtual void Send(const Simulator::Event& ev) = 0;
  virtual void Pump() = 0;
  virtual uint64_t errors() const = 0;
};

class NatsIo : public PipelineIo {
 public:
  NatsIo(const std::string& urls, std::function<void(const void*, std::size_t)> on_update)
      : on_update_(std::move(on_update)), publisher_(5000) {
    NatsSettings s;
    s.urls = urls;
    s.name = "perf-pipeline";
    s.auth = NatsAuthFromEnvironment();
    s.ack_handler = &JsPublisher::AckHandler;
    s.ack_handler_closure = &publisher_;
    client_ = NatsClient::Connect(s, 30000);
    client_->WaitForJetStream(30000);
    publisher_.Attach(client_->js());
    natsSubscription* raw = nullptr;
    const std::string subject = std::string("pricing.update.") + kCity + ".>";
    CheckNats(natsConnection_Subscribe(&raw, client_->connection(), subject.c_str(), &NatsIo::OnMsg,
                                       this),
              "subscribing to " + subject);
    sub_ = Subscription(client_->connection(), raw);
    natsSubscription_SetPendingLimits(sub_.get(), -1, -1);
  }
  ~NatsIo() override {
    publisher_.Flush(5000);
    sub_.reset();
  }
  // Events of earlier runs would be a backlog for this run's new durable.
  void Purge() {
    jsErrCode jerr = static_cast<jsErrCode>(0);
    js_PurgeStream(client_->js(), "LOCATION_EVENTS", nullptr, &jerr);
  }
  void Send(const Simulator::Event& ev) override {
    publisher_.Publish(ev.subject, ev.msg_id, ev.payload);
  }
  void Pump() override { publisher_.Pump(); }
  uint64_t errors() const override { return publisher_.stats().failed; }

 private:
  static void OnMsg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<NatsIo*>(closure);
    self->on_update_(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    natsMsg_Destroy(msg);
  }
  std::function<void(const void*, std::size_t)> on_update_;
  JsPublisher publisher_;
  std::unique_ptr<NatsClient> client_;
  Subscription sub_;
};

class KafkaIo : public PipelineIo {
 public:
  KafkaIo(const Endpoints& e, const std::string& group,
          std::function<void(const void*, std::size_t)> on_update)
      : on_update_(std::move(on_update)) {
    KafkaConf pc;
    pc.Set("bootstrap.servers", e.kafka_brokers)
        .Set("enable.idempotence", "true")
        .Set("linger.ms", "0")
        .Set("socket.nagle.disable", "true");
    rd_kafka_conf_set_dr_msg_cb(pc.get(), &KafkaIo::OnDelivery);
    rd_kafka_conf_set_opaque(pc.get(), this);
    producer_ = pc.Client(RD_KAFKA_PRODUCER);
    KafkaConf cc;
    cc.Set("bootstrap.servers", e.kafka_brokers)
        .Set("group.id", group)
        .Set("auto.offset.reset", "latest")
        .Set("fetch.wait.max.ms", "5")
        .Set("socket.nagle.disable", "true");
    consumer_ = cc.Client(RD_KAFKA_CONSUMER);
    rd_kafka_poll_set_consumer(consumer_.get());
    rd_kafka_topic_partition_list_t* t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, "pricing-updates", RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(consumer_.get(), t);
    rd_kafka_topic_partition_list_destroy(t);
    reader_ = std::thread([this] {
      while (!stop_) {
        KafkaPtr<rd_kafka_message_t> m(rd_kafka_consumer_poll(consumer_.get(), 50));
        if (m && m->err == RD_KAFKA_RESP_ERR_NO_ERROR) on_update_(m->payload, m->len);
      }
    });
  }
  ~KafkaIo() override {
    rd_kafka_flush(producer_.get(), 5000);
    stop_ = true;
    reader_.join();
    rd_kafka_consumer_close(consumer_.get());
  }
  void Send(const Simulator::Event& ev) override {
    while (true) {
      rd_kafka_headers_t* h = rd_kafka_headers_new(1);
      rd_kafka_header_add(h, "subject", -1, ev.subject.data(),
                          static_cast<ssize_t>(ev.subject.size()));
      const rd_kafka_resp_err_t err = rd_kafka_producev(
          producer_.get(), RD_KAFKA_V_TOPIC("location-events"), RD_KAFKA_V_KEY(kCity, 3),
          RD_KAFKA_V_VALUE(const_cast<char*>(ev.payload.data()), ev.payload.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
      rd_kafka_headers_destroy(h);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        ++errors_;
        return;
      }
      rd_kafka_poll(producer_.get(), 1);
    }
  }
  void Pump() override { rd_kafka_poll(producer_.get(), 0); }
  uint64_t errors() const override { return errors_.load(); }

 private:
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++static_cast<KafkaIo*>(opaque)->errors_;
  }
  std::function<void(const void*, std::size_t)> on_update_;
  KafkaPtr<rd_kafka_t> producer_, consumer_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> errors_{0};
  std::thread reader_;
};

void CreateKafkaTopics(const Endpoints& e) {
  static std::set<std::string> created;  // once per cluster and harness run
  if (created.count(e.kafka_brokers)) return;
  KafkaConf conf;
  conf.Set("bootstrap.servers", e.kafka_brokers);
  auto admin = conf.Client(RD_KAFKA_PRODUCER);
  for (const char* topic :
       {"location-events", "pricing-updates", "websocket-events", "analytics-events",
        "config-updates", "dead-letters", "pricing-state", "pricing-leases"}) {
    std::string err = e.kafka_create_topic
                          ? e.kafka_create_topic(topic, 1, e.kafka_replication)
                          : KafkaAdminTopic(admin.get(), topic, 1, e.kafka_replication, true);
    if (!err.empty() && err.find("exists") == std::string::npos)
      throw std::runtime_error(std::string("pipeline: creating topic ") + topic + ": " + err);
  }
  created.insert(e.kafka_brokers);
}

}  // namespace

PipelineResult RunPipeline(const PipelineOptions& o, const PipelineSpec& spec) {
  static std::atomic<int> runs{0};
  const std::string id = std::to_string(::getpid()) + "-" + std::to_string(runs++);
  const bool kafka = spec.backend == "kafka";
  if (!kafka && spec.backend != "jetstream-r3")
    throw std::runtime_error("pipeline: backend must be jetstream-r3 or kafka");
  PipelineResult r;
  r.spec = spec;
  r.interval_ms = kIntervalMs;
  r.lateness_ms = kLatenessMs;
  r.label = kafka ? (o.endpoints.kafka_is_mock ? "kafka-mock (in-memory, no replication)" : "kafka")
                  : "jetstream-r3";
  r.durability = kafka ? "processor's producer: idempotent, acks=all; events produced with acks=all"
                       : "R3 file storage, events and updates: " +
                             JetStreamAckMeaning(3, o.endpoints.nats_sync_interval);

  // Attribution of events to the first update of the tick that counts them.
  std::mutex mu;
  std::deque<std::pair<int64_t, int64_t>> pending;  // (ts ms, intended mono ns), by ts
  int64_t last_tick = 0;
  bool measuring = false, saw_update = false;
  int64_t measure_start_ms = 0;
  uint64_t first_measured_index = 0;
  auto on_update = [&](const void* data, std::size_t len) {
    const int64_t tick = TickOf(data, len);
    const int64_t mono = MonoNowNs(), wall = WallNowNs();
    std::lock_guard<std::mutex> lock(mu);
    saw_update = true;
    if (tick <= last_tick) return;
    last_tick = tick;
    // Only ticks that close after the measured run began: a processor that restored an
    // older checkpoint publishes the ticks it missed first.
    if (!measuring || tick < measure_start_ms) return;
    ++r.ticks;
    r.close_to_update.Record(wall - (tick + kLatenessMs) * 1'000'000);
    while (!pending.empty() && pending.front().first < tick) {
      if (pending.front().second != 0) r.event_to_update.Record(mono - pending.front().second);
      pending.pop_front();
    }
  };

  // The processor's configuration for this run.
  const int http_port = FreePort();
  const std::string config_path = o.work_dir + "/pipeline-" + id + ".yaml";
  {
    std::ofstream c(config_path);
    c << "window_seconds: 30\ninterval_seconds: " << kIntervalMs / 1000
      << "\nallowed_lateness_ms: " << kLatenessMs << "\nnats_url: " << o.endpoints.nats_urls
      << "\nbackend: " << (kafka ? "kafka" : "nats") << "\n";
    if (kafka) {
      c << "kafka: {brokers: \"" << o.endpoints.kafka_brokers << "\", group_id: pipeline-" << id
        << ", fetch_wait_max_ms: 5}\n";
    }
    c << "consumer: {durable: pipeline-" << id << "}\n"
      << "http: {bind: 127.0.0.1, port: " << http_port << ", zone_metrics: false}\n"
      << "gateway: {enabled: false}\n"
      << "cities:\n  " << kCity << ":\n    zones: " << o.zones << "\n";
  }
  std::unique_ptr<PipelineIo> io;
  if (kafka) {
    CreateKafkaTopics(o.endpoints);
    io = std::make_unique<KafkaIo>(o.endpoints, "pipeline-watch-" + id, on_update);
  } else {
    auto nats = std::make_unique<NatsIo>(o.endpoints.nats_urls, on_update);
    nats->Purge();
    io = std::move(nats);
  }

  const pid_t pid = fork();
  if (pid == 0) {
    const std::string log = o.work_dir + "/pipeline-" + id + ".log";
    if (FILE* f = std::fopen(log.c_str(), "w")) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    execl(o.pricing_bin.c_str(), o.pricing_bin.c_str(), "run", "--config", config_path.c_str(),
          nullptr);
    _exit(127);
  }
  auto stop_processor = [&] {
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
  };

  SimulatorOptions so;
  so.city = kCity;
  so.drivers = 20000;
  CityConfig city;
  city.key = kCity;
  city.zones_path = o.zones;
  SystemClock clock;
  Simulator sim(so, CityZones::Load(city), clock);

  // Probes until the first update comes back: the processor is consuming and
  // producing, and we are receiving.
  const int64_t probe_deadline = MonoNowNs() + 60'000'000'000;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (saw_update) break;
    }
    if (MonoNowNs() > probe_deadline) {
      stop_processor();
      throw std::runtime_error("pipeline: no pricing update within 60 s (processor log in " +
                               o.work_dir + ")");
    }
    io->Send(sim.Next(WallNowNs() / 1'000'000));
    io->Pump();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  // The measured run: open loop, warm-up first.
  const auto planned =
      static_cast<uint64_t>(std::llround((spec.warmup_seconds + spec.seconds) * spec.rate));
  first_measured_index = static_cast<uint64_t>(std::llround(spec.warmup_seconds * spec.rate));
  const OpenLoopSchedule schedule(MonoNowNs() + 10'000'000, spec.rate);
  {
    std::lock_guard<std::mutex> lock(mu);
    measuring = true;
    measure_start_ms = WallNowNs() / 1'000'000;
  }
  int64_t first_send = 0, last_send = 0;
  uint64_t i = 0;
  while (i < planned) {
    const uint64_t due = std::min<uint64_t>(planned, schedule.DueBy(MonoNowNs()));
    if (i >= due) {
      io->Pump();
      const int64_t next = schedule.IntendedNs(i);
      timespec ts{static_cast<time_t>(next / 1'000'000'000),
                  static_cast<long>(next % 1'000'000'000)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
      continue;
    }
    for (; i < due; ++i) {
      const Simulator::Event ev = sim.Next(WallNowNs() / 1'000'000);
      const int64_t ts_ms =
          std::strtoll(ev.payload.substr(ev.payload.rfind("\"ts\":") + 5).c_str(), nullptr, 10);
      {
        std::lock_guard<std::mutex> lock(mu);
        pending.emplace_back(ts_ms, i >= first_measured_index ? schedule.IntendedNs(i) : 0);
      }
      io->Send(ev);
      ++r.sent;
      last_send = MonoNowNs();
      if (i == first_measured_index) first_send = last_send;
      if (i % 256 == 0) io->Pump();
    }
  }
  if (last_send > first_send && planned > first_measured_index + 1)
    r.send_rate = static_cast<double>(planned - first_measured_index - 1) /
                  (static_cast<double>(last_send - first_send) / 1e9);

  // Every event's tick closes within an interval and the lateness; allow for more.
  const int64_t until = MonoNowNs() + (kIntervalMs + kLatenessMs + 5000) * 1'000'000;
  while (MonoNowNs() < until) {
    io->Pump();
    {
      std::lock_guard<std::mutex> lock(mu);
      if (pending.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Events stored after their tick closed are read (and refused as late) afterwards.
  for (int i = 0; i < 250; ++i) {
    r.processor_read = static_cast<uint64_t>(CounterTotal(http_port, "pricing_events_read_total"));
    if (r.processor_read >= r.sent) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  r.processor_rejected =
      static_cast<uint64_t>(CounterTotal(http_port, "pricing_events_rejected_total"));
  r.send_errors = io->errors();
  stop_processor();
  io.reset();
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& [ts, intended] : pending)
    if (intended != 0) ++r.unattributed;
  std::string why;
  if (r.send_errors) why += "send errors; ";
  if (r.unattributed) why += std::to_string(r.unattributed) + " events never priced; ";
  if (r.processor_read < r.sent) why += "the processor read fewer events than were sent; ";
  if (r.processor_rejected > 0)
    why += std::to_string(r.processor_rejected) +
           " events refused (late: stored after their tick closed); ";
  if (r.close_to_update.ValueAtPercentile(99) > 1'000'000'000)
    why += "updates over 1 s after close; ";
  // An event waits at most an interval and the lateness for its tick to close; a
  // backlog shows as more.
  const int64_t priced_limit_ns = (kIntervalMs + kLatenessMs + 1000) * 1'000'000;
  if (r.event_to_update.ValueAtPercentile(99) > priced_limit_ns) {
    why += "events priced over " + std::to_string(priced_limit_ns / 1'000'000) +
           " ms after they were due (the pipeline fell behind); ";
  }
  r.sustainable = why.empty();
  r.verdict = r.sustainable ? "sustained" : why.substr(0, why.size() - 2);
  return r;
}

}  // namespace pricing::perf
