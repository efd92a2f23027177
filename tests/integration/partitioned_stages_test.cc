// Exact partitioned pricing as live processes on a real 3-node JetStream cluster: a
// count stage per partition (`pricing run --stage count --partition P`) and a price
// stage (`pricing run --stage price`), compared with `pricing replay` of the same events,
// which is one processor's computation.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "engine/partials.h"
#include "live_fixture.h"

namespace pricing::test {
namespace {

class PartitionedStagesTest : public LiveProcessorTest {
 protected:
  // Stage 1 for every partition of `n` (HTTP on any free port) and one stage 2 on
  // price_port_.
  void StartStages(int n) {
    Partitions(n);
    for (int p = 0; p < n; ++p) {
      StartStage("count-" + std::to_string(p), {"count", "--partition", std::to_string(p)}, 0);
    }
    StartStage("price", {"price"}, price_port_);
  }

  // The readiness check "partitions" of the stage 2 on `port`: "ok", "held" or "".
  static std::string PartitionsCheck(int port, std::string* body = nullptr) {
    const std::string b = HttpGet(port, "/readyz").body;
    if (body != nullptr) *body = b;
    if (b.find(R"({"name":"partitions","ok":true)") != std::string::npos) return "ok";
    if (b.find(R"({"name":"partitions","ok":false)") != std::string::npos) return "held";
    return "";
  }

  static std::string Durable(int p, int n) {
    return "pricing-processor-p" + std::to_string(p) + "of" + std::to_string(n);
  }

  // Partition p's durable consumed every published event meant for it: nothing pending
  // or unacknowledged, and its ack floor at the last message on its subjects (a durable
  // that filters part of the stream acknowledges only its own).
  bool Consumed(int p, int n) {
    const ConsumerState c = GetConsumerState(client_->js(), "LOCATION_EVENTS", Durable(p, n));
    uint64_t own = LastSeqOf(client_->connection(), "LOCATION_EVENTS", "location.*.*");
    if (n > 1) {
      own = std::max(own, LastSeqOf(client_->connection(), "LOCATION_EVENTS",
                                    "location.*.*." + std::to_string(p)));
    }
    return c.num_pending == 0 && c.num_ack_pending == 0 && c.ack_floor_stream_seq >= own && own > 0;
  }

  const int price_port_ = FreePort();
};

class PartitionCountTest : public PartitionedStagesTest,
                           public ::testing::WithParamInterface<int> {};

TEST_P(PartitionCountTest, StagesPublishThePricesOfOneProcessor) {
  const int n = GetParam();
  StartStages(n);
  PublishEvents(1200, 5.0);
  ExpectLiveEqualsReplay();
  // Every partition's durable acknowledged every event, its own and the others'.
  for (int p = 0; p < n; ++p) {
    EXPECT_TRUE(WaitFor([&] { return Consumed(p, n); }, 15000)) << "partition " << p;
  }
  EXPECT_TRUE(WaitFor([&] { return PartitionsCheck(price_port_) == "ok"; }, 10000))
      << HttpGet(price_port_, "/readyz").body;
  const std::string metrics = HttpGet(price_port_, "/metrics").body;
  EXPECT_EQ(MetricValue(metrics, R"(pricing_partitions_missing{city="demo"})"), 0) << metrics;
}

// Publishers that put the entity id in the subject: the stream stores each event under
// its partition, and each count stage's durable is delivered its own partition's events
// and the three-token ones only. The prices are still one processor's.
TEST_F(PartitionedStagesTest, IdSubjectsReachOnlyTheirPartitionAndPlainSubjectsStillCount) {
  id_subjects_ = true;
  StartStages(2);
  PublishEvents(1200, 5.0);
  ExpectLiveEqualsReplay();
  uint64_t with_id = 0, plain = 0;
  for (const auto& m : ReadStream(*client_, "LOCATION_EVENTS", "location.>")) {
    const auto tokens = std::count(m.subject.begin(), m.subject.end(), '.');
    if (tokens == 2) {
      ++plain;
      continue;
    }
    ++with_id;
    const std::string partition = m.subject.substr(m.subject.rfind('.') + 1);
    EXPECT_EQ(partition, std::to_string(PartitionOf(EntityId(m.data), 2))) << m.subject;
  }
  EXPECT_EQ(with_id, 600u);
  EXPECT_EQ(plain, 600u);
  ASSERT_TRUE(WaitFor([&] { return Consumed(0, 2) && Consumed(1, 2); }, 15000));
  const ConsumerState p0 = GetConsumerState(client_->js(), "LOCATION_EVENTS", Durable(0, 2));
  const ConsumerState p1 = GetConsumerState(client_->js(), "LOCATION_EVENTS", Durable(1, 2));
  // Each plain event reaches both, each event with an id one of them.
  EXPECT_EQ(p0.delivered_consumer_seq + p1.delivered_consumer_seq, 2 * plain + with_id)
      << "p0 " << p0.delivered_consumer_seq << ", p1 " << p1.delivered_consumer_seq;
}

INSTANTIATE_TEST_SUITE_P(Partitions, PartitionCountTest, ::testing::Values(1, 2, 3));

// A partition's only processor is killed and stays down past the bound: stage 2 holds
// the city, says which partition it waits for, and once the partition is back prices
// every held tick exactly.
TEST_F(PartitionedStagesTest, APartitionDownPastTheBoundHoldsTheCityThenCatchesUpExactly) {
  StartStages(2);
  std::thread publisher([&] { PublishEvents(1600, 7.0); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stages_[1].process->Signal(SIGKILL);  // partition 1
  EXPECT_EQ(stages_[1].process->Wait(5000), 128 + SIGKILL);
  std::string body;
  const bool held = WaitFor([&] { return PartitionsCheck(price_port_, &body) == "held"; }, 10000);
  EXPECT_TRUE(held) << body;
  EXPECT_NE(body.find("waiting for the counts of partition 1"), std::string::npos) << body;
  EXPECT_EQ(HttpGet(price_port_, "/readyz").status, 503);
  const std::string metrics = HttpGet(price_port_, "/metrics").body;
  EXPECT_EQ(MetricValue(metrics, R"(pricing_partitions_missing{city="demo"})"), 1) << metrics;
  EXPECT_GT(MetricValue(metrics, R"(pricing_tick_held_seconds{city="demo"})"), 0) << metrics;
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  // Back: it takes the pin once the killed one's has lapsed, restores its checkpoint,
  // rebuilds its window and counts every tick it missed.
  StartStage("count-1", {"count", "--partition", "1"}, 0, "processing LOCATION_EVENTS");
  publisher.join();
  ExpectLiveEqualsReplay();
  EXPECT_TRUE(WaitFor([&] { return PartitionsCheck(price_port_) == "ok"; }, 15000))
      << HttpGet(price_port_, "/readyz").body;
  EXPECT_GT(CountLinesContaining(stages_.back().log, "restored checkpoint"), 0);
}

}  // namespace
}  // namespace pricing::test
