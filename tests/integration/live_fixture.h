// The live processor's test fixture: a real 3-node JetStream cluster, a grid city, and
// `pricing run` processes started from the built binary; what they publish is compared
// with `pricing replay` of the same events.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include "cluster_fixture.h"
#include "common/clock.h"
#include "common/time_format.h"
#include "config/config.h"
#include "grid_workload.h"
#include "http_get.h"
#include "price_updates.h"
#include "pricing_yaml.h"
#include "prometheus_text.h"
#include "test_util.h"
#include "transport/stream_admin.h"

namespace pricing::test {

inline constexpr int kInterval = 1000;  // ms
inline constexpr int kWindow = 4000;

inline int64_t NowMs() { return SystemClock().NowMs(); }

struct Published {
  std::string subject;
  std::string payload;
};

class LiveProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<NatsCluster>(3);
    std::ofstream(dir_ / "zones.geojson") << GridGeoJson();
    PricingYaml()
        .Timing(kWindow / 1000, kInterval / 1000, 300)
        .Set("health_check_interval_seconds", 1)
        .Http(http_port_)
        .Set("nats_url", cluster_->urls())
        .Set("consumer", "{fetch_wait_ms: 50, ack_wait_seconds: 5, takeover_after_seconds: 2}")
        .GridCity("zones.geojson")
        .Write(dir_ / "pricing.yaml");
    config_ = LoadConfig(dir_ / "pricing.yaml", [](const std::string&) { return std::nullopt; });
    client_ = std::make_unique<TestClient>(cluster_->urls());
  }

  void TearDown() override {
    if (HasFailure()) {
      // A CI report shows the output, not the files: the ends of the logs go with it.
      std::printf("the end of %s:\n%s", (dir_ / "processor.log").c_str(),
                  TailLines(dir_ / "processor.log", 40).c_str());
      if (second_) {
        std::printf("the end of %s:\n%s", (dir_ / "processor-second.log").c_str(),
                    TailLines(dir_ / "processor-second.log", 40).c_str());
      }
      for (const Stage& stage : stages_) {
        std::printf("the end of %s:\n%s", stage.log.c_str(), TailLines(stage.log, 40).c_str());
      }
      if (cluster_) std::printf("%s", cluster_->LogTails(15).c_str());
    }
    stages_.clear();
    processor_.reset();
    second_.reset();
    client_.reset();
    cluster_.reset();
  }

  void StartProcessor() {
    processor_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{std::string(PRICING_BIN_DIR) + "/pricing", "run", "--config",
                                 (dir_ / "pricing.yaml").string(), "--log-level", "debug"},
        std::map<std::string, std::string>{}, dir_ / "processor.log");
    ASSERT_TRUE(WaitFor(
        [&] {
          try {
            GetConsumerState(client_->js(), "LOCATION_EVENTS", "pricing-processor");
            return true;
          } catch (const NatsError&) {
            return false;
          }
        },
        30000))
        << "processor did not create its consumer; see " << dir_ / "processor.log";
    // Ready once its fetch loop runs (it logs this line; /readyz comes with the HTTP side).
    ++starts_;
    ASSERT_TRUE(WaitFor(
        [&] {
          return CountLinesContaining(dir_ / "processor.log", "processing LOCATION_EVENTS") >=
                 starts_;
        },
        30000))
        << "processor did not start processing (running: " << processor_->Running()
        << ", exit: " << processor_->Wait(0) << "); see " << dir_ / "processor.log";
  }

  // A second `pricing run` on the same work, with its own HTTP port, logging to
  // processor-second.log. Returns once it logged `line`.
  void StartSecond(const std::string& line) {
    second_ = std::make_unique<ChildProcess>(
        PricingRunArgs(dir_ / "pricing.yaml", second_http_port_),
        std::map<std::string, std::string>{}, dir_ / "processor-second.log");
    ASSERT_TRUE(WaitFor(
        [&] { return CountLinesContaining(dir_ / "processor-second.log", line) > 0; }, 30000))
        << "the second processor never logged '" << line << "'; see "
        << dir_ / "processor-second.log";
  }

  // Partitioned pricing: the configuration gets `partitions: n`.
  void Partitions(int n) {
    std::ofstream(dir_ / "pricing.yaml", std::ios::app) << "partitions: " << n << "\n";
  }

  // `pricing run --stage ARGS` on HTTP port `http_port`, logging to stage-<name>.log.
  // Returns its index in stages_ once it logged `line` (once more than before).
  std::size_t StartStage(const std::string& name, const std::vector<std::string>& stage_args,
                         int http_port, const std::string& line = "processing ") {
    const std::filesystem::path log = dir_ / ("stage-" + name + ".log");
    const int before = CountLinesContaining(log, line);
    stages_.push_back({log, std::make_unique<ChildProcess>(
                                PricingRunArgs(dir_ / "pricing.yaml", http_port, stage_args),
                                std::map<std::string, std::string>{}, log)});
    const bool started = WaitFor([&] { return CountLinesContaining(log, line) > before; }, 30000);
    EXPECT_TRUE(started) << name << " never logged '" << line << "'; see " << log;
    return stages_.size() - 1;
  }

  // What /readyz of the processor on `port` says it is: "active", "standby" or "".
  static std::string Role(int port) {
    const std::string body = HttpGet(port, "/readyz").body;
    for (const char* role : {"active", "standby"}) {
      if (body.find(std::string(R"("role":")") + role + "\"") != std::string::npos) return role;
    }
    return "";
  }

  // Waits until one processor is active and the other stands by; the active one's port.
  int OneActiveOneStandby() {
    int active = 0;
    const bool settled = WaitFor(
        [&] {
          const std::string a = Role(http_port_), b = Role(second_http_port_);
          if (a == "active" && b == "standby") active = http_port_;
          if (a == "standby" && b == "active") active = second_http_port_;
          return active != 0;
        },
        20000);
    EXPECT_TRUE(settled) << "first: " << HttpGet(http_port_, "/readyz").body
                         << "\nsecond: " << HttpGet(second_http_port_, "/readyz").body;
    return active;
  }

  // Runs `pricing ARGS`, its stdout and stderr into `output`; its exit code.
  static int Pricing(const std::string& args, std::string* output) {
    const std::string command = std::string(PRICING_BIN_DIR) + "/pricing " + args + " 2>&1";
    FILE* p = popen(command.c_str(), "r");
    char buf[512];
    while (p != nullptr && std::fgets(buf, sizeof buf, p) != nullptr) *output += buf;
    const int status = p != nullptr ? pclose(p) : -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // Publishes `count` events of the grid workload over `seconds`.
  void PublishEvents(int count, double seconds, int first = 0) {
    Paced(count, seconds, first, [&](int i) {
      GridEvent e = GridWorkloadEvent(i, NowMs());
      if (id_subjects_ && i % 2 == 0) e.subject += "." + EntityId(e.payload);
      client_->publisher().Publish(e.subject, e.id, e.payload);
      published_.push_back({e.subject, e.payload});
      client_->publisher().Pump();
    });
    ASSERT_TRUE(client_->publisher().Flush(20000));
  }

  // The driver_id or rider_id of a grid workload payload.
  static std::string EntityId(const std::string& payload) {
    for (const char* key : {R"("driver_id":")", R"("rider_id":")"}) {
      const auto at = payload.find(key);
      if (at == std::string::npos) continue;
      const auto from = at + std::string_view(key).size();
      return payload.substr(from, payload.find('"', from) - from);
    }
    return "";
  }

  using Updates = PriceUpdates;

  Updates LiveUpdates() {
    std::vector<std::pair<std::string, std::string>> messages;
    for (auto& m : ReadStream(*client_, "PRICING_UPDATES", "pricing.update.demo.>")) {
      messages.push_back({m.subject, m.data});
    }
    return ParsePriceUpdates(messages);
  }

  // What `pricing replay` makes of the published events: the uninterrupted reference.
  Updates ReplayUpdates() {
    std::string input;
    for (const auto& p : published_) input += ReplayInputLine(p.subject, p.payload);
    return ParsePriceUpdates(ReplayOutputs(config_, input));
  }

  // Every tick of the replay is in the stream exactly once per zone, with equal values.
  void ExpectLiveEqualsReplay() {
    test::ExpectLiveEqualsReplay(
        ReplayUpdates(), [&] { return LiveUpdates(); }, true);
    if (HasFailure()) ExplainDifferences();
  }

  // Live and replay agree only if every event reached the stream before its tick closed
  // (its ts plus the allowed lateness): on a loaded machine that can fail. Says which
  // events arrived too late, and what was dead-lettered, next to the processor's log.
  void ExplainDifferences() {
    simdjson::dom::parser parser;
    int late = 0;
    for (const auto& m : ReadStream(*client_, "LOCATION_EVENTS", "location.>")) {
      const int64_t ts = int64_t(parser.parse(simdjson::padded_string(m.data))["ts"]);
      const int64_t tick_end = (ts / kInterval + 1) * kInterval + 300;
      if (m.stored_ms >= tick_end) {
        ++late;
        ADD_FAILURE() << "event seq " << m.seq << " ts " << ts << " stored at " << m.stored_ms
                      << ", after its tick closed at " << tick_end;
      }
    }
    const auto dead = ReadStream(*client_, "DEAD_LETTERS", "dlq.>");
    ADD_FAILURE() << late << " events stored after their tick closed, " << dead.size()
                  << " dead letters; processor log: " << dir_ / "processor.log";
  }

  TempDir scratch_{"live"};  // first: removed last, and kept if the test failed
  const std::filesystem::path dir_ = scratch_.path();
  std::unique_ptr<NatsCluster> cluster_;
  const int http_port_ = FreePort();
  const int second_http_port_ = FreePort();
  Config config_;
  std::unique_ptr<TestClient> client_;
  std::unique_ptr<ChildProcess> processor_;
  std::unique_ptr<ChildProcess> second_;
  std::vector<Published> published_;
  int starts_ = 0;
  // Every other event goes to location.<kind>.<city>.<its id> (partitioned pricing's
  // subjects), the rest to location.<kind>.<city>.
  bool id_subjects_ = false;
  struct Stage {
    std::filesystem::path log;
    std::unique_ptr<ChildProcess> process;
  };
  std::vector<Stage> stages_;  // StartStage
};

}  // namespace pricing::test
