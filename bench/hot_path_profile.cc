// The per-event ingest path of `pricing run` on JetStream, for callgrind. The inputs
// are real deliveries: the events are stored in LOCATION_EVENTS on a private
// nats-server (scripts/bench-callgrind.sh starts one) and fetched through a durable
// pull consumer before anything is measured. HotPathEvent() then does what the
// processor does with one delivered event between receiving it and writing its
// acknowledgement to the socket: read its metadata, turn it into an input record, and
// hand it to the pricing operator, which applies it, counts it, keeps what the
// event-to-publish latency needs and answers with its ack. Ticks close between events, outside
// HotPathEvent(), as the events' time passes.
//
//   valgrind --tool=callgrind --toggle-collect='*HotPathEvent*'
//     build/bin/hot_path_profile --config config/nyc.yaml --events FILE --count N
//     --nats-url nats://127.0.0.1:PORT
//
// scripts/bench-callgrind.sh runs it for two counts and prints instructions per event
// (the difference over the difference, so set-up costs cancel).
#include <nats/nats.h>
#include <simdjson.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "engine/pricing_engine.h"
#include "live/live_processor.h"
#include "operator/pricing_operator.h"
#include "transport/nats_client.h"
#include "transport/nats_handles.h"
#include "transport/pull_consumer.h"
#include "transport/stream_admin.h"

namespace pricing {
namespace {

struct Profiled {
  PricingOperator& op;
  std::vector<Action> actions;
  uint64_t acked = 0;
};

// Not inlined: callgrind collects inside this function only. What LiveProcessor does
// with one delivered message, short of writing the ack to the socket.
__attribute__((noinline)) void HotPathEvent(Profiled& p, natsMsg* msg, int64_t now_ms) {
  const PullConsumer::Meta meta = PullConsumer::MetaOf(msg);
  p.op.OnInput(JetStreamRecord(msg, meta), now_ms, &p.actions);
  for (const Action& a : p.actions) p.acked += a.kind == Action::Kind::kAck;
  p.actions.clear();
}

int Main(int argc, char** argv) {
  std::string config_path, events_path, nats_url = "nats://127.0.0.1:4222";
  long count = 20000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--config")
      config_path = argv[i + 1];
    else if (flag == "--events")
      events_path = argv[i + 1];
    else if (flag == "--count")
      count = std::stol(argv[i + 1]);
    else if (flag == "--nats-url")
      nats_url = argv[i + 1];
    else {
      std::fprintf(stderr, "hot_path_profile: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (config_path.empty() || events_path.empty()) {
    std::fprintf(
        stderr,
        "usage: hot_path_profile --config FILE --events FILE.jsonl [--count N] [--nats-url URL]\n");
    return 2;
  }
  const Config config = LoadConfig(config_path);
  ManualClock clock(0);
  PricingEngine engine(config.engine(), clock);
  PricingOperator op(engine, OperatorOptions{});
  Profiled p{op, {}};

  // Inputs: stored, then delivered, before the measured part.
  NatsSettings settings;
  settings.urls = nats_url;
  settings.name = "hot-path-profile";
  auto client = NatsClient::Connect(settings, 10000);
  client->WaitForJetStream(10000);
  StreamConfig stream;
  stream.name = "LOCATION_EVENTS";
  stream.subjects = {"location.>"};
  stream.replicas = 1;
  // Each run stores its events afresh (the stream and its durable go with it).
  js_DeleteStream(client->js(), stream.name.c_str(), nullptr, nullptr);
  ApplyStreams(client->connection(), {stream});
  std::ifstream in(events_path);
  simdjson::dom::parser parser;
  std::string line;
  long stored = 0;
  while (stored < count && std::getline(in, line)) {
    simdjson::dom::element root;
    std::string_view subject;
    simdjson::dom::element data;
    if (parser.parse(line).get(root) || root["subject"].get_string().get(subject) ||
        root["data"].get(data))
      continue;
    const std::string payload = simdjson::minify(data);
    jsPubAck* ack = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    CheckNats(js_Publish(&ack, client->js(), std::string(subject).c_str(), payload.data(),
                         static_cast<int>(payload.size()), nullptr, &jerr),
              "storing an event", jerr);
    jsPubAck_Destroy(ack);
    ++stored;
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = "LOCATION_EVENTS";
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.MaxAckPending = count + 1000;  // every event delivered, none acknowledged
  natsSubscription* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  CheckNats(js_PullSubscribe(&raw, client->js(), "location.>", "profile", nullptr, &so, &jerr),
            "creating the durable", jerr);
  NatsPtr<natsSubscription> durable(raw);
  PullConsumer puller(client->connection(), "LOCATION_EVENTS", "profile");
  std::vector<NatsPtr<natsMsg>> msgs;
  while (static_cast<long>(msgs.size()) < stored) {
    auto batch = puller.Fetch(512, 2000);
    if (batch.empty()) break;
    for (auto& m : batch) msgs.push_back(std::move(m));
  }
  if (msgs.empty()) {
    std::fprintf(stderr, "hot_path_profile: no events in %s\n", events_path.c_str());
    return 1;
  }
  // The events' own time drives the clock (the stored time is the wall clock of this run).
  std::vector<int64_t> stored_ms;
  for (const auto& m : msgs) {
    simdjson::dom::element root;
    int64_t ts = 0;
    const std::string_view data(natsMsg_GetData(m.get()),
                                static_cast<std::size_t>(natsMsg_GetDataLength(m.get())));
    const std::string copy(data);
    if (parser.parse(copy).get(root) || root["ts"].get_int64().get(ts))
      ts = stored_ms.empty() ? 0 : stored_ms.back();
    stored_ms.push_back(ts);
  }
  // The engine starts at the first event's next tick, as a live run without checkpoint.
  for (const auto& [key, e] : engine.cities())
    e->StartAt((FloorDiv(stored_ms.front(), config.interval_ms()) + 1) * config.interval_ms());
  uint64_t ticks = 0;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    clock.SetMs(stored_ms[i]);
    if (op.TickDue(stored_ms[i])) {
      const uint64_t before = op.counters().ticks.load();
      op.OnTime(stored_ms[i], true, &p.actions);
      ticks += op.counters().ticks.load() - before;
      p.actions.clear();
    }
    HotPathEvent(p, msgs[i].get(), stored_ms[i]);
  }
  std::printf("hot_path_profile: %zu events, %llu acknowledged, %llu ticks\n", msgs.size(),
              static_cast<unsigned long long>(p.acked), static_cast<unsigned long long>(ticks));
  return 0;
}

}  // namespace
}  // namespace pricing

int main(int argc, char** argv) { return pricing::Main(argc, argv); }
