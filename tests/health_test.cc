#include "observe/health.h"

#include <gtest/gtest.h>

namespace pricing {
namespace {

HealthSnapshot Healthy() {
  HealthSnapshot s;
  s.processing = true;
  s.connected = true;
  s.consumer_pending = 10;
  s.tick_age_seconds = {{"nyc", 6.0}};
  return s;
}

const HealthCheck& Check(const Readiness& r, const std::string& name) {
  for (const auto& c : r.checks)
    if (c.name == name) return c;
  throw std::runtime_error("no check " + name);
}

TEST(Readiness, ReadyWhenEveryCheckPasses) {
  const Readiness r = EvaluateReadiness(Healthy(), {100, 16});
  EXPECT_TRUE(r.ready);
  EXPECT_EQ(r.checks.size(), 5u);
  EXPECT_NE(r.ToJson().find(R"("ready":true)"), std::string::npos);
}

// A standby has no ticks and no lag of its own: it is ready when it could take over,
// and says what it is.
TEST(Readiness, AStandbyIsReadyWhenConnectedWithTheStreamsAndSaysSo) {
  HealthSnapshot s;
  s.role = Role::kStandby;
  s.role_detail = "standby: another processor is pinned";
  s.connected = true;
  Readiness r = EvaluateReadiness(s, {100, 16});
  EXPECT_TRUE(r.ready);
  EXPECT_EQ(Check(r, "role").detail, "standby: another processor is pinned");
  EXPECT_THROW(Check(r, "tick_age"), std::runtime_error);
  EXPECT_NE(r.ToJson().find(R"("role":"standby")"), std::string::npos) << r.ToJson();
  s.missing_streams = {"LOCATION_EVENTS"};
  r = EvaluateReadiness(s, {100, 16});
  EXPECT_FALSE(r.ready);
  EXPECT_FALSE(Check(r, "streams_present").ok);

  HealthSnapshot active = Healthy();
  active.role = Role::kActive;
  EXPECT_NE(EvaluateReadiness(active, {100, 16}).ToJson().find(R"("role":"active")"),
            std::string::npos);
  // Without roles (Kafka), the answer has none.
  EXPECT_EQ(EvaluateReadiness(Healthy(), {100, 16}).ToJson().find("role"), std::string::npos);
}

TEST(Readiness, TheConnectionCheckIsNamedForTheTransport) {
  HealthSnapshot s = Healthy();
  s.connection_check = "kafka_connected";
  s.connected = false;
  const Readiness r = EvaluateReadiness(s, {100, 16});
  EXPECT_FALSE(r.ready);
  EXPECT_FALSE(Check(r, "kafka_connected").ok);
  EXPECT_THROW(Check(r, "nats_connected"), std::runtime_error);
}

TEST(Readiness, EachFailingCheckMakesItNotReadyAndSaysWhy) {
  const HealthLimits limits{100, 16};
  {
    HealthSnapshot s = Healthy();
    s.processing = false;
    const Readiness r = EvaluateReadiness(s, limits);
    EXPECT_FALSE(r.ready);
    EXPECT_FALSE(Check(r, "processing").ok);
  }
  {
    HealthSnapshot s = Healthy();
    s.connected = false;
    EXPECT_FALSE(Check(EvaluateReadiness(s, limits), "nats_connected").ok);
    EXPECT_FALSE(EvaluateReadiness(s, limits).ready);
  }
  {
    HealthSnapshot s = Healthy();
    s.missing_streams = {"PRICING_UPDATES", "DEAD_LETTERS"};
    const HealthCheck c = Check(EvaluateReadiness(s, limits), "streams_present");
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.detail, "missing: PRICING_UPDATES, DEAD_LETTERS");
  }
  {
    HealthSnapshot s = Healthy();
    s.consumer_pending = 101;
    const HealthCheck c = Check(EvaluateReadiness(s, limits), "consumer_lag");
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.detail, "101 pending (limit 100)");
    s.consumer_pending = 100;  // the limit itself is fine
    EXPECT_TRUE(EvaluateReadiness(s, limits).ready);
    s.consumer_pending.reset();
    s.consumer_error = "timeout";
    EXPECT_FALSE(Check(EvaluateReadiness(s, limits), "consumer_lag").ok);
  }
  {
    HealthSnapshot s = Healthy();
    s.tick_age_seconds["sf"] = 16.5;
    const HealthCheck c = Check(EvaluateReadiness(s, limits), "tick_age");
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.detail, "nyc 6.0 s, sf 16.5 s (limit 16.0 s)");
    s.tick_age_seconds.clear();  // no city at all is not ready either
    EXPECT_FALSE(Check(EvaluateReadiness(s, limits), "tick_age").ok);
  }
}

// A price stage of partitioned pricing is not ready while a partition's counts hold a
// city, and says which; other processors have no such check.
TEST(Readiness, AHeldCityMakesAPriceStageNotReadyNamingThePartition) {
  HealthSnapshot s = Healthy();
  EXPECT_THROW(Check(EvaluateReadiness(s, {100, 16}), "partitions"), std::runtime_error);
  s.partitions_holding = "";
  Readiness r = EvaluateReadiness(s, {100, 16});
  EXPECT_TRUE(r.ready);
  EXPECT_TRUE(Check(r, "partitions").ok);
  s.partitions_holding =
      "nyc: tick 2026-12-05T00:36:40Z held 6 s past its close, waiting for "
      "the counts of partition 1";
  r = EvaluateReadiness(s, {100, 16});
  EXPECT_FALSE(r.ready);
  EXPECT_FALSE(Check(r, "partitions").ok);
  EXPECT_NE(Check(r, "partitions").detail.find("partition 1"), std::string::npos);
}

}  // namespace
}  // namespace pricing
