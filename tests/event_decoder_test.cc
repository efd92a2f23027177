#include "events/event_decoder.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "events/subject.h"

namespace pricing {
namespace {

constexpr const char* kPing =
    R"({"driver_id":"d-1042","lat":40.7527,"lon":-73.9772,"status":"available","ts":1700000000123})";
constexpr const char* kRequest =
    R"({"request_id":"r-88121","rider_id":"u-731","lat":40.7411,"lon":-73.9897,"ts":1700000000456})";

// The fuzzer's seeds and every input it ever crashed on (fuzz/regressions/), replayed
// as the fuzzer feeds them: first byte the kind, the rest the payload. Under the debug
// preset's sanitizers a regression shows as a report, not just a wrong answer.
TEST(EventDecoder, ReplaysTheFuzzSeedsAndRegressions) {
  int replayed = 0;
  EventDecoder decoder;
  for (const char* dir : {"fuzz/corpus/event_decoder", "fuzz/regressions/event_decoder"}) {
    const auto path = std::filesystem::path(PRICING_SOURCE_DIR) / dir;
    if (!std::filesystem::exists(path)) continue;
    for (const auto& f : std::filesystem::directory_iterator(path)) {
      std::ifstream in(f.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string bytes = ss.str();
      if (bytes.empty()) continue;
      const EventKind kind = (bytes[0] & 1) ? EventKind::kRideRequest : EventKind::kDriverPing;
      const DecodeResult r = decoder.Decode(kind, std::string_view(bytes).substr(1));
      if (r.ok()) {
        EXPECT_LE(r.event.entity_id.size(), EventDecoder::kMaxIdBytes) << f.path();
      }
      ParseInputSubject(std::string_view(bytes).substr(1));
      ++replayed;
    }
  }
  EXPECT_GE(replayed, 3) << "the committed seeds are missing";
}

TEST(EventDecoder, DecodesTheSpecDriverPing) {
  EventDecoder d;
  const auto r = d.Decode(EventKind::kDriverPing, kPing);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.event.entity_id, "d-1042");
  EXPECT_DOUBLE_EQ(r.event.lat, 40.7527);
  EXPECT_DOUBLE_EQ(r.event.lon, -73.9772);
  EXPECT_EQ(r.event.status, DriverStatus::kAvailable);
  EXPECT_EQ(r.event.ts, 1700000000123);
}

TEST(EventDecoder, DecodesTheSpecRideRequest) {
  EventDecoder d;
  const auto r = d.Decode(EventKind::kRideRequest, kRequest);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.event.entity_id, "u-731");
  EXPECT_EQ(r.event.request_id, "r-88121");
  EXPECT_EQ(r.event.ts, 1700000000456);
}

TEST(EventDecoder, AcceptsIntegerCoordinatesOptionalFieldsAndEveryStatus) {
  EventDecoder d;
  for (const char* status : {"available", "busy", "offline"}) {
    const std::string p = std::string(R"({"driver_id":"d","lat":40,"lon":-74,"status":")") +
                          status + R"(","ts":1,"vehicle_type":"xl","heading":90.5,"speed_mps":3})";
    const auto r = d.Decode(EventKind::kDriverPing, p);
    ASSERT_TRUE(r.ok()) << p << ": " << r.detail;
    EXPECT_EQ(ToString(r.event.status), status);
    EXPECT_EQ(r.event.lat, 40.0);
  }
}

struct RejectCase {
  EventKind kind;
  std::string payload;
  RejectReason reason;
};

class EventDecoderRejects : public ::testing::TestWithParam<RejectCase> {};

TEST_P(EventDecoderRejects, WithTheReasonOfTheSpec) {
  EventDecoder d;
  const auto r = d.Decode(GetParam().kind, GetParam().payload);
  EXPECT_EQ(r.reason, GetParam().reason) << GetParam().payload << " -> " << r.detail;
  EXPECT_STRNE(r.detail, "");
}

const std::string kId64(64, 'x');
const std::string kId65(65, 'x');

INSTANTIATE_TEST_SUITE_P(
    Validation, EventDecoderRejects,
    ::testing::Values(
        RejectCase{EventKind::kDriverPing, "", RejectReason::kMalformed},
        RejectCase{EventKind::kDriverPing, "{", RejectReason::kMalformed},
        RejectCase{EventKind::kDriverPing, "[1,2]", RejectReason::kMalformed},
        RejectCase{EventKind::kDriverPing, "\"text\"", RejectReason::kMalformed},
        RejectCase{EventKind::kDriverPing, std::string("{\"driver_id\":\"d\xff\"}"),
                   RejectReason::kMalformed},
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":"d","lat":NaN,"lon":0,"status":"busy","ts":1})",
                   RejectReason::kMalformed},
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":"d","lat":1e999,"lon":0,"status":"busy","ts":1})",
                   RejectReason::kMalformed},
        // JSON has no infinities: the literals, and numbers that overflow to ±Inf.
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":"d","lat":-1e999,"lon":0,"status":"busy","ts":1})",
                   RejectReason::kMalformed},
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":"d","lat":1,"lon":Infinity,"status":"busy","ts":1})",
                   RejectReason::kMalformed},
        RejectCase{EventKind::kRideRequest,
                   R"({"request_id":"r","rider_id":"u","lat":-Infinity,"lon":1,"ts":1})",
                   RejectReason::kMalformed},
        RejectCase{EventKind::kDriverPing, std::string(kPing) + "x", RejectReason::kMalformed},
        RejectCase{EventKind::kDriverPing, R"({"lat":1,"lon":1,"status":"busy","ts":1})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":7,"lat":1,"lon":1,"status":"busy","ts":1})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":"","lat":1,"lon":1,"status":"busy","ts":1})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":")" + kId65 + R"(","lat":1,"lon":1,"status":"busy","ts":1})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":"d","lat":"1","lon":1,"status":"busy","ts":1})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kDriverPing, R"({"driver_id":"d","lat":1,"status":"busy","ts":1})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":"d","lat":1,"lon":1,"status":"parked","ts":1})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kDriverPing, R"({"driver_id":"d","lat":1,"lon":1,"ts":1})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":"d","lat":1,"lon":1,"status":"busy","ts":1.5})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":"d","lat":1,"lon":1,"status":"busy","ts":"1"})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":"d","lat":1,"lon":1,"status":"busy","ts":18446744073709551615})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kDriverPing, R"({"driver_id":"d","lat":1,"lon":1,"status":"busy"})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kRideRequest, R"({"rider_id":"u","lat":1,"lon":1,"ts":1})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kRideRequest,
                   R"({"request_id":")" + kId65 + R"(","rider_id":"u","lat":1,"lon":1,"ts":1})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kRideRequest,
                   R"({"request_id":"r","rider_id":")" + kId65 + R"(","lat":1,"lon":1,"ts":1})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kRideRequest, R"({"request_id":"r","lat":1,"lon":1,"ts":1})",
                   RejectReason::kSchema},
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":"d","lat":90.0001,"lon":1,"status":"busy","ts":1})",
                   RejectReason::kRange},
        RejectCase{EventKind::kDriverPing,
                   R"({"driver_id":"d","lat":-91,"lon":1,"status":"busy","ts":1})",
                   RejectReason::kRange},
        RejectCase{EventKind::kRideRequest,
                   R"({"request_id":"r","rider_id":"u","lat":1,"lon":180.5,"ts":1})",
                   RejectReason::kRange},
        RejectCase{EventKind::kRideRequest,
                   R"({"request_id":"r","rider_id":"u","lat":1,"lon":-1e300,"ts":1})",
                   RejectReason::kRange},
        RejectCase{
            EventKind::kRideRequest,
            std::string(R"({"request_id":"r","rider_id":"u","lat":1,"lon":1,"ts":1,"pad":")") +
                std::string(4096, 'p') + "\"}",
            RejectReason::kOversize}));

TEST(EventDecoder, AcceptsIdsOfExactly64BytesAndPayloadsOfExactly4KiB) {
  EventDecoder d;
  EXPECT_TRUE(d.Decode(EventKind::kDriverPing,
                       R"({"driver_id":")" + kId64 + R"(","lat":1,"lon":1,"status":"busy","ts":1})")
                  .ok());
  std::string p = R"({"request_id":"r","rider_id":"u","lat":1,"lon":1,"ts":1,"pad":")";
  p += std::string(4096 - p.size() - 2, 'p') + "\"}";
  ASSERT_EQ(p.size(), 4096u);
  EXPECT_TRUE(d.Decode(EventKind::kRideRequest, p).ok());
}

TEST(EventDecoder, RangeEdgesAreInside) {
  EventDecoder d;
  EXPECT_TRUE(d.Decode(EventKind::kRideRequest,
                       R"({"request_id":"r","rider_id":"u","lat":-90,"lon":180,"ts":-5})")
                  .ok());
  EXPECT_TRUE(d.Decode(EventKind::kRideRequest,
                       R"({"request_id":"r","rider_id":"u","lat":0,"lon":0,"ts":0})")
                  .ok());
}

TEST(EventDecoder, ReusesItselfAcrossMessages) {
  EventDecoder d;
  EXPECT_FALSE(d.Decode(EventKind::kDriverPing, "{").ok());
  const auto r = d.Decode(EventKind::kDriverPing, kPing);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.event.entity_id, "d-1042");
}

TEST(Subjects, ParseInputsAndBuildOutputs) {
  auto s = ParseInputSubject("location.driver.nyc");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, EventKind::kDriverPing);
  EXPECT_EQ(s->city, "nyc");
  s = ParseInputSubject("location.request.sf-bay");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, EventKind::kRideRequest);
  EXPECT_FALSE(ParseInputSubject("location.scooter.nyc"));
  EXPECT_FALSE(ParseInputSubject("location.driver.NYC"));
  EXPECT_FALSE(ParseInputSubject("location.driver."));
  // A fourth token: the publisher's entity id, or the partition the stream made of it.
  s = ParseInputSubject("location.driver.nyc.d-17");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->city, "nyc");
  EXPECT_EQ(s->routing, "d-17");
  EXPECT_FALSE(ParseInputSubject("location.driver.nyc.a.b"));
  EXPECT_FALSE(ParseInputSubject("location.driver.nyc."));
  EXPECT_FALSE(ParseInputSubject("location.driver.NYC.1"));
  EXPECT_EQ(PricingUpdateSubject("nyc", "161"), "pricing.update.nyc.161");
  EXPECT_EQ(SurgeEventSubject("nyc"), "ws.surge.nyc");
  EXPECT_EQ(AnalyticsSubject("nyc"), "analytics.tick.nyc");
  EXPECT_EQ(DeadLetterSubject("nyc"), "dlq.location.nyc");
  EXPECT_EQ(DeadLetterSubject(""), "dlq.location.unknown");
}

}  // namespace
}  // namespace pricing
