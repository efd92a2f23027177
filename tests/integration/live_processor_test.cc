// The live processor against a real 3-node JetStream cluster.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "live_fixture.h"

namespace pricing::test {
namespace {

TEST_F(LiveProcessorTest, EndToEndPricesEqualReplayOfTheSameEvents) {
  StartProcessor();
  PublishEvents(1200, 5.0);
  ExpectLiveEqualsReplay();
  processor_->Signal(SIGTERM);
  EXPECT_EQ(processor_->Wait(20000), 0) << "SIGTERM must drain and exit 0";
  const ConsumerState c = GetConsumerState(client_->js(), "LOCATION_EVENTS", "pricing-processor");
  EXPECT_EQ(c.num_ack_pending, 0u);
  EXPECT_EQ(c.num_pending, 0u);
  EXPECT_EQ(c.ack_floor_stream_seq, published_.size());
}

TEST_F(LiveProcessorTest, KillNineMidWindowThenRestartMatchesAnUninterruptedRun) {
  StartProcessor();
  PublishEvents(600, 2.5);
  processor_->Signal(SIGKILL);
  EXPECT_EQ(processor_->Wait(5000), 128 + SIGKILL);
  PublishEvents(300, 1.5, 600);  // events keep coming while it is down
  StartProcessor();
  PublishEvents(600, 2.5, 900);
  ExpectLiveEqualsReplay();
}

TEST_F(LiveProcessorTest, StreamLeaderLossLosesNoAcknowledgedEvent) {
  StartProcessor();
  std::thread publisher([&] { PublishEvents(1500, 6.0); });
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  const StreamState before = GetStreamState(client_->js(), "LOCATION_EVENTS");
  const int leader = cluster_->NodeNamed(before.leader);
  ASSERT_GE(leader, 0) << before.leader;
  cluster_->Kill(leader, SIGKILL);
  const int64_t killed_at = NowMs();
  publisher.join();  // Flush succeeded: every event was acknowledged
  StreamState after;
  ASSERT_TRUE(WaitFor(
      [&] {
        after = GetStreamState(client_->js(), "LOCATION_EVENTS");
        return !after.leader.empty() && after.leader != before.leader;
      },
      15000));
  EXPECT_EQ(after.messages, published_.size()) << "acknowledged events lost or duplicated";
  ASSERT_TRUE(WaitFor(
      [&] {
        return GetConsumerState(client_->js(), "LOCATION_EVENTS", "pricing-processor")
                   .ack_floor_stream_seq == published_.size();
      },
      30000))
      << "the processor did not catch up after the leader was killed";
  // Prices kept flowing: ticks well after the kill were published.
  ASSERT_TRUE(WaitFor(
      [&] {
        const Updates live = LiveUpdates();
        return !live.empty() && live.rbegin()->first.first > killed_at + 3 * kInterval;
      },
      20000));
}

TEST_F(LiveProcessorTest, BadInputIsDeadLetteredWithItsReasonAndProcessingGoesOn) {
  StartProcessor();
  const int64_t ts = NowMs();
  auto& pub = client_->publisher();
  pub.Publish("location.driver.demo", "bad-json", "{not json");
  pub.Publish(
      "location.driver.demo", "bad-range",
      R"({"driver_id":"x","lat":95,"lon":0,"status":"available","ts":)" + std::to_string(ts) + "}");
  pub.Publish("location.request.demo", "bad-schema",
              R"({"rider_id":"u","lat":40.7,"lon":-74,"ts":1})");
  pub.Publish(
      "location.request.paris", "bad-city",
      R"({"request_id":"p","rider_id":"u","lat":48.8,"lon":2.3,"ts":)" + std::to_string(ts) + "}");
  pub.Publish("location.request.demo", "bad-late",
              R"({"request_id":"old","rider_id":"u","lat":40.715,"lon":-74.005,"ts":)" +
                  std::to_string(ts - 60000) + "}");
  pub.Publish("location.request.demo", "bad-future",
              R"({"request_id":"new","rider_id":"u","lat":40.715,"lon":-74.005,"ts":)" +
                  std::to_string(ts + 600000) + "}");
  ASSERT_TRUE(pub.Flush(10000));
  PublishEvents(600, 3.0);
  std::map<std::string, std::string> reasons;  // original id -> reason
  ASSERT_TRUE(WaitFor(
      [&] {
        reasons.clear();
        for (auto& m : ReadStream(*client_, "DEAD_LETTERS", "dlq.>")) {
          reasons[m.headers["Nats-Msg-Id"]] = m.headers["Pricing-Reject-Reason"] + " " + m.subject;
        }
        return reasons.size() >= 6;
      },
      15000));
  EXPECT_EQ(reasons["bad-json"], "malformed dlq.location.demo");
  EXPECT_EQ(reasons["bad-range"], "range dlq.location.demo");
  EXPECT_EQ(reasons["bad-schema"], "schema dlq.location.demo");
  EXPECT_EQ(reasons["bad-city"], "unknown_city dlq.location.paris");
  EXPECT_EQ(reasons["bad-late"], "late dlq.location.demo");
  EXPECT_EQ(reasons["bad-future"], "future dlq.location.demo");
  ExpectLiveEqualsReplay();  // the good events are priced as if the bad ones never came
  const auto dlq = ReadStream(*client_, "DEAD_LETTERS", "dlq.location.demo");
  ASSERT_FALSE(dlq.empty());
  EXPECT_EQ(dlq[0].data, "{not json");  // the original payload, unchanged
}

TEST_F(LiveProcessorTest, DuplicateMessageIdsAreStoredAndCountedOnce) {
  StartProcessor();
  auto& pub = client_->publisher();
  const std::string payload = R"({"driver_id":"dup","lat":40.705,"lon":-74.015,)"
                              R"("status":"available","ts":)" +
                              std::to_string(NowMs()) + "}";
  for (int i = 0; i < 3; ++i) {
    pub.Publish("location.driver.demo", "dup-1", payload);
    ASSERT_TRUE(pub.Flush(10000));
  }
  EXPECT_EQ(pub.stats().duplicates.load(), 2u) << "the broker reports the copies as duplicates";
  EXPECT_EQ(GetStreamState(client_->js(), "LOCATION_EVENTS").messages, 1u);
  ASSERT_TRUE(WaitFor(
      [&] {
        return GetConsumerState(client_->js(), "LOCATION_EVENTS", "pricing-processor")
                   .ack_floor_stream_seq == 1;
      },
      10000));
  EXPECT_EQ(MetricSum(HttpGet(http_port_, "/metrics").body, "pricing_events_read_total"), 1.0);
}

TEST_F(LiveProcessorTest, ConfigUpdateAppliesFromTheNextTickAndStaleVersionsAreRefused) {
  StartProcessor();
  auto& pub = client_->publisher();
  pub.Publish("config.pricing.demo", "cfg-2",
              R"({"version":2,"cap":1.1,"overrides":{"5":{"fixed":1.7}}})");
  ASSERT_TRUE(pub.Flush(10000));
  std::vector<StoredMessage> answers;
  ASSERT_TRUE(WaitFor(
      [&] {
        answers = ReadStream(*client_, "CONFIG_UPDATES", "config.applied.demo");
        return !answers.empty();
      },
      15000));
  EXPECT_EQ(answers[0].data, R"({"version":2,"accepted":true})");
  pub.Publish("config.pricing.demo", "cfg-1", R"({"version":1,"cap":2.0})");
  pub.Publish("config.pricing.demo", "cfg-3-bad", R"({"version":3,"alpha_up":7})");
  ASSERT_TRUE(pub.Flush(10000));
  ASSERT_TRUE(WaitFor(
      [&] {
        answers = ReadStream(*client_, "CONFIG_UPDATES", "config.applied.demo");
        return answers.size() >= 3;
      },
      15000));
  EXPECT_EQ(
      answers[1].data,
      R"j({"version":1,"accepted":false,"error":"version 1 is not greater than the version in force (2)"})j");
  EXPECT_NE(
      answers[2].data.find(R"("accepted":false,"error":"config update: key 'model.alpha_up')"),
      std::string::npos)
      << answers[2].data;
  // Ticks after the update carry version 2: zone 5 fixed at 1.7, everything else capped at 1.1.
  const int64_t after = NowMs() + 2 * kInterval;
  Updates live;
  ASSERT_TRUE(WaitFor(
      [&] {
        live = LiveUpdates();
        return !live.empty() && live.rbegin()->first.first > after;
      },
      15000));
  for (const auto& [key, u] : live) {
    if (key.first <= after) continue;
    EXPECT_EQ(u.config_version, 2);
    if (key.second == "5") {
      EXPECT_EQ(u.multiplier, 1.7);
    } else {
      EXPECT_LE(u.multiplier, 1.1);
    }
  }
}

// `pricing config send`: what the document changes against what is in force, and the
// processor's answer; exit 0 only when it was accepted.
TEST_F(LiveProcessorTest, ConfigSendPrintsWhatChangesAndTheProcessorsAnswer) {
  StartProcessor();
  auto send = [&](const std::string& document, std::string* output) {
    return Pricing("config send --config " + (dir_ / "pricing.yaml").string() +
                       " --city demo --document '" + document + "'",
                   output);
  };
  std::string out;
  EXPECT_EQ(send(R"({"version":2,"cap":1.1,"overrides":{"5":{"fixed":1.7}}})", &out), 0) << out;
  EXPECT_NE(out.find("in force for demo: version 0"), std::string::npos) << out;
  EXPECT_NE(out.find("  cap: 3 -> 1.1\n  overrides.5: none -> fixed 1.7\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find(R"(config.applied.demo {"version":2,"accepted":true})"), std::string::npos)
      << out;
  // The same version again: the history says version 2 is in force, and the processor
  // refuses it; the command exits 1.
  out.clear();
  EXPECT_EQ(send(R"({"version":2,"cap":1.2})", &out), 1) << out;
  EXPECT_NE(out.find("in force for demo: version 2"), std::string::npos) << out;
  EXPECT_NE(out.find("expected to refuse it: version 2 is not greater"), std::string::npos) << out;
  EXPECT_NE(out.find(R"({"version":2,"accepted":false,"error":"version 2 is not greater)"),
            std::string::npos)
      << out;
}

// `pricing backtest --from-stream` reads what LOCATION_EVENTS stored over a time range
// and gives the very files that the same events in a file give.
TEST_F(LiveProcessorTest, BacktestFromTheStreamEqualsTheSameEventsFromAFile) {
  StartProcessor();  // a live day: the processor runs (and made the streams)
  const std::string since = FormatUtc(NowMs() - 1000);
  PublishEvents(600, 3.0);
  PricingYaml()
      .Timing(kWindow / 1000, kInterval / 1000, 300)
      .Set("nats_url", cluster_->urls())
      .Set("model", "{cap: 1.3, sensitivity: 0.7}")
      .GridCity("zones.geojson")
      .Write(dir_ / "b.yaml");
  std::string input;
  for (const auto& p : published_) input += ReplayInputLine(p.subject, p.payload);
  std::ofstream(dir_ / "events.jsonl") << input;
  const std::string a = (dir_ / "pricing.yaml").string(), b = (dir_ / "b.yaml").string();
  std::string out;
  ASSERT_EQ(
      Pricing("backtest --config " + a + " --against " + b + " --events " +
                  (dir_ / "events.jsonl").string() + " --out " + (dir_ / "from-file").string(),
              &out),
      0)
      << out;
  ASSERT_EQ(Pricing("backtest --config " + a + " --against " + b + " --from-stream --since " +
                        since + " --until 0s --out " + (dir_ / "from-stream").string(),
                    &out),
            0)
      << out;
  EXPECT_NE(out.find("read 600 events stored from " + since), std::string::npos) << out;
  const auto read = [&](const std::string& folder, const char* name) {
    std::ifstream in(dir_ / folder / name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string csv = read("from-stream", "diff.csv");
  EXPECT_GT(std::count(csv.begin(), csv.end(), '\n'), 9) << "a header and a row per zone-tick";
  EXPECT_EQ(csv, read("from-file", "diff.csv"));
  EXPECT_EQ(read("from-stream", "report.html"), read("from-file", "report.html"));
  // A range that holds nothing, and a range that is no range.
  out.clear();
  EXPECT_EQ(Pricing("backtest --config " + a + " --against " + b +
                        " --from-stream --since 2h --until 1h --out " + (dir_ / "none").string(),
                    &out),
            0)
      << out;
  EXPECT_NE(out.find("read 0 events"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(Pricing("backtest --config " + a + " --against " + b +
                        " --from-stream --since 1h --until 2h --out " + (dir_ / "none").string(),
                    &out),
            2)
      << out;
  EXPECT_NE(out.find("--until must come after --since"), std::string::npos) << out;
}

TEST_F(LiveProcessorTest, MetricsAndHealthOverHttpFollowTheRunAndTheCluster) {
  StartProcessor();
  EXPECT_EQ(HttpGet(http_port_, "/healthz").status, 200);
  PublishEvents(600, 2.5);
  ExpectLiveEqualsReplay();
  ASSERT_TRUE(WaitFor([&] { return HttpGet(http_port_, "/readyz").status == 200; }, 10000))
      << HttpGet(http_port_, "/readyz").body;

  int drivers = 0, requests = 0;
  for (const auto& p : published_)
    (p.subject.find(".driver.") != std::string::npos ? drivers : requests)++;
  std::string m;
  // Every event's first tick is published and acknowledged, and a health round has
  // read the stream since the last publish.
  ASSERT_TRUE(WaitFor(
      [&] {
        m = HttpGet(http_port_, "/metrics").body;
        return MetricValue(m, R"(pricing_event_to_publish_seconds_count{city="demo"})") == 600 &&
               MetricValue(m, R"(pricing_stream_messages{stream="LOCATION_EVENTS"})") == 600;
      },
      10000))
      << m;
  EXPECT_EQ(MetricValue(m, R"(pricing_events_read_total{city="demo",kind="driver"})"), drivers);
  EXPECT_EQ(MetricValue(m, R"(pricing_events_read_total{city="demo",kind="request"})"), requests);
  EXPECT_EQ(MetricValue(m, R"(pricing_events_rejected_total{city="demo",reason="late"})"), 0);
  EXPECT_GE(MetricValue(m, R"(pricing_ticks_closed_total{city="demo"})"), 3);
  for (int zone = 1; zone <= 9; ++zone) {
    const double q = MetricValue(
        m, R"(pricing_zone_multiplier{city="demo",zone=")" + std::to_string(zone) + R"("})");
    EXPECT_GE(q, 1.0) << "zone " << zone;  // floor 1; the window has emptied since
  }
  EXPECT_EQ(MetricValue(m, "pricing_consumer_pending_messages"), 0);
  EXPECT_EQ(MetricValue(m, "pricing_nats_connected"), 1);
  EXPECT_EQ(MetricValue(m, "pricing_ready"), 1);
  EXPECT_GT(MetricValue(m, "pricing_publish_acked_total"), 0);
  EXPECT_EQ(MetricValue(m, "pricing_publish_failed_total"), 0);
  // Latency: from ts to PubAck is at least the wait for the tick to close.
  EXPECT_EQ(MetricValue(m, R"(pricing_event_to_publish_seconds_bucket{city="demo",le="0.05"})"), 0);

  // Two of three servers frozen: no quorum, so tick updates are no longer stored and
  // prices go stale: not ready, though the process is alive. Thawed: ready again.
  cluster_->Kill(0, SIGSTOP);
  cluster_->Kill(1, SIGSTOP);
  const bool went_unready =
      WaitFor([&] { return HttpGet(http_port_, "/readyz").status == 503; }, 20000);
  const std::string unready = HttpGet(http_port_, "/readyz").body;
  EXPECT_EQ(HttpGet(http_port_, "/healthz").status, 200);
  for (int node = 0; node < 2; ++node) cluster_->Kill(node, SIGCONT);
  EXPECT_TRUE(went_unready) << "readyz stayed 200 without a JetStream quorum";
  EXPECT_NE(unready.find(R"("ok":false)"), std::string::npos) << unready;
  EXPECT_TRUE(WaitFor([&] { return HttpGet(http_port_, "/readyz").status == 200; }, 30000))
      << HttpGet(http_port_, "/readyz").body;
}

// Two processors on the same work, started together before any event: both go ahead
// unpinned, the first event pins one, and the other stands by. The prices are one
// processor's: no event counted twice, none missed.
TEST_F(LiveProcessorTest, TwoProcessorsPublishThePricesOfOneAndOneStandsBy) {
  StartProcessor();
  StartSecond("processing LOCATION_EVENTS");
  PublishEvents(1200, 5.0);
  ExpectLiveEqualsReplay();
  const int active = OneActiveOneStandby();
  const int standby = active == http_port_ ? second_http_port_ : http_port_;
  const std::string m = HttpGet(active, "/metrics").body;
  const std::string s = HttpGet(standby, "/metrics").body;
  EXPECT_EQ(MetricValue(m, "pricing_active"), 1) << m;
  EXPECT_EQ(MetricValue(s, "pricing_active"), 0) << s;
  EXPECT_EQ(HttpGet(standby, "/readyz").status, 200) << HttpGet(standby, "/readyz").body;
  // Every event was applied by one of them (the active one, or the one that was before
  // it stood by): the standby applies nothing while it stands by.
  ASSERT_TRUE(WaitFor(
      [&] {
        const ConsumerState c =
            GetConsumerState(client_->js(), "LOCATION_EVENTS", "pricing-processor");
        return c.ack_floor_stream_seq == published_.size();
      },
      15000));
  const double standby_applied_before =
      MetricValue(s, R"(pricing_events_read_total{city="demo",kind="driver"})");
  PublishEvents(300, 1.5, 1200);
  ExpectLiveEqualsReplay();
  EXPECT_EQ(MetricValue(HttpGet(standby, "/metrics").body,
                        R"(pricing_events_read_total{city="demo",kind="driver"})"),
            standby_applied_before);
}

// The active processor is killed under load: the standby takes over within the
// priority timeout plus its recovery, restores the checkpoint, rebuilds, and the
// outputs are those of an uninterrupted run.
TEST_F(LiveProcessorTest, KilledActiveProcessorIsReplacedByTheStandbyWithExactOutputs) {
  StartProcessor();
  PublishEvents(300, 1.5);
  StartSecond("standby: another processor is pinned");
  EXPECT_EQ(Role(second_http_port_), "standby");
  std::thread publisher([&] { PublishEvents(1500, 6.0, 300); });
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  processor_->Signal(SIGKILL);
  const int64_t killed = NowMs();
  EXPECT_EQ(processor_->Wait(5000), 128 + SIGKILL);
  const bool took_over = WaitFor(
      [&] {
        return CountLinesContaining(dir_ / "processor-second.log", "processing LOCATION_EVENTS") >
               0;
      },
      20000);
  const int64_t takeover_ms = NowMs() - killed;
  publisher.join();
  ASSERT_TRUE(took_over) << "the standby did not take over";
  std::printf("takeover: %lld ms after SIGKILL (takeover_after_seconds 2)\n",
              static_cast<long long>(takeover_ms));
  RecordProperty("takeover_ms", std::to_string(takeover_ms));
  ExpectLiveEqualsReplay();
  EXPECT_EQ(Role(second_http_port_), "active");
}

// The active processor is frozen past the timeout: the standby takes over. Thawed, the
// old one finds its pin gone, drops its state and stands by; nothing it held is
// published, and the outputs stay exact.
TEST_F(LiveProcessorTest, FrozenActiveProcessorIsReplacedAndStandsByWhenThawed) {
  StartProcessor();
  PublishEvents(300, 1.5);
  StartSecond("standby: another processor is pinned");
  std::thread publisher([&] { PublishEvents(1200, 5.0, 300); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  processor_->Signal(SIGSTOP);
  const bool took_over = WaitFor(
      [&] {
        return CountLinesContaining(dir_ / "processor-second.log", "processing LOCATION_EVENTS") >
               0;
      },
      20000);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  processor_->Signal(SIGCONT);
  publisher.join();
  ASSERT_TRUE(took_over) << "the standby did not take over from a frozen processor";
  EXPECT_TRUE(WaitFor(
      [&] {
        return CountLinesContaining(dir_ / "processor.log", "starting again as a standby") > 0;
      },
      20000))
      << "the thawed processor did not notice it lost its pin";
  EXPECT_TRUE(processor_->Running()) << "it starts again in the same process";
  ExpectLiveEqualsReplay();
  EXPECT_TRUE(WaitFor([&] { return Role(http_port_) == "standby"; }, 20000))
      << HttpGet(http_port_, "/readyz").body;
  EXPECT_EQ(Role(second_http_port_), "active");
}

}  // namespace
}  // namespace pricing::test
