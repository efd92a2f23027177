// The pricing operator driven without a server: a fake source (input records built
// here), a fake sink (the actions, collected and answered by the test) and time
// passed in by hand.
#include "operator/pricing_operator.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/partials.h"
#include "events/subject.h"
#include "test_util.h"

namespace pricing {
namespace {

constexpr int64_t kT = 1'700'000'000'000;  // on the 5 s grid

TimingParams Timing() { return {5000, 30000, 1000, 10000}; }

std::string Ping(const std::string& id, double x, double y, int64_t ts) {
  return R"({"driver_id":")" + id + R"(","lat":)" + std::to_string(y) + R"(,"lon":)" +
         std::to_string(x) + R"(,"status":"available","ts":)" + std::to_string(ts) + "}";
}

std::string Request(const std::string& rider, double x, double y, int64_t ts) {
  return R"({"request_id":"r-)" + rider + std::to_string(ts) + R"(","rider_id":")" + rider +
         R"(","lat":)" + std::to_string(y) + R"(,"lon":)" + std::to_string(x) + R"(,"ts":)" +
         std::to_string(ts) + "}";
}

Headers TestHeaders(const void* source) { return *static_cast<const Headers*>(source); }

// One input as the fake source stores it.
struct Stored {
  std::string subject;
  std::string payload;
  int64_t stored_ms = 0;
  Headers headers;
};

// An engine on two side-by-side zones ("1", "2") of city "demo", and its operator.
class Harness {
 public:
  explicit Harness(OperatorOptions options = {})
      : engine_(Timing(), clock_), op_(Setup(engine_), std::move(options)) {}

  PricingOperator& op() { return op_; }
  PricingEngine& engine() { return engine_; }

  InputRecord Record(const Stored& s, uint64_t seq, uint64_t delivered = 1, uint64_t pending = 0) {
    InputRecord r;
    r.subject = s.subject;
    r.payload = s.payload;
    r.position.seq = seq;
    r.stored_ms = s.stored_ms;
    r.delivered = delivered;
    r.pending = pending;
    r.token = seq * 100 + delivered;
    r.read_headers = &TestHeaders;
    r.source = &s.headers;
    return r;
  }

  // Feeds one input; collects its actions.
  Disposition Deliver(const Stored& s, uint64_t seq, int64_t now_ms, uint64_t delivered = 1,
                      uint64_t pending = 0) {
    return op_.OnInput(Record(s, seq, delivered, pending), now_ms, &actions_);
  }

  // Stores every publish still unanswered (in order), which may emit more actions
  // (acks, checkpoints); repeats until nothing is left to store.
  void StoreAll(int64_t now_ms) {
    while (true) {
      std::vector<uint64_t> unanswered;
      for (const Action& a : actions_) {
        if (a.kind == Action::Kind::kPublish && !answered_.contains(a.publish))
          unanswered.push_back(a.publish);
      }
      if (unanswered.empty()) return;
      for (uint64_t id : unanswered) {
        answered_.insert(id);
        op_.OnStored(id, now_ms, &actions_);
      }
    }
  }

  std::vector<Action> Take(Action::Kind kind) const {
    std::vector<Action> out;
    for (const Action& a : actions_)
      if (a.kind == kind) out.push_back(a);
    return out;
  }
  std::vector<Action> Publishes(PublishKind what) const {
    std::vector<Action> out;
    for (const Action& a : actions_)
      if (a.kind == Action::Kind::kPublish && a.what == what) out.push_back(a);
    return out;
  }
  std::vector<Action>& actions() { return actions_; }
  std::set<uint64_t>& answered() { return answered_; }

 private:
  static PricingEngine& Setup(PricingEngine& engine) {
    engine.AddCity("demo", test::MakeCityZones(test::GridZones(2, 1)), ModelParams{});
    return engine;
  }

  ManualClock clock_{kT};
  PricingEngine engine_;
  PricingOperator op_;
  std::vector<Action> actions_;
  std::set<uint64_t> answered_;
};

std::string Field(const std::string& json, const char* key) {
  simdjson::dom::parser parser;
  simdjson::dom::element e = parser.parse(json)[key];
  std::string_view text;
  if (e.get_string().get(text) == simdjson::SUCCESS) return std::string(text);
  return simdjson::minify(e);
}

// The zone updates' demand by tick and zone id, from the published tick outputs.
std::map<std::pair<int64_t, std::string>, std::string> Updates(const std::vector<Action>& actions) {
  std::map<std::pair<int64_t, std::string>, std::string> out;
  for (const Action& a : actions) {
    if (a.kind != Action::Kind::kPublish || a.what != PublishKind::kTickOutput ||
        !a.subject.starts_with("pricing.update."))
      continue;
    std::string payload = a.payload;
    // computed_at is the wall clock's: not part of the comparison.
    const auto at = payload.find(",\"computed_at\"");
    if (at != std::string::npos) payload.erase(at, payload.find('}', at) - at);
    out[{std::stoll(Field(a.payload, "tick")), Field(a.payload, "zone_id")}] = payload;
  }
  return out;
}

TEST(PricingOperator, AppliesAnEventAndAcknowledgesIt) {
  Harness h;
  h.op().Restore("demo", std::nullopt, kT);
  const Stored s{"location.request.demo", Request("u", 0.005, 0.005, kT + 1200), kT + 1200, {}};
  EXPECT_EQ(h.Deliver(s, 1, kT + 1200), Disposition::kAcked);
  ASSERT_EQ(h.Take(Action::Kind::kAck).size(), 1u);
  EXPECT_EQ(h.Take(Action::Kind::kAck)[0].token, 101u);
  EXPECT_EQ(h.op().counters().applied.load(), 1u);
  EXPECT_EQ(h.op().city_counters("demo")->read[static_cast<int>(EventKind::kRideRequest)].load(),
            1u);
  EXPECT_EQ(h.op().max_applied_seq(), 1u);
}

TEST(PricingOperator, ARedeliveryOfAnAppliedEventIsAcknowledgedNotCountedTwice) {
  Harness h;
  h.op().Restore("demo", std::nullopt, kT);
  const Stored s{"location.request.demo", Request("u", 0.005, 0.005, kT + 1200), kT + 1200, {}};
  h.Deliver(s, 1, kT + 1200);
  // The ack was lost: the source delivers it again.
  EXPECT_EQ(h.Deliver(s, 1, kT + 1300, 2), Disposition::kAcked);
  EXPECT_EQ(h.Take(Action::Kind::kAck).size(), 2u);
  EXPECT_EQ(h.op().counters().applied.load(), 1u);
  EXPECT_EQ(h.op().counters().skipped.load(), 1u);
  h.op().OnTime(kT + 6000, true, &h.actions());
  const auto updates = Updates(h.actions());
  EXPECT_EQ(Field(updates.at({kT + 5000, "1"}), "demand"), "1");
}

TEST(PricingOperator, ABadEventIsAcknowledgedOnlyOnceItsDeadLetterIsStored) {
  Harness h;
  h.op().Restore("demo", std::nullopt, kT);
  const Stored bad{"location.driver.demo",
                   R"({"driver_id":"d","lat":95,"lon":0.005,"status":"available","ts":1})",
                   kT + 100,
                   {{"Nats-Msg-Id", "ping-7"}, {"Trace", "abc"}}};
  EXPECT_EQ(h.Deliver(bad, 4, kT + 100), Disposition::kHeld);
  EXPECT_TRUE(h.Take(Action::Kind::kAck).empty()) << "acknowledged before the dead letter";
  const auto dl = h.Publishes(PublishKind::kDeadLetter);
  ASSERT_EQ(dl.size(), 1u);
  EXPECT_EQ(dl[0].subject, "dlq.location.demo");
  EXPECT_EQ(dl[0].msg_id, "ping-7");  // the original id
  EXPECT_EQ(dl[0].payload, bad.payload);
  const Headers want{{"Trace", "abc"},
                     {"Pricing-Reject-Reason", "range"},
                     {"Pricing-Reject-Detail", dl[0].headers[2].second},
                     {"Pricing-Original-Subject", "location.driver.demo"},
                     {"Pricing-Stream-Seq", "4"}};
  EXPECT_EQ(dl[0].headers, want);
  h.op().OnStored(dl[0].publish, kT + 200, &h.actions());
  ASSERT_EQ(h.Take(Action::Kind::kAck).size(), 1u);
  EXPECT_EQ(h.Take(Action::Kind::kAck)[0].token, 401u);
  EXPECT_EQ(h.op().city_counters("demo")->dead_lettered.load(), 1u);
  EXPECT_EQ(h.op().city_counters("demo")->rejected[static_cast<int>(RejectReason::kRange)].load(),
            1u);
}

TEST(PricingOperator, ADeadLetterThatCannotBeStoredSendsItsInputBack) {
  Harness h;
  h.op().Restore("demo", std::nullopt, kT);
  const Stored bad{"location.driver.demo", "not json", kT + 100, {}};
  h.Deliver(bad, 1, kT + 100);
  const auto dl = h.Publishes(PublishKind::kDeadLetter);
  ASSERT_EQ(dl.size(), 1u);
  EXPECT_EQ(dl[0].msg_id, "LOCATION_EVENTS:1");  // no id of its own: its place names it
  h.op().OnFailed(dl[0].publish, &h.actions());
  ASSERT_EQ(h.Take(Action::Kind::kNak).size(), 1u);
  EXPECT_TRUE(h.Take(Action::Kind::kAck).empty());
  // Delivered again, dead-lettered again, and this time stored: acknowledged.
  h.Deliver(bad, 1, kT + 1200, 2);
  const auto again = h.Publishes(PublishKind::kDeadLetter);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[1].msg_id, "LOCATION_EVENTS:1");  // a duplicate for the broker
  h.op().OnStored(again[1].publish, kT + 1300, &h.actions());
  ASSERT_EQ(h.Take(Action::Kind::kAck).size(), 1u);
  EXPECT_EQ(h.Take(Action::Kind::kAck)[0].token, 102u);
}

TEST(PricingOperator, APoisonEventIsRetriedWithBackOffThenDeadLetteredAtMaxDeliver) {
  OperatorOptions options;
  options.max_deliver = 3;
  options.failpoint_ingest = "poison-rider";
  Harness h(options);
  h.op().Restore("demo", std::nullopt, kT);
  const Stored poison{
      "location.request.demo", Request("poison-rider", 0.005, 0.005, kT + 100), kT + 100, {}};
  const Stored good{"location.request.demo", Request("u", 0.005, 0.005, kT + 200), kT + 200, {}};
  EXPECT_EQ(h.Deliver(poison, 1, kT + 100, 1), Disposition::kNaked);
  EXPECT_EQ(h.Deliver(good, 2, kT + 200), Disposition::kAcked);
  EXPECT_EQ(h.Deliver(poison, 1, kT + 1100, 2), Disposition::kNaked);
  const auto naks = h.Take(Action::Kind::kNak);
  ASSERT_EQ(naks.size(), 2u);
  EXPECT_EQ(naks[0].delay_ms, 1000);
  EXPECT_EQ(naks[1].delay_ms, 2000);
  // seq 1 is below what was applied (2), yet it was never applied: not skipped.
  EXPECT_EQ(h.Deliver(poison, 1, kT + 3100, 3), Disposition::kHeld);
  const auto dl = h.Publishes(PublishKind::kDeadLetter);
  ASSERT_EQ(dl.size(), 1u);
  EXPECT_EQ(dl[0].headers[0],
            (std::pair<std::string, std::string>{"Pricing-Reject-Reason", "poison"}));
  EXPECT_EQ(h.op().counters().failed.load(), 2u);
  EXPECT_EQ(h.op().counters().poison.load(), 1u);
  h.op().OnStored(dl[0].publish, kT + 3200, &h.actions());
  EXPECT_EQ(h.Take(Action::Kind::kAck).size(), 2u);  // the good one, then the poison one
}

TEST(PricingOperator, ABacklogIsPricedOnStoredTimesNotOnTheWallClock) {
  Harness h;
  h.op().Restore("demo", std::nullopt, kT);
  // Stored live over 20 s, read a minute later in one backlog.
  const int64_t late_wall = kT + 80'000;
  std::vector<Stored> backlog;
  for (int i = 0; i < 20; ++i) {
    const int64_t ts = kT + 500 + i * 1000;
    backlog.push_back(
        {"location.request.demo", Request("r" + std::to_string(i), 0.005, 0.005, ts), ts + 50, {}});
  }
  for (std::size_t i = 0; i < backlog.size(); ++i) {
    const auto d = h.Deliver(backlog[i], i + 1, late_wall, 1, backlog.size() - 1 - i);
    ASSERT_EQ(d, Disposition::kAcked) << "event " << i << " refused as late";
  }
  h.op().OnTime(late_wall, true, &h.actions());
  const auto updates = Updates(h.actions());
  // Each tick counted what had happened by then, as a live run would have.
  EXPECT_EQ(Field(updates.at({kT + 5000, "1"}), "demand"), "5");
  EXPECT_EQ(Field(updates.at({kT + 10000, "1"}), "demand"), "10");
  EXPECT_EQ(Field(updates.at({kT + 20000, "1"}), "demand"), "20");
}

// A backlog read in two partitions comes partition by partition: partition 0's whole
// 20 s, then partition 1's. Ticks close only as far as the other partition with more
// waiting has read (others_stored_ms), so each counts both partitions' events, as the
// same backlog read in stored order does.
TEST(PricingOperator, ABacklogOfTwoPartitionsClosesTicksOnlyAsFarAsBothWereRead) {
  const int64_t late_wall = kT + 80'000;
  std::vector<Stored> events[2];
  for (int i = 0; i < 40; ++i) {
    const int64_t ts = kT + 250 + i * 500;
    events[i % 2].push_back(
        {"location.request.demo", Request("r" + std::to_string(i), 0.005, 0.005, ts), ts + 50, {}});
  }
  const auto run = [&](bool hold) {
    Harness h;
    h.op().Restore("demo", std::nullopt, kT);
    for (int p = 0; p < 2; ++p) {
      for (std::size_t i = 0; i < events[p].size(); ++i) {
        InputRecord r = h.Record(events[p][i], i + 1, 1, events[p].size() - i);
        r.position.partition = p;
        // The other partition: not read yet (0) while 0 is read; then read to its end,
        // with nothing waiting (no bound).
        if (hold) r.others_stored_ms = p == 0 ? 0 : INT64_MAX;
        EXPECT_EQ(h.op().OnInput(r, late_wall, &h.actions()), Disposition::kAcked)
            << "partition " << p << " event " << i;
      }
    }
    h.op().OnTime(late_wall, true, &h.actions());
    return Updates(h.actions());
  };
  const auto held = run(true);
  EXPECT_EQ(Field(held.at({kT + 5000, "1"}), "demand"), "10");
  EXPECT_EQ(Field(held.at({kT + 10000, "1"}), "demand"), "20");
  EXPECT_EQ(Field(held.at({kT + 20000, "1"}), "demand"), "40");
  // Without the hold, partition 0's stored times close the ticks before partition 1's
  // events are read (its events then come late): this is what the hold prevents.
  const auto unheld = run(false);
  EXPECT_NE(Field(unheld.at({kT + 5000, "1"}), "demand"), "10");
}

TEST(PricingOperator, LateAndFutureEventsAreDeadLetteredWithTheirReason) {
  Harness h;
  h.op().Restore("demo", std::nullopt, kT);
  const Stored first{"location.request.demo", Request("a", 0.005, 0.005, kT + 100), kT + 100, {}};
  h.Deliver(first, 1, kT + 100);
  h.op().OnTime(kT + 40'000, true, &h.actions());  // ticks up to kT + 35 s closed
  const Stored late{
      "location.request.demo", Request("b", 0.005, 0.005, kT + 1000), kT + 40'000, {}};
  const Stored future{
      "location.request.demo", Request("c", 0.005, 0.005, kT + 60'000), kT + 40'000, {}};
  EXPECT_EQ(h.Deliver(late, 2, kT + 40'000), Disposition::kHeld);
  EXPECT_EQ(h.Deliver(future, 3, kT + 40'000), Disposition::kHeld);
  const auto dl = h.Publishes(PublishKind::kDeadLetter);
  ASSERT_EQ(dl.size(), 2u);
  EXPECT_EQ(dl[0].headers[0].second, "late");
  EXPECT_EQ(dl[1].headers[0].second, "future");
}

TEST(PricingOperator, AConfigurationChangeAppliesFromTheNextTickAndIsAnsweredOnce) {
  Harness h;
  h.op().Restore("demo", std::nullopt, kT);
  const Stored s{"location.request.demo", Request("u", 0.005, 0.005, kT + 100), kT + 100, {}};
  h.Deliver(s, 1, kT + 100);
  h.op().OnTime(kT + 6000, true, &h.actions());
  h.op().OnConfig("config.pricing.demo", R"({"version":2,"sensitivity":0.5})", 7, &h.actions());
  h.op().OnTime(kT + 11000, true, &h.actions());
  const auto updates = Updates(h.actions());
  EXPECT_EQ(Field(updates.at({kT + 5000, "1"}), "config_version"), "0");
  EXPECT_EQ(Field(updates.at({kT + 10000, "1"}), "config_version"), "2");
  auto answers = h.Publishes(PublishKind::kConfigAnswer);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].subject, "config.applied.demo");
  EXPECT_EQ(answers[0].msg_id, "demo:applied:7");
  EXPECT_EQ(answers[0].payload, R"({"version":2,"accepted":true})");
  // A stale version is refused, and answered.
  h.op().OnConfig("config.pricing.demo", R"({"version":1})", 8, &h.actions());
  answers = h.Publishes(PublishKind::kConfigAnswer);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_NE(answers[1].payload.find("\"accepted\":false"), std::string::npos);
  // A document answered by an earlier run is applied again at start, not answered.
  Harness restarted;
  restarted.op().SetAnswered("demo", 8);
  restarted.op().OnConfig("config.pricing.demo", R"({"version":2,"sensitivity":0.5})", 7,
                          &restarted.actions());
  EXPECT_TRUE(restarted.Publishes(PublishKind::kConfigAnswer).empty());
  EXPECT_EQ(restarted.engine().city("demo")->config_version(), 2);
}

TEST(PricingOperator, ACheckpointFollowsOnlyOnceEveryMessageOfItsTickIsStored) {
  Harness h;
  h.op().Restore("demo", std::nullopt, kT);
  h.Deliver({"location.request.demo", Request("u", 0.005, 0.005, kT + 100), kT + 100, {}}, 1,
            kT + 100);
  h.op().OnTime(kT + 6000, true, &h.actions());
  const auto outputs = h.Publishes(PublishKind::kTickOutput);
  ASSERT_EQ(outputs.size(), 4u);  // two zone updates, the surge event, the analytics summary
  for (std::size_t i = 0; i + 1 < outputs.size(); ++i)
    h.op().OnStored(outputs[i].publish, kT + 6100, &h.actions());
  EXPECT_TRUE(h.Publishes(PublishKind::kCheckpoint).empty());
  h.op().OnStored(outputs.back().publish, kT + 6200, &h.actions());
  const auto cp = h.Publishes(PublishKind::kCheckpoint);
  ASSERT_EQ(cp.size(), 1u);
  EXPECT_EQ(cp[0].subject, "pricing.state.demo");
  EXPECT_EQ(cp[0].msg_id, "demo:state:" + std::to_string(kT + 5000));
  EXPECT_EQ(h.op().city_counters("demo")->last_stored_tick.load(), kT + 5000);
  h.op().OnStored(cp[0].publish, kT + 6300, &h.actions());
  EXPECT_EQ(h.op().counters().checkpoints.load(), 1u);
}

TEST(PricingOperator, ATickWithAFailedMessageGetsNoCheckpoint) {
  Harness h;
  h.op().Restore("demo", std::nullopt, kT);
  h.Deliver({"location.request.demo", Request("u", 0.005, 0.005, kT + 100), kT + 100, {}}, 1,
            kT + 100);
  h.op().OnTime(kT + 6000, true, &h.actions());
  const auto outputs = h.Publishes(PublishKind::kTickOutput);
  h.op().OnFailed(outputs[0].publish, &h.actions());
  for (std::size_t i = 1; i < outputs.size(); ++i)
    h.op().OnStored(outputs[i].publish, kT + 6100, &h.actions());
  EXPECT_TRUE(h.Publishes(PublishKind::kCheckpoint).empty());
  EXPECT_EQ(h.op().city_counters("demo")->last_stored_tick.load(), 0);
}

TEST(PricingOperator, RestartFromACheckpointWithTheRebuildEqualsAnUninterruptedRun) {
  // Events every 250 ms for 60 s: drivers in zone 1 moving to zone 2, riders in both.
  std::vector<Stored> events;
  for (int i = 0; i < 240; ++i) {
    const int64_t ts = kT + 100 + i * 250;
    const double x = (i % 7 < 4) ? 0.005 : 0.015;
    if (i % 3 == 0)
      events.push_back({"location.request.demo",
                        Request("r" + std::to_string(i % 11), x, 0.005, ts),
                        ts + 20,
                        {}});
    else
      events.push_back(
          {"location.driver.demo", Ping("d" + std::to_string(i % 13), x, 0.005, ts), ts + 20, {}});
  }
  // The uninterrupted run: each event read as it is stored, ticks on the wall clock.
  Harness full;
  full.op().Restore("demo", std::nullopt, kT);
  for (std::size_t i = 0; i < events.size(); ++i) {
    full.op().OnTime(events[i].stored_ms, true, &full.actions());
    full.Deliver(events[i], i + 1, events[i].stored_ms);
  }
  full.op().OnTime(kT + 70'000, true, &full.actions());
  full.StoreAll(kT + 70'000);

  // The crashed run: the same up to 31.2 s, all stored, then gone.
  Harness crashed;
  crashed.op().Restore("demo", std::nullopt, kT);
  std::size_t delivered = 0;
  for (; events[delivered].stored_ms < kT + 31'200; ++delivered) {
    crashed.op().OnTime(events[delivered].stored_ms, true, &crashed.actions());
    crashed.Deliver(events[delivered], delivered + 1, events[delivered].stored_ms);
  }
  crashed.StoreAll(kT + 31'200);
  const auto checkpoints = crashed.Publishes(PublishKind::kCheckpoint);
  ASSERT_FALSE(checkpoints.empty());
  const std::string checkpoint = checkpoints.back().payload;
  // Acknowledged through the event before last: the last one's ack was lost.
  const uint64_t acked_through = delivered - 1;

  // The restart, 20 s later: restore, re-read the window, then the source's redeliveries.
  Harness restarted;
  const int64_t restart_at = kT + 51'200;
  restarted.op().Restore("demo", checkpoint, restart_at);
  const int64_t from = restarted.op().RebuildFromMs();
  restarted.op().BeginRebuild({acked_through, -1});
  for (std::size_t i = 0; i < delivered; ++i) {
    if (events[i].stored_ms < from) continue;
    restarted.op().Rebuild(restarted.Record(events[i], i + 1), restart_at, &restarted.actions());
  }
  EXPECT_GT(restarted.op().rebuilt(), 0u);
  // The source delivers what was not acknowledged, and what came after, as a backlog.
  for (std::size_t i = acked_through; i < events.size(); ++i) {
    restarted.Deliver(events[i], i + 1, restart_at, i == acked_through ? 2 : 1,
                      events.size() - 1 - i);
  }
  restarted.op().OnTime(kT + 70'000, true, &restarted.actions());
  EXPECT_EQ(restarted.op().counters().skipped.load(), delivered - acked_through);

  const auto want = Updates(full.actions());
  const auto got = Updates(restarted.actions());
  int compared = 0;
  for (const auto& [key, update] : got) {
    if (key.first <= kT + 30'000) continue;  // before the checkpoint: not published again
    ASSERT_TRUE(want.contains(key)) << key.first << " zone " << key.second;
    EXPECT_EQ(update, want.at(key)) << "tick " << key.first << " zone " << key.second;
    ++compared;
  }
  EXPECT_GE(compared, 2 * 7);  // ticks 35 s .. 65 s, two zones
}

TEST(PricingOperator, EventToPublishLatencyIsKeptPerTick) {
  struct Listener : OperatorListener {
    void TickStored(const std::string&, int64_t tick, int64_t now_ms,
                    const TickLatency& l) override {
      stored.push_back({tick, now_ms, l});
    }
    struct Seen {
      int64_t tick, now;
      TickLatency latency;
    };
    std::vector<Seen> stored;
  } listener;
  ManualClock clock(kT);
  PricingEngine engine(Timing(), clock);
  engine.AddCity("demo", test::MakeCityZones(test::GridZones(2, 1)), ModelParams{});
  PricingOperator op(engine, {}, &listener);
  op.Restore("demo", std::nullopt, kT);
  std::vector<Action> actions;
  Stored a{"location.request.demo", Request("a", 0.005, 0.005, kT + 1000), kT + 1000, {}};
  Stored b{"location.request.demo", Request("b", 0.005, 0.005, kT + 4000), kT + 4000, {}};
  InputRecord ra, rb;
  ra.subject = a.subject;
  ra.payload = a.payload;
  ra.position.seq = 1;
  rb.subject = b.subject;
  rb.payload = b.payload;
  rb.position.seq = 2;
  op.OnInput(ra, kT + 1000, &actions);
  op.OnInput(rb, kT + 4000, &actions);
  op.OnTime(kT + 6000, true, &actions);
  for (const Action& x : std::vector<Action>(actions))
    if (x.kind == Action::Kind::kPublish) op.OnStored(x.publish, kT + 6500, &actions);
  ASSERT_EQ(listener.stored.size(), 1u);
  const TickLatency& l = listener.stored[0].latency;
  EXPECT_EQ(l.total, 2u);
  EXPECT_EQ(l.bucket_ms, 50);
  // 4 s and 1 s before the tick; stored 1.5 s after it: latencies 5.5 s and 2.5 s.
  EXPECT_EQ(l.counts[80], 1u);
  EXPECT_EQ(l.counts[20], 1u);
  EXPECT_DOUBLE_EQ(l.sum_offset_ms, 5000.0);
  EXPECT_EQ(listener.stored[0].now - listener.stored[0].tick, 1500);
}

}  // namespace
}  // namespace pricing

namespace pricing {
namespace {

// Events every 125 ms for 60 s: drivers moving between the two zones, riders in both,
// and inputs refused before and after their entity is known.
std::vector<Stored> PartitionWorkload() {
  std::vector<Stored> events;
  for (int i = 0; i < 480; ++i) {
    const int64_t ts = kT + 100 + i * 125;
    const double x = ((i / 3) % 7 < 4) ? 0.005 : 0.015;
    const int64_t stored = ts + 20;
    if (i % 97 == 5) {
      events.push_back({"location.driver.demo", "{not json", stored, {}});
    } else if (i % 89 == 7) {
      events.push_back({"location.driver.elsewhere", Ping("d1", x, 0.005, ts), stored, {}});
    } else if (i % 83 == 11) {
      events.push_back({"location.driver.demo", Ping("d2", x, 0.005, ts - 60'000), stored, {}});
    } else if (i % 3 == 0) {
      events.push_back({"location.request.demo",
                        Request("r" + std::to_string(i % 23), x, 0.005, ts),
                        stored,
                        {}});
    } else {
      events.push_back(
          {"location.driver.demo", Ping("d" + std::to_string(i % 29), x, 0.005, ts), stored, {}});
    }
  }
  return events;
}

OperatorOptions StageOptions(PricingStage stage, int32_t partition, int32_t partitions) {
  OperatorOptions o;
  o.stage = stage;
  o.partition = partition;
  o.partitions = partitions;
  return o;
}

// Every input through `h`, ticks on the wall clock, every publish stored.
void RunLive(Harness& h, const std::vector<Stored>& events, int64_t end_ms) {
  h.op().Restore("demo", std::nullopt, kT);
  for (std::size_t i = 0; i < events.size(); ++i) {
    h.op().OnTime(events[i].stored_ms, true, &h.actions());
    h.Deliver(events[i], i + 1, events[i].stored_ms);
    h.StoreAll(events[i].stored_ms);
  }
  h.op().OnTime(end_ms, true, &h.actions());
  h.StoreAll(end_ms);
}

std::vector<Stored> PartialsOf(const Harness& h) {
  std::vector<Stored> out;
  for (const Action& a : h.Publishes(PublishKind::kTickOutput)) {
    EXPECT_TRUE(a.subject.starts_with("pricing.partial.demo.")) << a.subject;
    out.push_back({a.subject, a.payload, 0, {}});
  }
  return out;
}

std::multiset<std::string> DeadLetterIds(const std::vector<Action>& actions) {
  std::multiset<std::string> out;
  for (const Action& a : actions)
    if (a.kind == Action::Kind::kPublish && a.what == PublishKind::kDeadLetter)
      out.insert(a.msg_id);
  return out;
}

TEST(PartitionedStages, CountThenPriceEqualsOneProcessorForOneTwoAndThreePartitions) {
  const std::vector<Stored> events = PartitionWorkload();
  const int64_t end = kT + 70'000;
  Harness whole;
  RunLive(whole, events, end);
  const auto want = Updates(whole.actions());
  ASSERT_GE(want.size(), 2u * 12);
  const auto want_dead = DeadLetterIds(whole.actions());
  ASSERT_GE(want_dead.size(), 10u);

  for (int32_t n : {1, 2, 3}) {
    SCOPED_TRACE("partitions " + std::to_string(n));
    std::vector<std::unique_ptr<Harness>> counters;
    std::multiset<std::string> dead;
    uint64_t foreign = 0;
    std::vector<std::vector<Stored>> partials;
    for (int32_t p = 0; p < n; ++p) {
      counters.push_back(std::make_unique<Harness>(StageOptions(PricingStage::kCount, p, n)));
      RunLive(*counters.back(), events, end);
      for (const auto& id : DeadLetterIds(counters.back()->actions())) dead.insert(id);
      foreign += counters.back()->op().counters().foreign.load();
      partials.push_back(PartialsOf(*counters.back()));
      // Every input acknowledged, whoever's it is.
      EXPECT_EQ(counters.back()->Take(Action::Kind::kAck).size(), events.size());
      const auto cp = counters.back()->Publishes(PublishKind::kCheckpoint);
      ASSERT_FALSE(cp.empty());
      EXPECT_EQ(cp.back().subject, "pricing.state.demo.p" + std::to_string(p));
    }
    // Each refused input is dead-lettered once, by the partition that owns it.
    EXPECT_EQ(dead, want_dead);
    EXPECT_EQ(foreign, (n - 1) * events.size());
    // Stage 2 reads the partitions' counts interleaved, the last partition lagging.
    Harness price(StageOptions(PricingStage::kPrice, 0, n));
    price.op().Restore("demo", std::nullopt, kT);
    uint64_t seq = 0;
    const std::size_t ticks = partials.front().size();
    for (std::size_t t = 0; t < ticks + 3; ++t) {
      for (int32_t p = 0; p < n; ++p) {
        const std::size_t i = p == n - 1 ? t - std::min<std::size_t>(t, 3) : t;
        if (i >= partials[static_cast<std::size_t>(p)].size() || (p == n - 1 && t < 3)) continue;
        ++seq;
        EXPECT_EQ(price.Deliver(partials[static_cast<std::size_t>(p)][i], seq, end),
                  Disposition::kAcked);
      }
      price.StoreAll(end);
    }
    EXPECT_EQ(Updates(price.actions()), want);
    const auto cp = price.Publishes(PublishKind::kCheckpoint);
    ASSERT_FALSE(cp.empty());
    EXPECT_EQ(cp.back().subject, "pricing.state.demo");
  }
}

TEST(PartitionedStages, AMissingPartitionHoldsTheCityThenItsTicksArePricedExactly) {
  const std::vector<Stored> events = PartitionWorkload();
  const int64_t end = kT + 70'000;
  Harness whole;
  RunLive(whole, events, end);
  std::vector<std::vector<Stored>> partials;
  for (int32_t p = 0; p < 2; ++p) {
    Harness h(StageOptions(PricingStage::kCount, p, 2));
    RunLive(h, events, end);
    partials.push_back(PartialsOf(h));
  }
  Harness price(StageOptions(PricingStage::kPrice, 0, 2));
  price.op().Restore("demo", std::nullopt, kT);
  uint64_t seq = 0;
  // Partition 1 reports its first two ticks, then goes quiet; partition 0 goes on.
  for (std::size_t i = 0; i < 2; ++i) price.Deliver(partials[1][i], ++seq, end);
  for (const Stored& s : partials[0]) price.Deliver(s, ++seq, end);
  price.StoreAll(end);
  const auto priced = Updates(price.actions());
  std::set<int64_t> priced_ticks;
  for (const auto& [key, update] : priced) priced_ticks.insert(key.first);
  EXPECT_EQ(priced_ticks, (std::set<int64_t>{kT + 5000, kT + 10'000}));
  // Held: the third tick, waiting for partition 1, once it is an interval overdue.
  EXPECT_TRUE(price.op().Held(kT + 15'000 + 1000 + 4000).empty());
  const auto held = price.op().Held(kT + 15'000 + 1000 + 5001);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].tick, kT + 15'000);
  EXPECT_EQ(held[0].missing, std::vector<int32_t>{1});
  // It returns: every held tick is priced, as one processor priced it.
  for (std::size_t i = 2; i < partials[1].size(); ++i) price.Deliver(partials[1][i], ++seq, end);
  price.StoreAll(end);
  EXPECT_EQ(Updates(price.actions()), Updates(whole.actions()));
  EXPECT_TRUE(price.op().Held(end).empty());
}

// Subjects with a fourth token reach one partition only (the stream's transform made it
// that partition): whatever is wrong with them is that partition's to dead-letter, and
// an id that is not the subject's partition's is refused rather than lost.
TEST(PartitionedStages, AnInputOnItsPartitionsSubjectIsThatPartitionsToRefuse) {
  std::string other;  // a driver of partition 0
  for (int i = 0; other.empty(); ++i) {
    if (PartitionOf("d" + std::to_string(i), 2) == 0) other = "d" + std::to_string(i);
  }
  Harness p1(StageOptions(PricingStage::kCount, 1, 2));
  p1.op().Restore("demo", std::nullopt, kT);
  EXPECT_EQ(p1.Deliver({"location.driver.demo.1", "{not json", kT + 10, {}}, 1, kT + 10),
            Disposition::kHeld);
  EXPECT_EQ(p1.Deliver({"location.driver.demo.1", Ping(other, 0.005, 0.005, kT + 5), kT + 10, {}},
                       2, kT + 10),
            Disposition::kHeld);
  // On a three-token subject the same inputs are partition 0's: passed over here.
  EXPECT_EQ(p1.Deliver({"location.driver.demo", "{not json", kT + 10, {}}, 3, kT + 10),
            Disposition::kAcked);
  EXPECT_EQ(p1.Deliver({"location.driver.demo", Ping(other, 0.005, 0.005, kT + 5), kT + 10, {}}, 4,
                       kT + 10),
            Disposition::kAcked);
  const auto letters = p1.Publishes(PublishKind::kDeadLetter);
  ASSERT_EQ(letters.size(), 2u);
  EXPECT_EQ(letters[1].subject, "dlq.location.demo");
  bool says_why = false;
  for (const auto& [k, v] : letters[1].headers)
    says_why |= k == "Pricing-Reject-Reason" && v == "schema";
  EXPECT_TRUE(says_why);
  EXPECT_EQ(p1.op().counters().foreign.load(), 2u);
}

// A routed source (a partition of a keyed Kafka topic) hands each input to one
// partition: whatever its subject, an input read here is this partition's to count or
// refuse, and one whose id belongs elsewhere is dead-lettered, never passed over.
TEST(PartitionedStages, FromARoutedSourceEveryInputIsTheReadingPartitions) {
  std::string other;  // a driver of partition 0
  for (int i = 0; other.empty(); ++i) {
    if (PartitionOf("d" + std::to_string(i), 2) == 0) other = "d" + std::to_string(i);
  }
  OperatorOptions o = StageOptions(PricingStage::kCount, 1, 2);
  o.routed_source = true;
  Harness p1(o);
  p1.op().Restore("demo", std::nullopt, kT);
  EXPECT_EQ(p1.Deliver({"location.driver.demo", "{not json", kT + 10, {}}, 1, kT + 10),
            Disposition::kHeld);
  EXPECT_EQ(p1.Deliver({"location.driver.demo", Ping(other, 0.005, 0.005, kT + 5), kT + 10, {}}, 2,
                       kT + 10),
            Disposition::kHeld);
  EXPECT_EQ(
      p1.Deliver({"location.driver.elsewhere", Ping(other, 0.005, 0.005, kT + 5), kT + 10, {}}, 3,
                 kT + 10),
      Disposition::kHeld);
  const auto letters = p1.Publishes(PublishKind::kDeadLetter);
  ASSERT_EQ(letters.size(), 3u);
  bool says_why = false;
  for (const auto& [k, v] : letters[1].headers)
    says_why |= k == "Pricing-Reject-Detail" && v.find("partition FNV-1a") != std::string::npos;
  EXPECT_TRUE(says_why);
  EXPECT_EQ(p1.op().counters().foreign.load(), 0u);
}

TEST(PartitionedStages, StageTwoBeginsAtTheFirstTickEveryPartitionCountedAndNeverSkipsAfter) {
  const int64_t interval = 5000;
  Harness price(StageOptions(PricingStage::kPrice, 0, 2));
  price.op().Restore("demo", std::nullopt, kT);
  const auto partial = [&](int32_t p, int64_t tick) {
    PartialCounts c;
    c.city = "demo";
    c.tick = tick;
    c.partition = p;
    c.partitions = 2;
    c.supply = {1, 0};
    c.demand = {0, 1};
    ZoneSet zones = ZoneSet::FromZones(test::GridZones(2, 1), 1e-4);
    return Stored{PartialSubject("demo", p), EncodePartial(c, zones), 0, {}};
  };
  uint64_t seq = 0;
  // Partition 0 counted from the first tick; partition 1 began two ticks later.
  for (int k = 1; k <= 4; ++k) price.Deliver(partial(0, kT + k * interval), ++seq, kT);
  EXPECT_TRUE(Updates(price.actions()).empty());
  price.Deliver(partial(1, kT + 3 * interval), ++seq, kT);
  std::set<int64_t> ticks;
  for (const auto& [key, u] : Updates(price.actions())) ticks.insert(key.first);
  EXPECT_EQ(ticks, (std::set<int64_t>{kT + 3 * interval}));
  // From then on a missing tick holds the city: tick 4 of partition 1 never came.
  price.Deliver(partial(0, kT + 5 * interval), ++seq, kT);
  price.Deliver(partial(1, kT + 5 * interval), ++seq, kT);
  ticks.clear();
  for (const auto& [key, u] : Updates(price.actions())) ticks.insert(key.first);
  EXPECT_EQ(ticks, (std::set<int64_t>{kT + 3 * interval}));
  // Counts that are not a partition's of this split are dead letters, not a sum.
  const auto dead =
      price.Deliver({"pricing.partial.demo.0", "{\"city\":\"demo\"}", 0, {}}, ++seq, kT);
  EXPECT_EQ(dead, Disposition::kHeld);
  PartialCounts three;
  three.city = "demo";
  three.tick = kT + 4 * interval;
  three.partition = 1;
  three.partitions = 3;
  three.supply = {0, 0};
  three.demand = {0, 0};
  const ZoneSet zones = ZoneSet::FromZones(test::GridZones(2, 1), 1e-4);
  EXPECT_EQ(
      price.Deliver({PartialSubject("demo", 1), EncodePartial(three, zones), 0, {}}, ++seq, kT),
      Disposition::kHeld);
  const auto letters = price.Publishes(PublishKind::kDeadLetter);
  ASSERT_EQ(letters.size(), 2u);
  EXPECT_EQ(letters[1].subject, "dlq.location.demo");
  ticks.clear();
  for (const auto& [key, u] : Updates(price.actions())) ticks.insert(key.first);
  EXPECT_EQ(ticks.size(), 1u);
}

}  // namespace
}  // namespace pricing
