// `pricing run` with backend: kafka against a real 3-node Kafka cluster (KRaft, the
// pinned broker): prices equal `pricing replay` of the same events, a bad event lands
// in dead-letters with its reason before its offset is committed, a SIGKILL mid-window
// and a restart (checkpoint in the compacted topic, window rebuilt from location-events)
// give the prices of an uninterrupted run, a broker SIGKILLed under load loses no
// acknowledged event, configuration documents on config-updates apply from the next
// tick and are answered once, across a restart too.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string_view>
#include <thread>

#include "cluster_fixture.h"
#include "common/clock.h"
#include "config/config.h"
#include "engine/partials.h"
#include "grid_workload.h"
#include "http_get.h"
#include "kafka_cluster.h"
#include "price_updates.h"
#include "pricing_yaml.h"
#include "prometheus_text.h"
#include "test_util.h"
#include "transport/kafka_handles.h"
#include "transport/kafka_reader.h"
#include "ws_client.h"

namespace pricing::test {
namespace {

namespace fs = std::filesystem;

constexpr int kInterval = 1000;  // ms
constexpr int kWindow = 4000;
// An event counts in its tick when it is stored within this long after the tick: acks=all
// on three brokers sharing two cores with the test takes longer than a JetStream ack.
constexpr int kLateness = 900;
// How long after its acknowledgement an event surely is read: a tick that closed within
// this of an event's acknowledgement is not compared.
constexpr int kReadMargin = 100;

int64_t NowMs() { return SystemClock().NowMs(); }

struct Message {
  std::string subject, msg_id, payload, reason;
  int64_t offset = 0;
};

class KafkaProcessorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<KafkaCluster>(dir_);
    std::ofstream(dir_ / "zones.geojson") << GridGeoJson();
    yaml_.Timing(kWindow / 1000, kInterval / 1000, kLateness)
        .Set("health_check_interval_seconds", 1)
        .Set("backend", "kafka")
        .Set("kafka", "{brokers: \"" + cluster_->bootstrap() +
                          "\", group_id: test-processor, auto_offset_reset: earliest, "
                          "fetch_wait_max_ms: 5}")
        .Http(http_port_, "zone_metrics: false")
        .Set("gateway", "{enabled: false}")
        .GridCity("zones.geojson")
        .Write(dir_ / "pricing.yaml");
    config_ = LoadConfig(dir_ / "pricing.yaml", [](const std::string&) { return std::nullopt; });
    applied_ = ApplyKafkaTopics(*cluster_, dir_ / "pricing.yaml");
    KafkaConf pc;
    // Idempotent, as the processor's own producer: a retry across a leader change is
    // neither lost nor stored twice.
    pc.Set("bootstrap.servers", cluster_->bootstrap())
        .Set("linger.ms", "0")
        .Set("acks", "all")
        .Set("enable.idempotence", "true");
    rd_kafka_conf_set_dr_msg_cb(pc.get(), &KafkaProcessorTest::OnDelivery);
    rd_kafka_conf_set_opaque(pc.get(), this);
    producer_ = pc.Client(RD_KAFKA_PRODUCER);
    WarmUp();
  }

  // Fresh brokers take seconds to acknowledge quickly (the JVMs compile the produce,
  // replicate and fetch paths as they go): an event acknowledged seconds late misses
  // its tick. The test's own pace through a topic the processor does not read, until a
  // whole second of it was acknowledged within 100 ms (at most 40 s).
  void WarmUp() {
    const auto start = std::chrono::steady_clock::now();
    const std::string filler(200, 'x');
    int good = 0, seconds = 0;
    while (good < 2 && seconds < 40) {
      worst_ack_ms_ = 0;
      const auto second = std::chrono::steady_clock::now();
      for (int i = 0; i < 240; ++i) {
        std::this_thread::sleep_until(second + std::chrono::microseconds(i * 1000000 / 240));
        Produce("analytics-events", "warm-up", "analytics.warm-up", filler);
      }
      Flush();
      good = worst_ack_ms_ < 100 ? good + 1 : 0;
      ++seconds;
    }
    std::printf(
        "warm-up: %d s until acknowledgements took under 100 ms (the last second's worst: "
        "%lld ms)\n",
        static_cast<int>(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()),
        static_cast<long long>(worst_ack_ms_));
    worst_ack_ms_ = 0;
  }

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<KafkaProcessorTest*>(opaque);
    rd_kafka_timestamp_type_t type;
    const int64_t created = rd_kafka_message_timestamp(m, &type);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++self->failed_deliveries_;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR || created <= 0) return;
    const int64_t now = NowMs();
    self->worst_ack_ms_ = std::max(self->worst_ack_ms_, now - created);
    self->acks_.emplace_back(created, now - created);
    if (std::string_view(rd_kafka_topic_name(m->rkt)) != "location-events") return;
    const std::string_view payload(static_cast<const char*>(m->payload), m->len);
    self->acked_events_.emplace_back(payload);
    const std::size_t at = payload.rfind("\"ts\":");
    if (at != std::string_view::npos)
      self->stored_at_.emplace_back(std::atoll(std::string(payload.substr(at + 5)).c_str()), now);
  }

  // The ticks some event was stored too late for: acknowledged (so readable) less than
  // kReadMargin before the tick closed on the wall clock. A live run prices such a tick
  // without it, as the model says, and replay with it.
  std::set<int64_t> MissedTicks() const {
    std::set<int64_t> missed;
    for (const auto& [ts, stored] : stored_at_)
      for (int64_t t = (ts / kInterval + 1) * kInterval; t <= ts + kWindow; t += kInterval)
        if (stored + kReadMargin > t + kLateness) missed.insert(t);
    return missed;
  }

  void TearDown() override {
    if (HasFailure()) {
      if (fs::exists(dir_ / "processor.log"))
        std::printf("the end of %s:\n%s", (dir_ / "processor.log").c_str(),
                    TailLines(dir_ / "processor.log", 40).c_str());
      if (cluster_) std::printf("%s", cluster_->LogTails(10).c_str());
    }
    processor_.reset();
    producer_.reset();
    cluster_.reset();
  }

  void StartProcessor() {
    processor_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{std::string(PRICING_BIN_DIR) + "/pricing", "run", "--config",
                                 (dir_ / "pricing.yaml").string(), "--log-level", "debug"},
        std::map<std::string, std::string>{}, dir_ / "processor.log");
    ++starts_;
    ASSERT_TRUE(WaitFor(
        [&] {
          return CountLinesContaining(dir_ / "processor.log", "processing location-events") >=
                 starts_;
        },
        60000))
        << "processor did not start processing (running: " << processor_->Running() << ")";
  }

  void Produce(const std::string& topic, const std::string& key, const std::string& subject,
               const std::string& payload, int32_t partition = RD_KAFKA_PARTITION_UA) {
    rd_kafka_headers_t* h = rd_kafka_headers_new(1);
    if (!subject.empty())
      rd_kafka_header_add(h, "subject", -1, subject.data(), static_cast<ssize_t>(subject.size()));
    ASSERT_EQ(rd_kafka_producev(
                  producer_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                  RD_KAFKA_V_KEY(key.data(), key.size()),
                  RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_poll(producer_.get(), 0);
  }
  void Flush() { ASSERT_EQ(rd_kafka_flush(producer_.get(), 20000), RD_KAFKA_RESP_ERR_NO_ERROR); }

  // `count` events of the grid workload over `seconds`, keyed by city; with
  // `partitions` above 1, keyed by the driver or rider id, in its partition
  // (PartitionOf) of location-events, as partitioned pricing takes them.
  void PublishEvents(int count, double seconds, int first = 0, int partitions = 1) {
    Paced(count, seconds, first, [&](int i) {
      const GridEvent e = GridWorkloadEvent(i, NowMs());
      if (partitions > 1) {
        const std::string id = EntityOf(e.payload);
        Produce("location-events", id, e.subject + "." + id, e.payload,
                PartitionOf(id, partitions));
      } else {
        // Keyed by city; over `spread_` partitions, each driver or rider in one.
        Produce("location-events", "demo", e.subject, e.payload,
                spread_ > 1 ? PartitionOf(EntityOf(e.payload), spread_) : RD_KAFKA_PARTITION_UA);
      }
      published_.push_back({e.subject, e.payload});
    });
    Flush();
  }

  // The driver_id or rider_id of a grid workload event.
  static std::string EntityOf(std::string_view payload) {
    for (std::string_view field : {R"("driver_id":")", R"("rider_id":")"}) {
      const std::size_t at = payload.find(field);
      if (at == std::string_view::npos) continue;
      const std::size_t from = at + field.size();
      return std::string(payload.substr(from, payload.find('"', from) - from));
    }
    return "";
  }

  // `pricing run` with `stage` (count P, or price) on its own HTTP port and log,
  // once it processes (a standby: once it stands by).
  std::unique_ptr<ChildProcess> StartStage(const std::vector<std::string>& stage, int port,
                                           const std::string& log, bool standby = false) {
    auto p = std::make_unique<ChildProcess>(PricingRunArgs(dir_ / "pricing.yaml", port, stage),
                                            std::map<std::string, std::string>{}, dir_ / log);
    const std::string line = standby ? "kafka: standby" : "kafka: active";
    EXPECT_TRUE(WaitFor(
        [&] {
          return CountLinesContaining(dir_ / log, "processing ") > 0 &&
                 CountLinesContaining(dir_ / log, line) > 0;
        },
        60000))
        << log << ":\n"
        << TailLines(dir_ / log, 30);
    return p;
  }

  // Every message of `topic` retained now.
  std::vector<Message> ReadTopic(const std::string& topic) {
    KafkaReader reader(cluster_->bootstrap(), topic, "test-reader");
    std::vector<Message> out;
    EXPECT_TRUE(reader.Read(
        reader.Retained(10000),
        [&](const rd_kafka_message_t& m) {
          out.push_back({KafkaHeader(m, "subject"), KafkaHeader(m, "msg-id"),
                         std::string(static_cast<const char*>(m.payload), m.len),
                         KafkaHeader(m, "Pricing-Reject-Reason"), m.offset});
        },
        10000));
    return out;
  }

  // The pricing updates, one per message id: a tick published again after a restart
  // carries the same id and values (only computed_at differs), which is checked here.
  PriceUpdates LiveUpdates() {
    std::map<std::string, std::pair<std::string, std::string>> by_id;
    for (const Message& m : ReadTopic("pricing-updates")) {
      EXPECT_FALSE(m.msg_id.empty()) << m.subject;
      auto [it, fresh] = by_id.try_emplace(m.msg_id, m.subject, m.payload);
      if (!fresh) {
        const PriceUpdates a = ParsePriceUpdates({it->second}),
                           b = ParsePriceUpdates({{m.subject, m.payload}});
        EXPECT_TRUE(a.size() == 1 && b.size() == 1 &&
                    a.begin()->second.multiplier == b.begin()->second.multiplier &&
                    a.begin()->second.demand == b.begin()->second.demand &&
                    a.begin()->second.supply == b.begin()->second.supply)
            << "message id " << m.msg_id << " published twice with other values";
      }
    }
    std::vector<std::pair<std::string, std::string>> messages;
    for (auto& [id, m] : by_id) messages.push_back(m);
    return ParsePriceUpdates(messages);
  }

  PriceUpdates ReplayUpdates() {
    std::string input;
    for (const auto& [subject, payload] : published_) input += ReplayInputLine(subject, payload);
    return ParsePriceUpdates(ReplayOutputs(config_, input));
  }

  // A tick published again after a restart is one update (LiveUpdates).
  void ExpectLiveEqualsReplay() {
    const std::set<int64_t> missed = MissedTicks();
    if (!missed.empty())
      std::printf("%zu ticks closed before all their events were stored; not compared\n",
                  missed.size());
    test::ExpectLiveEqualsReplay(
        ReplayUpdates(), [&] { return LiveUpdates(); }, false, missed);
    if (HasFailure()) ExplainDifferences();
  }

  // Live and replay agree on a tick only if each of its events was stored before it
  // closed: says how the events were stored and acknowledged, and why some were
  // dead-lettered.
  void ExplainDifferences() {
    // The events in the order the topic holds them, against the order they were produced.
    std::size_t same_order = 0;
    const std::vector<Message> stored = ReadTopic("location-events");
    for (std::size_t i = 0, j = 0; i < stored.size() && j < published_.size(); ++i) {
      if (stored[i].payload != published_[j].second) continue;
      ++same_order;
      ++j;
    }
    ADD_FAILURE() << same_order << " of " << published_.size()
                  << " events are in location-events in the order they were produced";
    std::map<int64_t, int64_t> by_second;
    for (const auto& [created, took] : acks_)
      by_second[created / 1000] = std::max(by_second[created / 1000], took);
    std::string per_second;
    for (const auto& [sec, took] : by_second)
      per_second += " " + std::to_string(sec % 100) + "s:" + std::to_string(took);
    ADD_FAILURE() << "the slowest acknowledgement per second:" << per_second;
    std::map<std::string, int> reasons;
    for (const Message& m : ReadTopic("dead-letters")) ++reasons[m.reason];
    std::string text;
    for (const auto& [r, n] : reasons) text += " " + r + ": " + std::to_string(n);
    ADD_FAILURE() << MissedTicks().size()
                  << " ticks closed before all their events were stored (not compared); the "
                     "slowest acknowledgement by the cluster took "
                  << worst_ack_ms_
                  << " ms (an event is readable only then); dead letters by reason:" << text;
  }

  TempDir scratch_{"kafka"};  // first: removed last, and kept if the test failed
  const fs::path dir_ = scratch_.path();
  std::unique_ptr<KafkaCluster> cluster_;
  int64_t worst_ack_ms_ = 0;  // the longest an event took to be acknowledged by the cluster
  std::vector<std::pair<int64_t, int64_t>> acks_;       // (created, took)
  std::vector<std::pair<int64_t, int64_t>> stored_at_;  // location events: (ts, acknowledged)
  std::vector<std::string> acked_events_;               // their payloads
  int failed_deliveries_ = 0;
  const int http_port_ = FreePort();
  PricingYaml yaml_;
  Config config_;
  std::string applied_;
  KafkaPtr<rd_kafka_t> producer_;
  std::unique_ptr<ChildProcess> processor_;
  std::vector<std::pair<std::string, std::string>> published_;
  int starts_ = 0;
  int spread_ = 1;  // location-events partitions PublishEvents spreads a city's events over
};

TEST_F(KafkaProcessorTest, PricesEqualReplayAndBadEventsAreDeadLetteredBeforeTheirCommit) {
  // `pricing streams apply` made every topic, the checkpoints' compacted; a second run
  // changes nothing.
  for (const char* t :
       {"location-events", "pricing-updates", "websocket-events", "analytics-events",
        "config-updates", "dead-letters", "pricing-state", "pricing-leases"})
    EXPECT_NE(applied_.find(std::string(t) + ": created"), std::string::npos) << applied_;
  const std::string again = ApplyKafkaTopics(*cluster_, dir_ / "pricing.yaml");
  EXPECT_EQ(again.find("created"), std::string::npos) << again;
  EXPECT_EQ(again.find("updated"), std::string::npos) << again;

  StartProcessor();
  ASSERT_EQ(HttpGet(http_port_, "/healthz").status, 200);
  // Ready: the brokers answer, every topic is there, the group keeps up, ticks close.
  HttpResult ready;
  EXPECT_TRUE(
      WaitFor([&] { return (ready = HttpGet(http_port_, "/readyz")).status == 200; }, 15000))
      << ready.body;
  EXPECT_NE(ready.body.find(R"({"name":"kafka_connected","ok":true)"), std::string::npos)
      << ready.body;
  EXPECT_NE(ready.body.find(R"({"name":"consumer_lag","ok":true)"), std::string::npos)
      << ready.body;
  const std::string bad =
      R"({"driver_id":"d-9","lat":999,"lon":-74.005,"status":"available","ts":)" +
      std::to_string(NowMs()) + "}";
  Produce("location-events", "demo", "location.driver.demo", bad);
  // Without a subject header the key and the payload's kind tell it (events.md).
  PublishEvents(1, 0.0, 1);
  published_.back().first = "location.driver.demo";
  PublishEvents(1200, 5.0, 2);
  ExpectLiveEqualsReplay();

  std::vector<Message> dead;
  ASSERT_TRUE(WaitFor([&] { return !(dead = ReadTopic("dead-letters")).empty(); }, 10000));
  EXPECT_EQ(dead[0].payload, bad);
  EXPECT_EQ(dead[0].subject, "dlq.location.demo");
  EXPECT_EQ(dead[0].reason, "range");
  EXPECT_EQ(MetricSum(HttpGet(http_port_, "/metrics").body, "pricing_events_read_total"),
            1 + 1 + 1200);

  processor_->Signal(SIGTERM);
  EXPECT_EQ(processor_->Wait(30000), 0) << "SIGTERM must drain and exit 0";
  // Everything was handled and committed: the group is at the end of location-events.
  KafkaReader reader(cluster_->bootstrap(), "location-events", "test-reader");
  const auto ranges = reader.Retained(10000);
  KafkaConf cc;
  cc.Set("bootstrap.servers", cluster_->bootstrap()).Set("group.id", "test-processor");
  auto group = cc.Client(RD_KAFKA_CONSUMER);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, "location-events", 0);
  ASSERT_EQ(rd_kafka_committed(group.get(), list, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(list->elems[0].offset, ranges[0].until);
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_consumer_close(group.get());
}

TEST_F(KafkaProcessorTest, KillNineMidWindowThenRestartMatchesAnUninterruptedRun) {
  StartProcessor();
  PublishEvents(600, 2.5);
  // The case is a restart from a checkpoint: one must be stored first. (Without one, a
  // restarted processor starts at its next tick, as a first start does.) On a slow
  // cluster the first tick's messages, and so its checkpoint, can take a second.
  ASSERT_TRUE(WaitFor([&] { return !ReadTopic("pricing-state").empty(); }, 10000))
      << "no checkpoint was stored";
  PublishEvents(120, 0.5, 600);  // mid-window again
  processor_->Signal(SIGKILL);
  EXPECT_EQ(processor_->Wait(5000), 128 + SIGKILL);
  PublishEvents(300, 1.5, 720);  // events keep coming while it is down
  StartProcessor();
  PublishEvents(600, 2.5, 1020);
  ExpectLiveEqualsReplay();
  // The restart found a checkpoint and re-read the window.
  const std::string log = TailLines(dir_ / "processor.log", 400);
  EXPECT_NE(log.find("restored checkpoint"), std::string::npos);
  EXPECT_EQ(CountLinesContaining(dir_ / "processor.log", "re-read 0 events"), 1)
      << "only the first start re-reads nothing";

  // A clean restart with every event handled and none coming: ticks go on closing on
  // the wall clock (the consumer reads nothing, and is caught up all the same).
  processor_->Signal(SIGTERM);
  EXPECT_EQ(processor_->Wait(30000), 0);
  StartProcessor();
  const int64_t restarted = NowMs() + 2 * kInterval;
  PriceUpdates after;
  EXPECT_TRUE(WaitFor(
      [&] {
        after = LiveUpdates();
        return after.rbegin()->first.first > restarted;
      },
      15000))
      << "no tick after a restart with nothing to read";
}

// Two processors in one consumer group, location-events in two partitions: the second
// stands by (the group gives the lease to one, which reads both partitions; without
// the lease each would take one partition and price the city from half its events).
// The active one is SIGKILLed under load; once its session times out the group gives
// the lease to the standby, which starts again to rebuild from what was committed
// meanwhile, and every tick is priced as the replay prices it.
TEST_F(KafkaProcessorTest, AStandbyInTheGroupTakesOverFromAKilledProcessorWithExactOutputs) {
  yaml_
      .Set("kafka", "{brokers: \"" + cluster_->bootstrap() +
                        "\", group_id: test-processor, auto_offset_reset: earliest, "
                        "fetch_wait_max_ms: 5, partitions: 2}")
      .Write(dir_ / "pricing.yaml");
  EXPECT_NE(ApplyKafkaTopics(*cluster_, dir_ / "pricing.yaml").find("partitions: 1 -> 2"),
            std::string::npos);
  spread_ = 2;
  StartProcessor();
  EXPECT_TRUE(WaitFor(
      [&] {
        return CountLinesContaining(dir_ / "processor.log", "kafka: active, 2 partitions") > 0;
      },
      30000))
      << TailLines(dir_ / "processor.log", 20);
  PublishEvents(600, 2.5);
  ASSERT_TRUE(WaitFor([&] { return !ReadTopic("pricing-state").empty(); }, 10000))
      << "no checkpoint was stored";
  const int second_port = FreePort();
  const fs::path second_log = dir_ / "processor-second.log";
  ChildProcess second({std::string(PRICING_BIN_DIR) + "/pricing", "run", "--config",
                       (dir_ / "pricing.yaml").string(), "--http-port", std::to_string(second_port),
                       "--log-level", "debug"},
                      {}, second_log);
  ASSERT_TRUE(
      WaitFor([&] { return CountLinesContaining(second_log, "kafka: standby") > 0; }, 60000))
      << TailLines(second_log, 30);
  // /readyz follows the role once the health loop evaluated it again (at once, on its
  // own thread): seen in a loaded run a moment after the log line.
  EXPECT_TRUE(WaitFor(
      [&] {
        return HttpGet(second_port, "/readyz").body.find(R"("role":"standby")") !=
               std::string::npos;
      },
      5000))
      << HttpGet(second_port, "/readyz").body;
  EXPECT_NE(HttpGet(http_port_, "/readyz").body.find(R"("role":"active")"), std::string::npos)
      << HttpGet(http_port_, "/readyz").body;

  std::thread publisher([&] { PublishEvents(1500, 6.0, 600); });
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  processor_->Signal(SIGKILL);
  const int64_t killed = NowMs();
  EXPECT_EQ(processor_->Wait(5000), 128 + SIGKILL);
  // It starts again (the same process) and, rebuilt, is given the partition.
  const bool took_over = WaitFor(
      [&] {
        return CountLinesContaining(second_log, "starting again as a standby") > 0 &&
               CountLinesContaining(second_log, "kafka: active") > 0;
      },
      60000);
  const int64_t takeover_ms = NowMs() - killed;
  publisher.join();
  ASSERT_TRUE(took_over) << TailLines(second_log, 40);
  EXPECT_TRUE(second.Running());
  std::printf("takeover: active %lld ms after SIGKILL (session timeout 10 s)\n",
              static_cast<long long>(takeover_ms));
  RecordProperty("takeover_ms", std::to_string(takeover_ms));
  PublishEvents(300, 1.5, 2100);
  ExpectLiveEqualsReplay();
  if (HasFailure())
    std::printf("the end of %s:\n%s", second_log.c_str(), TailLines(second_log, 40).c_str());
  second.Signal(SIGTERM);
  EXPECT_EQ(second.Wait(30000), 0);
}

// The leader of location-events' partition SIGKILLed under load: the producer's retries
// reach the new leader (no acknowledged event lost, none stored twice), the processor
// follows it, and every tick the fault did not delay prices as the replay does. The
// killed node is started again and rejoins.
TEST_F(KafkaProcessorTest, ABrokerKilledUnderLoadLosesNoAcknowledgedEventAndPricesEqualReplay) {
  StartProcessor();
  int leader = 0;
  {
    rd_kafka_topic_t* t = rd_kafka_topic_new(producer_.get(), "location-events", nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    ASSERT_EQ(rd_kafka_metadata(producer_.get(), 0, t, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    if (md->topic_cnt == 1 && md->topics[0].partition_cnt == 1)
      leader = md->topics[0].partitions[0].leader;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
  }
  ASSERT_GE(leader, 1) << "no leader for location-events";
  std::thread load([&] { PublishEvents(3200, 16.0); });
  std::this_thread::sleep_for(std::chrono::seconds(3));
  cluster_->Kill(leader);
  const int64_t killed_at = NowMs();
  load.join();  // flushed: every event acknowledged, or failed
  cluster_->Restart();
  EXPECT_EQ(failed_deliveries_, 0) << "deliveries failed";

  std::map<std::string, int> stored;
  for (const Message& m : ReadTopic("location-events")) ++stored[m.payload];
  int lost = 0, twice = 0;
  for (const std::string& p : acked_events_) lost += stored.count(p) == 0;
  for (const auto& [p, n] : stored) twice += n > 1;
  int64_t slowest = 0;
  for (const auto& [ts, at] : stored_at_)
    if (ts >= killed_at - 1000) slowest = std::max(slowest, at - ts);
  std::printf(
      "kafka: leader kafka-%d killed; %zu events acknowledged, %d lost, %d stored twice; the "
      "slowest acknowledgement after the kill took %lld ms\n",
      leader, acked_events_.size(), lost, twice, static_cast<long long>(slowest));
  EXPECT_EQ(acked_events_.size(), published_.size());
  EXPECT_EQ(lost, 0) << "acknowledged events lost";
  EXPECT_EQ(twice, 0) << "events stored twice";
  ExpectLiveEqualsReplay();
  EXPECT_TRUE(processor_->Running()) << "the processor did not outlive the broker's death";
  processor_->Signal(SIGTERM);
  EXPECT_EQ(processor_->Wait(30000), 0);
}

TEST_F(KafkaProcessorTest, ConfigDocumentsApplyFromTheNextTickAndAreAnsweredOnce) {
  StartProcessor();
  Produce("config-updates", "demo", "config.pricing.demo",
          R"({"version":2,"cap":1.1,"overrides":{"5":{"fixed":1.7}}})");
  Flush();
  auto answers = [&] {
    std::vector<Message> out;
    for (Message& m : ReadTopic("config-updates"))
      if (m.subject == "config.applied.demo") out.push_back(std::move(m));
    return out;
  };
  std::vector<Message> a;
  ASSERT_TRUE(WaitFor([&] { return !(a = answers()).empty(); }, 15000));
  EXPECT_EQ(a[0].payload, R"({"version":2,"accepted":true})");
  Produce("config-updates", "demo", "config.pricing.demo", R"({"version":1,"cap":2.0})");
  Flush();
  ASSERT_TRUE(WaitFor([&] { return (a = answers()).size() >= 2; }, 15000));
  EXPECT_NE(a[1].payload.find(R"("accepted":false)"), std::string::npos) << a[1].payload;

  const int64_t after = NowMs() + 2 * kInterval;
  PriceUpdates live;
  ASSERT_TRUE(WaitFor(
      [&] {
        live = LiveUpdates();
        return !live.empty() && live.rbegin()->first.first > after;
      },
      15000));
  for (const auto& [key, u] : live) {
    if (key.first <= after) continue;
    EXPECT_EQ(u.config_version, 2);
    EXPECT_EQ(u.multiplier, key.second == "5" ? 1.7 : std::min(u.multiplier, 1.1));
  }

  // A restart validates the history again, keeps version 2 in force, and answers
  // nothing twice.
  processor_->Signal(SIGTERM);
  EXPECT_EQ(processor_->Wait(30000), 0);
  StartProcessor();
  const int64_t restarted = NowMs() + 2 * kInterval;
  ASSERT_TRUE(WaitFor(
      [&] {
        live = LiveUpdates();
        return live.rbegin()->first.first > restarted;
      },
      15000));
  EXPECT_EQ(live.rbegin()->second.config_version, 2);
  EXPECT_EQ(answers().size(), 2u);
}

TEST_F(KafkaProcessorTest, TheGatewayFollowsTheKafkaOutputTopics) {
  yaml_.Set("gateway", "{enabled: true}").Write(dir_ / "pricing.yaml");
  StartProcessor();
  PublishEvents(900, 3.0);
  PriceUpdates live;
  ASSERT_TRUE(WaitFor([&] { return !(live = LiveUpdates()).empty(); }, 15000));

  // A client that connects now gets every zone's last value, as published.
  WsClient ws;
  ASSERT_TRUE(ws.Connect(http_port_, "/ws?city=demo"));
  const std::optional<std::string> first = ws.Read(10000);
  ASSERT_TRUE(first.has_value());
  simdjson::dom::parser parser;
  const simdjson::dom::element snap = parser.parse(*first);
  ASSERT_EQ(std::string_view(snap["type"]), "snapshot") << *first;
  live = LiveUpdates();
  int zones = 0;
  for (const auto z : snap["zones"].get_array()) {
    ++zones;
    const int64_t tick = int64_t(z["tick"]);
    const std::string id{std::string_view(z["zone_id"])};
    ASSERT_GT(tick, 0) << "zone " << id << " has no value in the snapshot: " << *first;
    const auto it = live.find({tick, id});
    ASSERT_NE(it, live.end()) << "zone " << id << " tick " << tick << " was never published";
    EXPECT_EQ(double(z["multiplier"]), it->second.multiplier) << "zone " << id;
  }
  EXPECT_EQ(zones, 9);

  // Then the changes, as the processor publishes them: the surge in zone 5 moves.
  std::thread more([&] { PublishEvents(600, 3.0, 900); });
  bool changes = false;
  for (int i = 0; i < 20 && !changes; ++i) {
    const std::optional<std::string> m = ws.Read(1000);
    if (m) changes = std::string_view(parser.parse(*m)["type"]) == "changes";
  }
  more.join();
  EXPECT_TRUE(changes) << "no changes reached the client";
}

// Partitioned pricing on Kafka, two partitions: location-events has two partitions, each
// event in the one of its driver_id or rider_id; a count stage per partition (each its
// own consumer group) publishes counts to pricing-partials, and the price stage prices
// their sums. A second count stage of partition 0 stands by; the active one is SIGKILLed
// under load, the price stage holds the city (and says so) until the standby has taken
// over, and every tick equals one processor's replay. An event put in the wrong
// partition is dead-lettered, not counted twice or lost.
TEST_F(KafkaProcessorTest, PartitionedStagesPriceAsOneProcessorAndAStandbyTakesOverAPartition) {
  yaml_.Set("partitions", 2)
      .Set("kafka", "{brokers: \"" + cluster_->bootstrap() +
                        "\", group_id: test-processor, auto_offset_reset: earliest, "
                        "fetch_wait_max_ms: 5, session_timeout_ms: 6000}")
      .Write(dir_ / "pricing.yaml");
  config_ = LoadConfig(dir_ / "pricing.yaml", [](const std::string&) { return std::nullopt; });
  const std::string applied = ApplyKafkaTopics(*cluster_, dir_ / "pricing.yaml");
  EXPECT_NE(applied.find("location-events: updated"), std::string::npos) << applied;
  EXPECT_NE(applied.find("pricing-partials: created"), std::string::npos) << applied;
  EXPECT_NE(applied.find("pricing-leases: unchanged"), std::string::npos) << applied;

  const int p0_port = FreePort(), p1_port = FreePort(), price_port = FreePort(),
            standby_port = FreePort();
  auto price = StartStage({"price"}, price_port, "price.log");
  auto p0 = StartStage({"count", "--partition", "0"}, p0_port, "p0.log");
  auto p1 = StartStage({"count", "--partition", "1"}, p1_port, "p1.log");
  auto standby = StartStage({"count", "--partition", "0"}, standby_port, "p0-standby.log", true);
  ASSERT_FALSE(HasFailure());
  EXPECT_TRUE(WaitFor(
      [&] {
        return HttpGet(standby_port, "/readyz").body.find(R"("role":"standby")") !=
               std::string::npos;
      },
      5000))
      << HttpGet(standby_port, "/readyz").body;

  // A driver of partition 1 in partition 0, as a publisher that keys by city puts it:
  // partition 1's stage never sees it, so partition 0's must not pass over it.
  std::string misplaced = "x0";
  for (int d = 1; PartitionOf(misplaced, 2) != 1; ++d) misplaced = "x" + std::to_string(d);
  const std::string bad = R"({"driver_id":")" + misplaced +
                          R"(","lat":40.705,"lon":-74.015,"status":"available","ts":)" +
                          std::to_string(NowMs()) + "}";
  Produce("location-events", "demo", "location.driver.demo", bad, 0);
  PublishEvents(900, 3.0, 0, 2);

  std::thread publisher([&] { PublishEvents(1800, 9.0, 900, 2); });
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  p0->Signal(SIGKILL);
  const int64_t killed = NowMs();
  EXPECT_EQ(p0->Wait(5000), 128 + SIGKILL);
  // Until the group gives partition 0 to the standby, the price stage holds the city.
  std::string held_body;
  EXPECT_TRUE(WaitFor(
      [&] {
        held_body = HttpGet(price_port, "/readyz").body;
        return held_body.find(R"({"name":"partitions","ok":false)") != std::string::npos;
      },
      15000))
      << held_body;
  EXPECT_NE(held_body.find("waiting for the counts of partition 0"), std::string::npos)
      << held_body;
  EXPECT_EQ(MetricValue(HttpGet(price_port, "/metrics").body,
                        R"(pricing_partitions_missing{city="demo"})"),
            1);
  const bool took_over = WaitFor(
      [&] {
        return CountLinesContaining(dir_ / "p0-standby.log", "starting again as a standby") > 0 &&
               CountLinesContaining(dir_ / "p0-standby.log", "kafka: active") > 0;
      },
      60000);
  const int64_t takeover_ms = NowMs() - killed;
  publisher.join();
  ASSERT_TRUE(took_over) << TailLines(dir_ / "p0-standby.log", 40);
  std::printf("partition 0: the standby active %lld ms after SIGKILL (session timeout 6 s)\n",
              static_cast<long long>(takeover_ms));
  RecordProperty("takeover_ms", std::to_string(takeover_ms));
  PublishEvents(300, 1.5, 2700, 2);
  ExpectLiveEqualsReplay();
  EXPECT_TRUE(WaitFor(
      [&] {
        return HttpGet(price_port, "/readyz").body.find(R"({"name":"partitions","ok":true)") !=
               std::string::npos;
      },
      10000))
      << HttpGet(price_port, "/readyz").body;

  // The misplaced event: dead-lettered by partition 0, with why.
  std::vector<Message> dead;
  ASSERT_TRUE(WaitFor([&] { return !(dead = ReadTopic("dead-letters")).empty(); }, 10000));
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].payload, bad);
  EXPECT_EQ(dead[0].reason, "schema");
  // Nothing else went astray: the price stage read, in the counts, every event of both
  // partitions, the misplaced one included (a restarted count stage counts again what
  // it re-reads of a tick it had not checkpointed: at least, not exactly).
  EXPECT_GE(MetricSum(HttpGet(price_port, "/metrics").body, "pricing_events_read_total"), 3000 + 1);

  // `pricing simulate` on this configuration puts each event where its stage reads it:
  // in the partition of its driver or rider, keyed by that id.
  const double read_before =
      MetricSum(HttpGet(price_port, "/metrics").body, "pricing_events_read_total");
  KafkaReader events(cluster_->bootstrap(), "location-events", "test-reader");
  std::vector<PartitionRange> ranges = events.Retained(10000);
  ChildProcess sim(
      {std::string(PRICING_BIN_DIR) + "/pricing", "simulate", "--config",
       (dir_ / "pricing.yaml").string(), "--rate", "400", "--duration", "2", "--drivers", "200"},
      {}, dir_ / "simulate.log");
  ASSERT_EQ(sim.Wait(60000), 0) << TailLines(dir_ / "simulate.log", 20);
  EXPECT_NE(CountLinesContaining(dir_ / "simulate.log", "800 acknowledged"), 0)
      << TailLines(dir_ / "simulate.log", 20);
  const std::vector<PartitionRange> after = events.Retained(10000);
  for (PartitionRange& r : ranges) {
    r.from = r.until;
    for (const PartitionRange& a : after)
      if (a.partition == r.partition) r.until = a.until;
  }
  int simulated = 0, in_place = 0;
  EXPECT_TRUE(events.Read(
      ranges,
      [&](const rd_kafka_message_t& m) {
        ++simulated;
        const std::string key(static_cast<const char*>(m.key), m.key_len);
        const std::string id = EntityOf({static_cast<const char*>(m.payload), m.len});
        in_place += key == id && PartitionOf(id, 2) == m.partition &&
                    KafkaHeader(m, "subject").starts_with("location.");
      },
      10000));
  EXPECT_EQ(simulated, 800);
  EXPECT_EQ(in_place, simulated);
  // The stages count them: the price stage reads them all, and none is dead-lettered.
  EXPECT_TRUE(WaitFor(
      [&] {
        return MetricSum(HttpGet(price_port, "/metrics").body, "pricing_events_read_total") >=
               read_before + 800;
      },
      15000))
      << HttpGet(price_port, "/metrics").body.substr(0, 2000);
  EXPECT_EQ(ReadTopic("dead-letters").size(), 1u);
  for (auto* p : {price.get(), p1.get(), standby.get()}) {
    p->Signal(SIGTERM);
    EXPECT_EQ(p->Wait(30000), 0);
  }
  if (HasFailure()) {
    for (const char* log : {"price.log", "p0.log", "p1.log", "p0-standby.log"})
      std::printf("the end of %s:\n%s", log, TailLines(dir_ / log, 30).c_str());
  }
}

TEST(KafkaProcessorConfig, RefusesAKafkaBackendWithoutBrokers) {
  const TempDir scratch("kafka-config");
  const fs::path dir = scratch.path();
  const fs::path config = dir / "bad.yaml";
  std::ofstream(config) << "backend: kafka\ncities:\n  nyc:\n    zones: " << PRICING_SOURCE_DIR
                        << "/data/nyc/taxi_zones.geojson\n";
  ChildProcess p({std::string(PRICING_BIN_DIR) + "/pricing", "run", "--config", config.string()},
                 {}, dir / "out.log");
  EXPECT_NE(p.Wait(10000), 0);
  std::ifstream log(dir / "out.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("key 'kafka.brokers': is required with backend: kafka"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace pricing::test
