// The commands that talk to a NATS cluster: run, simulate, streams, consumer.
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include "app/commands.h"
#include "app/flags.h"
#include "common/clock.h"
#include "common/exec_again.h"
#include "common/json_writer.h"
#include "common/log.h"
#include "common/time_format.h"
#include "config/config.h"
#include "engine/config_update.h"
#include "gateway/gateway.h"
#include "http/http_server.h"
#include "kafka/kafka_processor.h"
#include "live/live_processor.h"
#include "sim/kafka_event_sink.h"
#include "sim/simulator.h"
#include "transport/kafka_admin.h"
#include "transport/kafka_handles.h"
#include "transport/nats_client.h"
#include "transport/pull_consumer.h"
#include "transport/stream_admin.h"

namespace pricing {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

// A command's NATS connection: the configuration's cluster, credentials and connect
// wait, given up at once on SIGINT/SIGTERM.
NatsSettings CommandNatsSettings(const Config& config, const std::string& name) {
  NatsSettings settings;
  settings.urls = config.nats_url;
  settings.auth = config.nats_auth;
  settings.name = name;
  settings.connect_wait_ms = config.nats_connect_wait_seconds * 1000;
  settings.stop = &g_stop;
  return settings;
}

std::unique_ptr<NatsClient> ConnectAdmin(const Config& config) {
  auto client = NatsClient::Connect(CommandNatsSettings(config, "pricing-admin"));
  client->WaitForJetStream(30000);
  return client;
}

// What /metrics answers: the text exposition format.
HttpServer::Response ScrapeResponse(Metrics& metrics) {
  return {200, "text/plain; version=0.0.4; charset=utf-8", metrics.Scrape()};
}

}  // namespace

const std::atomic<bool>& StopRequested() { return g_stop; }

void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

namespace {

// What the processor stored, in the stop line's words.
uint64_t Stored(const LiveProcessor& p) { return p.publisher().stats().acked; }
uint64_t Stored(const KafkaProcessor& p) { return p.produced(); }

// `pricing run`, whatever the backend: the operational endpoints, the WebSocket
// gateway (following the backend's output streams or topics), the processing loop.
template <typename Processor>
int RunProcessor(const Config& config) {
  SystemClock clock;
  Processor processor(config, clock);
  // Before the server: sessions still queued on its threads refer to the gateway.
  std::unique_ptr<SurgeGateway> gateway;
  if (config.gateway.enabled) gateway = std::make_unique<SurgeGateway>(config, processor.metrics());
  // Operational endpoints first: probes can tell "starting" from "dead".
  HttpServer http(config.http.bind, static_cast<uint16_t>(config.http.port));
  http.Handle("/metrics",
              [&](const HttpServer::Request&) { return ScrapeResponse(processor.metrics()); });
  http.Handle("/healthz", [&](const HttpServer::Request&) {
    const bool alive = processor.alive();
    return HttpServer::Response{
        alive ? 200u : 503u, "application/json",
        alive ? std::string(R"({"alive":true})")
              : R"({"alive":false,"detail":"processing loop stalled for over )" +
                    std::to_string(Processor::kStallSeconds) + R"( s"})"};
  });
  http.Handle("/readyz", [&](const HttpServer::Request&) {
    const Readiness r = processor.readiness();
    return HttpServer::Response{r.ready ? 200u : 503u, "application/json", r.ToJson()};
  });
  if (gateway) gateway->AddRoutes(http);
  http.Start(2);
  PRICING_LOG(kInfo) << "http: /metrics, /healthz, /readyz" << (gateway ? ", /ws, /map" : "")
                     << " on " << config.http.bind << ":" << http.port() << " (backend "
                     << config.backend << ")";
  if (gateway) gateway->Start();
  processor.Run(StopRequested());
  if constexpr (requires { processor.demoted(); }) {
    if (processor.demoted()) {
      // Another processor took over while this one was frozen or cut off: its state
      // is stale. Started again in this process, it stands by.
      PRICING_LOG(kWarn) << "starting again as a standby";
      ExecAgain();
      PRICING_LOG(kError) << "cannot start again: " << std::strerror(errno) << "; exiting";
      return 1;
    }
  }
  if (gateway) gateway->Stop();
  const OperatorCounters& c = processor.counters();
  PRICING_LOG(kInfo) << "stopped: " << c.applied.load() << " events applied, "
                     << c.rejected.load() + c.poison.load() << " dead-lettered, " << c.ticks.load()
                     << " ticks, " << Stored(processor) << " messages stored";
  return 0;
}

}  // namespace

int RunLiveCommand(const std::vector<std::string>& args) {
  const Flags flags(args, {"config", "log-level", "http-port", "stage", "partition"});
  if (flags.Get("log-level") == "debug") SetLogLevel(LogLevel::kDebug);
  Config config = LoadConfig(flags.Require("config"));
  // Partitioned pricing: which stage this process runs (config key partitions).
  const std::string stage = flags.Get("stage").value_or("whole");
  if (stage == "count") {
    config.stage = PricingStage::kCount;
    if (!flags.Get("partition")) throw UsageError("--stage count needs --partition P");
    config.partition = flags.GetInt("partition", 0);
    if (config.partition < 0 || config.partition >= config.partitions) {
      throw UsageError("--partition must be 0 to " + std::to_string(config.partitions - 1) + " (" +
                       config.source.string() +
                       " has partitions: " + std::to_string(config.partitions) + ")");
    }
  } else if (stage == "price") {
    config.stage = PricingStage::kPrice;
  } else if (stage != "whole") {
    throw UsageError("--stage '" + stage + "' is not allowed; must be whole, count or price");
  }
  if (config.stage != PricingStage::kCount && flags.Get("partition")) {
    throw UsageError("--partition goes with --stage count");
  }
  // A second processor on the same machine (a standby) needs a port of its own.
  if (flags.Get("http-port")) {
    const int64_t port = flags.GetInt("http-port", config.http.port);
    if (port < 0 || port > 65535)
      throw UsageError("--http-port must be 0 (any free port) to 65535");
    config.http.port = port;
  }
  // First: a SIGTERM while starting ends the run cleanly instead of killing it.
  InstallStopHandlers();
  if (config.backend == "kafka") return RunProcessor<KafkaProcessor>(config);
  return RunProcessor<LiveProcessor>(config);
}

int RunGatewayCommand(const std::vector<std::string>& args) {
  const Flags flags(args, {"config", "port", "log-level"});
  if (flags.Get("log-level") == "debug") SetLogLevel(LogLevel::kDebug);
  const Config config = LoadConfig(flags.Require("config"));
  InstallStopHandlers();
  const int64_t port = flags.GetInt("port", config.http.port);
  if (port < 0 || port > 65535) throw UsageError("--port must be 0 (any free port) to 65535");
  MetricsOptions mo;
  mo.zone_series = false;  // the processor exports those; a gateway has only its own
  Metrics metrics(mo);
  SurgeGateway gateway(config, metrics);
  HttpServer http(config.http.bind, static_cast<uint16_t>(port));
  gateway.AddRoutes(http);
  http.Handle("/metrics", [&](const HttpServer::Request&) { return ScrapeResponse(metrics); });
  http.Handle("/healthz", [](const HttpServer::Request&) {
    return HttpServer::Response{200, "application/json", R"({"alive":true})"};
  });
  http.Handle("/readyz", [&](const HttpServer::Request&) {
    const bool ready = gateway.subscribed();
    return HttpServer::Response{ready ? 200u : 503u, "application/json",
                                std::string(R"({"ready":)") + (ready ? "true" : "false") +
                                    R"(,"clients":)" + std::to_string(gateway.clients()) + "}"};
  });
  http.Start(2);
  gateway.Start();
  PRICING_LOG(kInfo) << "gateway: /ws, /map, /metrics, /healthz, /readyz on " << config.http.bind
                     << ":" << http.port();
  while (!StopRequested().load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  gateway.Stop();
  PRICING_LOG(kInfo) << "gateway: stopped";
  return 0;
}

int RunSimulateCommand(const std::vector<std::string>& args) {
  const Flags flags(args,
                    {"config", "city", "rate", "duration", "drivers", "request-share", "hotspots",
                     "seed", "pickups", "acked-log"},
                    {"id-subjects"});
  const Config config = LoadConfig(flags.Require("config"));
  SimulatorOptions o;
  o.city = flags.Get("city").value_or(config.cities.begin()->first);
  const auto city = config.cities.find(o.city);
  if (city == config.cities.end())
    throw UsageError("--city '" + o.city + "' is not in the configuration");
  o.rate = std::stod(flags.Get("rate").value_or("1000"));
  o.duration_s = std::stod(flags.Get("duration").value_or("60"));
  o.drivers = flags.GetInt("drivers", 5000);
  o.request_share = std::stod(flags.Get("request-share").value_or("0.2"));
  o.hotspots = static_cast<int>(flags.GetInt("hotspots", 6));
  o.seed = static_cast<uint64_t>(flags.GetInt("seed", 1));
  o.acked_log = flags.Get("acked-log").value_or("");
  o.id_subjects = flags.Has("id-subjects");
  if (auto csv = flags.Get("pickups")) o.pickups = ReadUberPickups(*csv);
  if (o.rate <= 0 || o.drivers <= 0 || o.request_share < 0 || o.request_share > 1) {
    throw UsageError("--rate and --drivers must be > 0 and --request-share within [0, 1]");
  }
  InstallStopHandlers();  // before the slow parts: a stop while starting is clean too
  SystemClock clock;
  Simulator sim(o, CityZones::Load(city->second), clock);
  SimulatorReport r;
  if (config.backend == "kafka") {
    KafkaEventSink sink(config);
    r = sim.Run(sink, StopRequested());
  } else {
    JsPublisher publisher(config.publish.ack_wait_ms);
    NatsSettings settings = CommandNatsSettings(config, "pricing-simulator");
    settings.publish_max_pending = config.publish.max_pending;
    settings.ack_handler = &JsPublisher::AckHandler;
    settings.ack_handler_closure = &publisher;
    auto client = NatsClient::Connect(settings);
    publisher.Attach(client->js());
    JsEventSink sink(publisher);
    r = sim.Run(sink, StopRequested());
  }
  std::printf(
      "simulate: sent %llu events in %.1f s (%.0f/s achieved of %.0f/s asked), %llu acknowledged, "
      "%llu "
      "publish errors, %llu retries, worst lag behind schedule %.1f ms\n",
      static_cast<unsigned long long>(r.sent), r.seconds, r.achieved_rate, o.rate,
      static_cast<unsigned long long>(r.acked), static_cast<unsigned long long>(r.errors),
      static_cast<unsigned long long>(r.retries), r.max_lag_ms);
  return r.acked == r.sent ? 0 : 1;
}

// `pricing streams apply|info` on a kafka backend: the topics instead of the streams.
int RunKafkaTopicsCommand(const std::string& verb, const Config& config) {
  KafkaConf conf;
  conf.Set("bootstrap.servers", config.kafka.brokers).Set("client.id", "pricing-admin");
  auto admin = conf.Client(RD_KAFKA_PRODUCER);
  const std::vector<TopicSpec> specs = KafkaTopicSpecs(config);
  if (verb == "apply") {
    for (const auto& r : ApplyKafkaTopics(admin.get(), specs, 30000)) {
      std::cout << r.name << ": " << ToString(r.action) << "\n";
      for (const auto& c : r.changes) std::cout << "  " << c << "\n";
    }
    return 0;
  }
  std::printf("%-18s %10s %11s %12s\n", "topic", "partitions", "replication", "messages");
  for (const TopicSpec& spec : specs) {
    const KafkaTopicState st = GetKafkaTopicState(admin.get(), spec.name);
    if (st.partitions == 0) {
      std::printf("%-18s %10s\n", spec.name.c_str(), "missing");
      continue;
    }
    std::printf("%-18s %10d %11d %12llu\n", spec.name.c_str(), st.partitions, st.replication,
                static_cast<unsigned long long>(st.messages));
  }
  return 0;
}

int RunStreamsCommand(const std::vector<std::string>& args) {
  if (args.empty() || (args[0] != "apply" && args[0] != "info")) {
    throw UsageError("usage: pricing streams apply|info --config FILE");
  }
  const Flags flags({args.begin() + 1, args.end()}, {"config"});
  const Config config = LoadConfig(flags.Require("config"));
  if (config.backend == "kafka") return RunKafkaTopicsCommand(args[0], config);
  auto client = ConnectAdmin(config);
  if (args[0] == "apply") {
    for (const auto& r : ApplyStreamsWhenReady(client->connection(), config.streams, 30000)) {
      const std::string_view action = ToString(r.action);
      std::cout << r.name << ": " << action << "\n";
      for (const auto& c : r.changes) std::cout << "  " << c << "\n";
    }
    return 0;
  }
  std::printf("%-18s %-14s %8s %12s %12s  %-10s %s\n", "stream", "subjects", "replicas", "messages",
              "bytes", "leader", "replicas state");
  for (const auto& s : config.streams) {
    const StreamState st = GetStreamState(client->js(), s.name);
    std::string subjects, peers;
    for (const auto& x : st.subjects) subjects += (subjects.empty() ? "" : ",") + x;
    for (const auto& x : st.replicas_status) peers += (peers.empty() ? "" : "; ") + x;
    std::printf("%-18s %-14s %8lld %12llu %12llu  %-10s %s\n", st.name.c_str(), subjects.c_str(),
                static_cast<long long>(st.replicas), static_cast<unsigned long long>(st.messages),
                static_cast<unsigned long long>(st.bytes), st.leader.c_str(), peers.c_str());
  }
  return 0;
}

int RunConfigCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "send")
    throw UsageError(
        "usage: pricing config send --config FILE --city C (--document JSON | --file F)");
  const Flags flags({args.begin() + 1, args.end()},
                    {"config", "city", "document", "file", "timeout"});
  const Config config = LoadConfig(flags.Require("config"));
  if (config.backend != "nats") {
    throw UsageError(
        "config send speaks to the NATS backend; on Kafka, produce the document to "
        "topic config-updates with header subject=config.pricing.<city>");
  }
  const std::string key = flags.Require("city");
  const auto city = config.cities.find(key);
  if (city == config.cities.end())
    throw UsageError("--city '" + key + "' is not a city of " + config.source.string());
  std::string document;
  if (auto text = flags.Get("document")) {
    document = *text;
  } else if (auto path = flags.Get("file")) {
    std::ifstream in(*path);
    if (!in) throw UsageError("cannot read --file '" + *path + "'");
    document.assign(std::istreambuf_iterator<char>(in), {});
  } else {
    throw UsageError("give the document with --document JSON or --file F");
  }
  const int64_t timeout_ms = flags.GetInt("timeout", 15) * 1000;
  const auto zones = CityZones::Load(city->second);
  InstallStopHandlers();
  auto client = ConnectAdmin(config);

  // What is in force: the configuration file's parameters, then every document of the
  // city that the processor would have accepted, in stream order (as it does on start).
  ModelParams params = city->second.model;
  std::map<std::string, ZoneOverride> overrides = city->second.overrides;
  int64_t version = 0;
  {
    const std::string subject = "config.pricing." + key;
    const Subscription history =
        client->ReadOrdered("CONFIG_UPDATES", subject, 0, "reading the history of " + subject);
    natsMsg* m = nullptr;
    while (natsSubscription_NextMsg(&m, history.get(), 500) == NATS_OK) {
      NatsPtr<natsMsg> msg(m);
      const ConfigUpdate u =
          ParseConfigUpdate(MsgData(msg.get()), params, overrides, version, zones->zones);
      if (u.ok()) params = u.params, overrides = u.overrides, version = u.version;
      if (PullConsumer::MetaOf(msg.get()).pending == 0) break;
    }
  }
  const ConfigUpdate preview =
      ParseConfigUpdate(document, params, overrides, version, zones->zones);
  std::printf("in force for %s: version %lld\n", key.c_str(), static_cast<long long>(version));
  if (preview.ok()) {
    const auto changes = DescribeConfigChanges(params, overrides, preview);
    std::printf("this document (version %lld) changes:%s\n",
                static_cast<long long>(preview.version), changes.empty() ? " nothing" : "");
    for (const auto& c : changes) std::printf("  %s\n", c.c_str());
  } else {
    std::printf("the processor is expected to refuse it: %s\n", preview.error.c_str());
  }

  // The answer comes on config.applied.<city>: listen before sending.
  const std::string answers = "config.applied." + key;
  natsSubscription* raw = nullptr;
  CheckNats(natsConnection_SubscribeSync(&raw, client->connection(), answers.c_str()),
            "subscribing to " + answers);
  Subscription sub(client->connection(), raw);
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsPubAck* ack = nullptr;
  const std::string subject = "config.pricing." + key;
  CheckNats(js_Publish(&ack, client->js(), subject.c_str(), document.data(),
                       static_cast<int>(document.size()), nullptr, &jerr),
            "publishing to " + subject, jerr);
  std::printf("sent to %s (CONFIG_UPDATES seq %llu); waiting for the processor's answer\n",
              subject.c_str(), static_cast<unsigned long long>(ack->Sequence));
  jsPubAck_Destroy(ack);
  const int64_t give_up = SteadyNowMs() + timeout_ms;
  while (!StopRequested().load() && SteadyNowMs() < give_up) {
    natsMsg* m = nullptr;
    if (natsSubscription_NextMsg(&m, sub.get(), 250) != NATS_OK) continue;
    NatsPtr<natsMsg> msg(m);
    const std::string answer(MsgData(msg.get()));
    // Another document's answer (someone else's change) is not ours.
    if (preview.version != 0 &&
        answer.find("\"version\":" + std::to_string(preview.version) + ",") == std::string::npos)
      continue;
    std::printf("%s %s\n", answers.c_str(), answer.c_str());
    return answer.find("\"accepted\":true") != std::string::npos ? 0 : 1;
  }
  std::fprintf(stderr,
               "pricing config: no answer on %s within %lld s: is `pricing run` running for city "
               "%s? The document stays in CONFIG_UPDATES and is applied when it starts.\n",
               answers.c_str(), static_cast<long long>(timeout_ms / 1000), key.c_str());
  return 1;
}

std::string ReadStoredEvents(const Config& config, int64_t since_ms, int64_t until_ms) {
  InstallStopHandlers();
  auto client = ConnectAdmin(config);
  const Subscription sub =
      client->ReadOrdered("LOCATION_EVENTS", "location.>", since_ms, "reading LOCATION_EVENTS");
  std::string out;
  uint64_t count = 0;
  natsMsg* m = nullptr;
  // The first message comes at once when the range holds any; then until the range
  // ends or nothing more is stored.
  for (int64_t wait = 2000;
       !StopRequested().load() && natsSubscription_NextMsg(&m, sub.get(), wait) == NATS_OK;
       wait = 5000) {
    NatsPtr<natsMsg> msg(m);
    const PullConsumer::Meta meta = PullConsumer::MetaOf(m);
    if (meta.timestamp_ms >= until_ms) break;
    JsonWriter w(&out);
    w.BeginObject().Key("subject").String(natsMsg_GetSubject(m));
    w.Key("headers").BeginObject();
    for (const auto& [k, v] : MsgHeaders(m)) w.Key(k).String(v);
    w.EndObject().Key("data").String(MsgData(m)).EndObject();
    out.push_back('\n');
    ++count;
    if (meta.pending == 0) break;
  }
  std::fprintf(stderr, "read %llu events stored from %s to %s in LOCATION_EVENTS\n",
               static_cast<unsigned long long>(count), FormatUtc(since_ms).c_str(),
               FormatUtc(until_ms).c_str());
  return out;
}

int RunConsumerCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "info")
    throw UsageError("usage: pricing consumer info --config FILE");
  const Flags flags({args.begin() + 1, args.end()}, {"config", "durable"});
  const Config config = LoadConfig(flags.Require("config"));
  auto client = ConnectAdmin(config);
  const std::string durable = flags.Get("durable").value_or(config.consumer.durable);
  const ConsumerState c = GetConsumerState(client->js(), "LOCATION_EVENTS", durable);
  std::printf(
      "consumer LOCATION_EVENTS/%s\n  pending (not yet delivered): %llu\n  ack pending: %llu\n"
      "  redelivered: %llu\n  delivered up to stream seq: %llu\n  acknowledged floor: %llu\n"
      "  waiting pull requests: %lld\n",
      c.name.c_str(), static_cast<unsigned long long>(c.num_pending),
      static_cast<unsigned long long>(c.num_ack_pending),
      static_cast<unsigned long long>(c.num_redelivered),
      static_cast<unsigned long long>(c.delivered_stream_seq),
      static_cast<unsigned long long>(c.ack_floor_stream_seq),
      static_cast<long long>(c.num_waiting));
  return 0;
}

}  // namespace pricing

namespace pricing {

int RunWatchCommand(const std::vector<std::string>& args) {
  const Flags flags(args, {"config", "subject", "count"});
  const Config config = LoadConfig(flags.Require("config"));
  const std::string subject = flags.Get("subject").value_or("ws.surge.>");
  const int64_t count = flags.GetInt("count", 0);
  InstallStopHandlers();
  auto client = NatsClient::Connect(CommandNatsSettings(config, "pricing-watch"));
  natsSubscription* raw = nullptr;
  CheckNats(natsConnection_SubscribeSync(&raw, client->connection(), subject.c_str()),
            "subscribing to " + subject);
  Subscription sub(client->connection(), raw);
  std::fprintf(stderr, "watching %s (Ctrl-C to stop)\n", subject.c_str());
  for (int64_t seen = 0; !StopRequested().load() && (count == 0 || seen < count);) {
    natsMsg* m = nullptr;
    if (natsSubscription_NextMsg(&m, sub.get(), 250) != NATS_OK) continue;
    NatsPtr<natsMsg> msg(m);
    std::printf("%s %.*s\n", natsMsg_GetSubject(msg.get()), natsMsg_GetDataLength(msg.get()),
                natsMsg_GetData(msg.get()));
    std::fflush(stdout);
    ++seen;
  }
  return 0;
}

}  // namespace pricing
