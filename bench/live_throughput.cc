// Throughput of the live processor against the broker's own limit, on one JetStream
// R3 stream in one run: a backlog of fresh events is preloaded once; then, alternately,
// a consumer that only fetches and acknowledges drains it with a new durable, and the
// real `pricing run` binary drains it with a new durable (decode, validate, zone,
// window, ticks and publishing included), in alternating order. Both are timed alike
// from their progress sampled every 50 ms (the fetch+ack consumer's own count; the
// processor's /metrics). Over several rounds,
// medians, their ratio and the median of each round's ratio are printed as Markdown.
//
//   live_throughput --nats URLS --config FILE --pricing BIN [--events N] [--rounds R]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "engine/city_engine.h"
#include "http_get.h"
#include "prometheus_text.h"
#include "sim/simulator.h"
#include "transport/js_publisher.h"
#include "transport/nats_client.h"
#include "transport/pull_consumer.h"
#include "transport/stream_admin.h"

namespace pricing {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string Arg(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return argv[i + 1];
  }
  return fallback;
}

// A consumer's progress, sampled every 50 ms while it drains: when, and how many events
// it had read by then.
struct Sample {
  Clock::time_point at;
  double read;
};
constexpr auto kSampleEvery = std::chrono::milliseconds(50);

// The rate both consumers are judged by, from their sampled progress: the events read
// between the first and the last sample taken while the drain was under way (some read,
// not all), over the time between those two samples. Both are sampled and estimated
// alike, so neither gains or loses by where its first or last event falls between two
// samples. (The processor used to be timed up to the first sample that saw it done:
// up to 50 ms too long, against the fetch+ack consumer's exact last message.) A drain
// too short for two such samples is timed from the first sample that saw an event to
// the first that saw all.
double SampledRate(const std::vector<Sample>& samples, double total) {
  const Sample* first = nullptr;
  const Sample* last = nullptr;
  for (const Sample& s : samples) {
    if (s.read > 0 && s.read < total) {
      if (first == nullptr) first = &s;
      last = &s;
    }
  }
  if (first == nullptr || last == first) {
    first = nullptr;
    last = nullptr;
    for (const Sample& s : samples) {
      if (first == nullptr && s.read > 0) first = &s;
      if (last == nullptr && s.read >= total) last = &s;
    }
    if (first == nullptr || last == nullptr || last == first) {
      throw std::runtime_error("a drain left too few samples to time it");
    }
  }
  return (last->read - first->read) / Seconds(first->at, last->at);
}

// Samples the processor's own /metrics (events read, summed over cities and kinds)
// until it has read `events`. It asks the processor, not the cluster: consumer info
// requests make the server compute the consumer's pending count, and polling them
// during a drain was found to slow the drain itself (docs/performance.md).
std::vector<Sample> WatchDrain(int http_port, uint64_t events) {
  std::vector<Sample> samples;
  const auto deadline = Clock::now() + std::chrono::minutes(10);
  while (Clock::now() < deadline) {
    const double read =
        test::MetricSum(test::HttpGet(http_port, "/metrics").body, "pricing_events_read_total");
    samples.push_back({Clock::now(), read});
    if (read >= static_cast<double>(events)) return samples;
    std::this_thread::sleep_for(kSampleEvery);
  }
  throw std::runtime_error("the processor did not read every event within 10 minutes");
}

// A consumer that only fetches and acknowledges, like the processor's loop without
// work; a thread samples its count as WatchDrain samples the processor's.
double DrainFetchAckOnly(NatsClient& client, const ConsumerConfig& consumer,
                         const std::string& durable, uint64_t target, int64_t from_ms) {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = "LOCATION_EVENTS";
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.MaxAckPending = consumer.max_ack_pending;
  so.Config.DeliverPolicy = js_DeliverByStartTime;
  so.Config.OptStartTime = from_ms * 1'000'000;
  natsSubscription* raw = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  CheckNats(js_PullSubscribe(&raw, client.js(), "location.>", durable.c_str(), nullptr, &so, &jerr),
            "drain", jerr);
  NatsPtr<natsSubscription> sub(raw);
  // The processor's own pull mechanism (each message handled as it arrives), with
  // nothing done per message but the ack.
  PullConsumer puller(client.connection(), "LOCATION_EVENTS", durable);
  std::atomic<uint64_t> read{0};
  std::atomic<bool> drained{false};
  std::vector<Sample> samples;
  std::thread sampler([&] {
    while (!drained.load()) {
      samples.push_back({Clock::now(), static_cast<double>(read.load())});
      std::this_thread::sleep_for(kSampleEvery);
    }
    samples.push_back({Clock::now(), static_cast<double>(read.load())});
  });
  uint64_t last_seq = 0;
  while (last_seq < target) {
    puller.FetchEach(static_cast<int>(consumer.batch), consumer.fetch_wait_ms,
                     [&](NatsPtr<natsMsg>& m) {
                       if (const uint64_t seq = PullConsumer::MetaOf(m.get()).seq) last_seq = seq;
                       PullConsumer::Ack(client.connection(), m.get());
                       read.fetch_add(1, std::memory_order_relaxed);
                     });
  }
  drained = true;
  sampler.join();
  return SampledRate(samples, static_cast<double>(read.load()));
}

int FreePort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

double DrainWithProcessor(const std::string& pricing_bin, const std::string& config_path,
                          const std::string& durable, uint64_t first, uint64_t target, int round) {
  const int http_port = FreePort();
  const std::string round_config = config_path + ".round" + std::to_string(round) + ".yaml";
  {
    std::ifstream in(config_path);
    std::ofstream out(round_config);
    out << in.rdbuf() << "\nconsumer: {durable: " << durable << "}\n"
        << "http: {bind: 127.0.0.1, port: " << http_port << "}\n";
  }
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string log = config_path + ".round" + std::to_string(round) + ".log";
    FILE* f = std::fopen(log.c_str(), "w");
    if (f) {
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
    }
    execl(pricing_bin.c_str(), pricing_bin.c_str(), "run", "--config", round_config.c_str(),
          nullptr);
    _exit(127);
  }
  const uint64_t events = target - first + 1;
  const std::vector<Sample> samples = WatchDrain(http_port, events);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  return SampledRate(samples, static_cast<double>(events));
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0
                   : (v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2);
}

int Main(int argc, char** argv) {
  const std::string urls = Arg(argc, argv, "nats", "nats://127.0.0.1:4222");
  const std::string config_path = Arg(argc, argv, "config", "");
  const std::string pricing_bin = Arg(argc, argv, "pricing", "build/bin/pricing");
  const uint64_t events = std::stoull(Arg(argc, argv, "events", "200000"));
  const int rounds = std::stoi(Arg(argc, argv, "rounds", "3"));
  const Config config = LoadConfig(config_path);
  const auto& city = config.cities.begin()->second;

  JsPublisher publisher(config.publish.ack_wait_ms);
  NatsSettings settings;
  settings.urls = urls;
  settings.auth = config.nats_auth;
  settings.name = "live-throughput";
  // The fetch+ack consumer writes its acks the way the processor does.
  settings.send_asap = config.nats_send_asap;
  settings.ack_handler = &JsPublisher::AckHandler;
  settings.ack_handler_closure = &publisher;
  auto client = NatsClient::Connect(settings, 30000);
  publisher.Attach(client->js());
  client->WaitForJetStream(30000);
  ApplyStreamsWhenReady(client->connection(), config.streams, 30000);

  // Preload: fresh events, so they are all inside the (long) window of the config.
  const int64_t from_ms = SystemClock().NowMs() - 1000;
  const uint64_t first = GetStreamState(client->js(), "LOCATION_EVENTS").last_seq + 1;
  SimulatorOptions o;
  o.city = city.key;
  o.drivers = 20000;
  o.rate = 1e9;
  SystemClock clock;
  Simulator sim(o, CityZones::Load(city), clock);
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < events; ++i) {
    auto ev = sim.Next(clock.NowMs());
    publisher.Publish(ev.subject, ev.msg_id, ev.payload);
    if (i % 1024 == 0) publisher.Pump();
  }
  if (!publisher.Flush(120000)) {
    std::fprintf(stderr, "preload did not complete\n");
    return 1;
  }
  const double preload = events / Seconds(t0, Clock::now());
  const uint64_t target = GetStreamState(client->js(), "LOCATION_EVENTS").last_seq;
  std::fprintf(stderr, "preloaded %llu events at %.0f/s (async publish, R%lld)\n",
               static_cast<unsigned long long>(events), preload,
               static_cast<long long>(config.streams[0].replicas));

  std::vector<double> baseline, processor;
  // Durable names unique to this run: a second run on the same cluster starts afresh.
  const std::string run = std::to_string(::getpid());
  std::vector<double> ratios;
  for (int r = 0; r < rounds; ++r) {
    const std::string suffix = run + "-" + std::to_string(r);
    auto drain_baseline = [&] {
      baseline.push_back(DrainFetchAckOnly(*client, config.consumer, "bench-fetch-ack-" + suffix,
                                           target, from_ms));
      std::fprintf(stderr, "round %d: fetch+ack only %.0f/s\n", r + 1, baseline.back());
    };
    auto drain_processor = [&] {
      processor.push_back(DrainWithProcessor(pricing_bin, config_path, "bench-processor-" + suffix,
                                             first, target, r));
      std::fprintf(stderr, "round %d: processor      %.0f/s\n", r + 1, processor.back());
    };
    // The order alternates, so neither consumer always meets the cluster the other left.
    if (r % 2 == 0) {
      drain_baseline();
      drain_processor();
    } else {
      drain_processor();
      drain_baseline();
    }
    ratios.push_back(processor.back() / baseline.back());
  }
  std::printf("| consumer | median events/s | rounds |\n|---|---|---|\n");
  std::printf("| fetch + ack only (the broker's limit) | %.0f |", Median(baseline));
  for (double b : baseline) std::printf(" %.0f", b);
  std::printf(" |\n| `pricing run` (decode, zone, window, ticks, publish) | %.0f |",
              Median(processor));
  for (double p : processor) std::printf(" %.0f", p);
  std::printf(
      " |\n\nprocessor / fetch+ack = **%.0f %%** as the ratio of medians, %.0f %% as the median "
      "of the rounds' ratios (%llu events, R%lld file storage, preload %.0f/s)\n",
      100.0 * Median(processor) / Median(baseline), 100.0 * Median(ratios),
      static_cast<unsigned long long>(events), static_cast<long long>(config.streams[0].replicas),
      preload);
  return 0;
}

}  // namespace
}  // namespace pricing

int main(int argc, char** argv) {
  try {
    return pricing::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "live_throughput: %s\n", e.what());
    return 1;
  }
}
