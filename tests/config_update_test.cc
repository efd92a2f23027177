#include "engine/config_update.h"

#include <gtest/gtest.h>

#include "engine/city_engine.h"
#include "test_util.h"

namespace pricing {
namespace {

class ConfigUpdateTest : public ::testing::Test {
 protected:
  ConfigUpdate Parse(const std::string& doc, int64_t version = 1) {
    return ParseConfigUpdate(doc, ModelParams{}, current_, version, zones_);
  }
  ZoneSet zones_ = ZoneSet::FromZones(test::GridZones(2, 1), 1e-4);
  std::map<std::string, ZoneOverride> current_{{"1", ZoneOverride{{}, 2.0, {}, false}}};
};

TEST_F(ConfigUpdateTest, NamedParametersChangeOthersKeepTheirValue) {
  const auto u = Parse(R"({"version":2,"cap":2.5,"threshold":1.3})");
  ASSERT_TRUE(u.ok()) << u.error;
  EXPECT_EQ(u.version, 2);
  EXPECT_DOUBLE_EQ(u.params.cap, 2.5);
  EXPECT_DOUBLE_EQ(u.params.threshold, 1.3);
  EXPECT_DOUBLE_EQ(u.params.alpha_up, 0.5);
  EXPECT_EQ(u.overrides.at("1").cap, 2.0);  // overrides untouched when not named
}

TEST_F(ConfigUpdateTest, ChangesAreDescribedAgainstWhatIsInForce) {
  const auto u = Parse(R"({"version":2,"cap":2.5,"overrides":{"2":{"fixed":1.5}}})");
  ASSERT_TRUE(u.ok()) << u.error;
  EXPECT_EQ(DescribeConfigChanges(ModelParams{}, current_, u),
            (std::vector<std::string>{"cap: 3 -> 2.5", "overrides.1: cap 2 -> none",
                                      "overrides.2: none -> fixed 1.5"}));
  // A document that restates what is in force changes nothing.
  const auto same = Parse(R"({"version":3,"cap":3,"overrides":{"1":{"cap":2}}})");
  ASSERT_TRUE(same.ok()) << same.error;
  EXPECT_TRUE(DescribeConfigChanges(ModelParams{}, current_, same).empty());
}

TEST_F(ConfigUpdateTest, OverridesReplaceTheWholeSet) {
  const auto u = Parse(R"({"version":2,"overrides":{"2":{"fixed":1.5},"1":{"disabled":true}}})");
  ASSERT_TRUE(u.ok()) << u.error;
  EXPECT_EQ(u.overrides.at("2").fixed, 1.5);
  EXPECT_TRUE(u.overrides.at("1").disabled);
  EXPECT_FALSE(u.overrides.at("1").cap.has_value());
  EXPECT_TRUE(Parse(R"({"version":2,"overrides":{}})").overrides.empty());
}

TEST_F(ConfigUpdateTest, RefusesStaleVersionsAndInvalidDocumentsWhole) {
  EXPECT_EQ(Parse(R"({"version":1,"cap":2})").error,
            "version 1 is not greater than the version in force (1)");
  EXPECT_EQ(Parse(R"({"cap":2})").error, "'version' missing or not an integer");
  EXPECT_EQ(Parse("[1]").error, "not a JSON object");
  EXPECT_EQ(Parse(R"({"version":2,"kap":2})").error, "'kap': unknown parameter or not a number");
  EXPECT_EQ(Parse(R"({"version":2,"overrides":{"9":{"cap":2}}})").error,
            "overrides: no zone '9' in this city");
  EXPECT_EQ(Parse(R"({"version":2,"alpha_up":1.5})").error,
            "config update: key 'model.alpha_up': value 1.5 is not allowed; must be in (0, 1]");
  EXPECT_NE(Parse(R"({"version":2,"overrides":{"2":{"floor":3,"cap":2}}})")
                .error.find("floor must be <= cap"),
            std::string::npos);
}

TEST_F(ConfigUpdateTest, AnswersSayAcceptedOrWhy) {
  EXPECT_EQ(EncodeConfigAnswer(Parse(R"({"version":3})")), R"({"version":3,"accepted":true})");
  EXPECT_EQ(
      EncodeConfigAnswer(Parse(R"({"version":0})")),
      R"j({"version":0,"accepted":false,"error":"version 0 is not greater than the version in force (1)"})j");
}

TEST(Checkpoint, RoundTripsTheModelStateAndResumesAfterItsTick) {
  ManualClock clock(0);
  const auto zones = test::MakeCityZones(test::GridZones(2, 1));
  const TimingParams timing{5000, 30000, 1000, 10000};
  CityEngine a("demo", zones, timing, ModelParams{}, {}, clock);
  a.StartAt(5000);
  const LocationEvent e{
      EventKind::kRideRequest, DriverStatus::kAvailable, "u", "r", 0.005, 0.015, 1000};
  for (int i = 0; i < 9; ++i) {
    LocationEvent ev = e;
    const std::string id = "u" + std::to_string(i);
    ev.entity_id = id;
    a.Apply(ev, 0);
  }
  a.CloseTicks(6000);  // zone 2 surges
  const std::string checkpoint = a.EncodeCheckpoint(5000);

  CityEngine b("demo", zones, timing, ModelParams{}, {}, clock);
  ASSERT_EQ(b.RestoreCheckpoint(checkpoint), "");
  EXPECT_EQ(b.next_tick(), 10000);
  EXPECT_EQ(b.model().state(), a.model().state());
  EXPECT_EQ(b.model().published(), a.model().published());
  EXPECT_GT(b.model().state()[1], 1.0);

  // A checkpoint older than the catch-up limit keeps the state but resumes later.
  CityEngine c("demo", zones, timing, ModelParams{}, {}, clock);
  ASSERT_EQ(c.RestoreCheckpoint(checkpoint, 20000, 65000), "");
  EXPECT_EQ(c.next_tick(), 65000);
  EXPECT_EQ(c.model().state(), a.model().state());

  CityEngine other("paris", zones, timing, ModelParams{}, {}, clock);
  EXPECT_EQ(other.RestoreCheckpoint(checkpoint), "checkpoint is for city 'demo'");
  EXPECT_EQ(other.RestoreCheckpoint("{"), "checkpoint is not JSON");
}

}  // namespace
}  // namespace pricing
