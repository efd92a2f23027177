// The two stages of partitioned pricing: the wire form of a partition's counts, the
// gate that prices a tick only from every partition's, and a city split N ways pricing
// exactly as one.
#include "engine/partials.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "engine/city_engine.h"
#include "engine/pricing_engine.h"
#include "test_util.h"

namespace pricing {
namespace {

constexpr int64_t kT = 1'700'000'000'000;

PartialCounts Partial(int64_t tick, int32_t partition, int32_t partitions,
                      std::vector<int32_t> supply, std::vector<int32_t> demand) {
  PartialCounts p;
  p.city = "demo";
  p.tick = tick;
  p.partition = partition;
  p.partitions = partitions;
  p.supply = std::move(supply);
  p.demand = std::move(demand);
  return p;
}

TEST(PartitionOf, IsFnv1a32ModuloTheCountAsNatsSubjectMappingComputesIt) {
  // FNV-1a 32: "" -> 0x811c9dc5, "a" -> 0xe40c292c, "foobar" -> 0xbf9cf968.
  EXPECT_EQ(PartitionOf("a", 1000), static_cast<int32_t>(0xe40c292cu % 1000));
  EXPECT_EQ(PartitionOf("foobar", 7), static_cast<int32_t>(0xbf9cf968u % 7));
  EXPECT_EQ(PartitionOf("", 3), static_cast<int32_t>(0x811c9dc5u % 3));
  EXPECT_EQ(PartitionOf("anything", 1), 0);
}

TEST(PartialCounts, ReadBackAsWrittenWithOnlyTheZonesThatHaveACount) {
  const auto city = test::MakeCityZones(test::GridZones(3, 1));
  const ZoneSet& zones = city->zones;
  PartialCounts p = Partial(kT, 1, 3, {2, 0, 0}, {0, 0, 5});
  p.stats.read = {7, 5};
  p.stats.rejected[static_cast<std::size_t>(RejectReason::kLate)] = 1;
  p.stats.unzoned = 2;
  p.input_seqs = {10, 42};
  const std::string wire = EncodePartial(p, zones);
  EXPECT_EQ(wire.find(R"(["2",)"), std::string::npos) << "zone 2 has no count: " << wire;
  std::string error;
  const PartialCounts back = DecodePartial(wire, zones, &error);
  ASSERT_EQ(error, "");
  EXPECT_EQ(back.city, "demo");
  EXPECT_EQ(back.tick, kT);
  EXPECT_EQ(back.partition, 1);
  EXPECT_EQ(back.partitions, 3);
  EXPECT_EQ(back.supply, p.supply);
  EXPECT_EQ(back.demand, p.demand);
  EXPECT_EQ(back.stats.read, p.stats.read);
  EXPECT_EQ(back.stats.rejected, p.stats.rejected);
  EXPECT_EQ(back.stats.unzoned, 2u);
  EXPECT_EQ(back.input_seqs.first, 10u);
  EXPECT_EQ(back.input_seqs.last, 42u);

  DecodePartial(R"({"city":"demo"})", zones, &error);
  EXPECT_NE(error, "");
  std::string unknown = wire;
  unknown.replace(unknown.find(R"(["1",)"), 5, R"(["9",)");
  DecodePartial(unknown, zones, &error);
  EXPECT_NE(error.find("zone '9'"), std::string::npos) << error;
}

TEST(PartialAssembler, HoldsATickUntilEveryPartitionReportedThenSumsItExactly) {
  PartialAssembler stage2(3, 2);
  EXPECT_TRUE(stage2.Add(Partial(kT, 0, 3, {1, 0}, {0, 2})));
  EXPECT_TRUE(stage2.Add(Partial(kT, 2, 3, {0, 3}, {1, 0})));
  // A later tick of a partition that reported: held behind the incomplete one.
  EXPECT_TRUE(stage2.Add(Partial(kT + 5000, 0, 3, {1, 1}, {1, 1})));
  EXPECT_FALSE(stage2.TakeNext());
  EXPECT_EQ(stage2.held_tick(), kT);
  EXPECT_EQ(stage2.Missing(), std::vector<int32_t>{1});
  // A redelivered partial counts once.
  EXPECT_FALSE(stage2.Add(Partial(kT, 0, 3, {1, 0}, {0, 2})));
  // The missing partition returns: the held tick is priced from all three.
  PartialCounts late = Partial(kT, 1, 3, {4, 0}, {0, 0});
  late.input_seqs = {5, 9};
  late.stats.read = {4, 0};
  EXPECT_TRUE(stage2.Add(late));
  const std::optional<PartialCounts> sum = stage2.TakeNext();
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->tick, kT);
  EXPECT_EQ(sum->supply, (std::vector<int32_t>{5, 3}));
  EXPECT_EQ(sum->demand, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(sum->stats.read[0], 4u);
  EXPECT_EQ(sum->input_seqs.first, 5u);
  EXPECT_EQ(sum->input_seqs.last, 9u);
  // The next tick waits for its other partitions; a partial of a priced tick is ignored.
  EXPECT_FALSE(stage2.TakeNext());
  EXPECT_FALSE(stage2.Add(Partial(kT, 1, 3, {4, 0}, {0, 0})));
  EXPECT_EQ(stage2.Missing(), (std::vector<int32_t>{1, 2}));
}

// Drivers that move between zones, go busy and ping again, riders who ask twice:
// split 1, 2, 3 and 5 ways, every tick's published values are the same.
TEST(PartitionedCity, PricesEveryTickExactlyAsOneWindow) {
  const auto run = [](int32_t partitions) {
    ManualClock clock{kT};
    PricingEngine engine(TimingParams{5000, 30000, 1000, 10000}, clock);
    engine.AddCity("demo", test::MakeCityZones(test::GridZones(4, 4)), ModelParams{});
    engine.city("demo")->SetPartitions(partitions);
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> coord(0.0, 0.04);
    std::uniform_int_distribution<int> who(0, 59), busy(0, 4);
    std::vector<std::vector<double>> out;
    uint64_t seq = 0;
    for (int64_t ts = kT; ts < kT + 120000; ts += 50) {
      const int id = who(rng);
      const double x = coord(rng), y = coord(rng);
      std::string subject, payload;
      if (id < 40) {
        subject = "location.driver.demo";
        payload = R"({"driver_id":"d)" + std::to_string(id) + R"(","lat":)" + std::to_string(y) +
                  R"(,"lon":)" + std::to_string(x) + R"(,"status":")" +
                  (busy(rng) == 0 ? "busy" : "available") + R"(","ts":)" + std::to_string(ts) + "}";
      } else {
        subject = "location.request.demo";
        payload = R"({"request_id":"q)" + std::to_string(seq) + R"(","rider_id":"r)" +
                  std::to_string(id) + R"(","lat":)" + std::to_string(y) + R"(,"lon":)" +
                  std::to_string(x) + R"(,"ts":)" + std::to_string(ts) + "}";
      }
      engine.Ingest(subject, payload, ++seq);
      for (const TickResult& t : engine.AdvanceWatermark(ts)) {
        std::vector<double> row{static_cast<double>(t.tick),
                                static_cast<double>(t.input_seqs.first),
                                static_cast<double>(t.input_seqs.last),
                                static_cast<double>(t.stats.read[0] + t.stats.read[1])};
        for (Eigen::Index z = 0; z < t.zones.multiplier.size(); ++z) {
          row.insert(row.end(), {t.zones.supply[z], t.zones.demand[z], t.zones.multiplier[z]});
        }
        out.push_back(std::move(row));
      }
    }
    return out;
  };
  const auto one = run(1);
  ASSERT_GT(one.size(), 15u);
  for (const int32_t n : {2, 3, 5}) EXPECT_EQ(run(n), one) << n << " partitions";
}

}  // namespace
}  // namespace pricing
