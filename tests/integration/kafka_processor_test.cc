// `pricing run` with backend: kafka, against librdkafka's mock cluster in its own
// process: events produced to location-events come back as pricing updates with the
// window's counts, a bad event lands in dead-letters with its reason, and SIGTERM ends
// the run cleanly.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cluster_fixture.h"
#include "engine/city_engine.h"
#include "http_get.h"
#include "perf/kafka_mock_process.h"
#include "prometheus_text.h"
#include "transport/kafka_handles.h"

namespace pricing {
namespace {

namespace fs = std::filesystem;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Produce(rd_kafka_t* producer, const std::string& topic, const std::string& key,
             const std::string& subject, const std::string& payload) {
  rd_kafka_headers_t* h = rd_kafka_headers_new(1);
  if (!subject.empty())
    rd_kafka_header_add(h, "subject", -1, subject.data(), static_cast<ssize_t>(subject.size()));
  ASSERT_EQ(rd_kafka_producev(
                producer, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
                RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END),
            RD_KAFKA_RESP_ERR_NO_ERROR);
}

// Every message of `topic` (one partition) from the start, until `done` says so or
// `timeout_ms` passes.
void ReadTopic(const std::string& brokers, const std::string& topic, int timeout_ms,
               const std::function<bool(rd_kafka_message_t*)>& done) {
  KafkaConf conf;
  conf.Set("bootstrap.servers", brokers).Set("group.id", "test-reader-" + topic);
  conf.Set("fetch.wait.max.ms", "10");
  auto consumer = conf.Client(RD_KAFKA_CONSUMER);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(parts, topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(consumer.get(), parts);
  rd_kafka_topic_partition_list_destroy(parts);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    KafkaPtr<rd_kafka_message_t> m(rd_kafka_consumer_poll(consumer.get(), 100));
    if (m && m->err == RD_KAFKA_RESP_ERR_NO_ERROR && done(m.get())) break;
  }
  rd_kafka_consumer_close(consumer.get());
}

std::string Header(rd_kafka_message_t* m, const char* name) {
  rd_kafka_headers_t* headers = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return "";
  return std::string(static_cast<const char*>(value), size);
}

TEST(KafkaProcessor, PricesEventsFromKafkaAndDeadLettersBadOnes) {
  perf::MockKafka mock(std::string(PRICING_BIN_DIR) + "/kafka_mock_cluster");
  for (const char* t : {"location-events", "pricing-updates", "websocket-events",
                        "analytics-events", "dead-letters"})
    ASSERT_EQ(mock.CreateTopic(t, 1, 3), "") << t;

  const fs::path dir = fs::temp_directory_path() / ("kafka-processor-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const int http_port = test::FreePort();
  const fs::path config = dir / "kafka.yaml";
  std::ofstream(config) << "window_seconds: 10\ninterval_seconds: 1\nallowed_lateness_ms: 200\n"
                        << "backend: kafka\nkafka: {brokers: \"" << mock.bootstraps()
                        << "\", group_id: test-processor, auto_offset_reset: earliest, "
                           "fetch_wait_max_ms: 5}\n"
                        << "http: {bind: 127.0.0.1, port: " << http_port
                        << ", zone_metrics: false}\ngateway: {enabled: false}\n"
                        << "cities:\n  nyc:\n    zones: " << PRICING_SOURCE_DIR
                        << "/data/nyc/taxi_zones.geojson\n";
  test::ChildProcess processor(
      {std::string(PRICING_BIN_DIR) + "/pricing", "run", "--config", config.string()}, {},
      dir / "processor.log");
  for (int i = 0; i < 200 && test::HttpGet(http_port, "/healthz").status != 200; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_EQ(test::HttpGet(http_port, "/healthz").status, 200);

  // Times Square: which zone the core says it is in.
  const double lat = 40.7580, lon = -73.9855;
  CityConfig city;
  city.key = "nyc";
  city.zones_path = fs::path(PRICING_SOURCE_DIR) / "data/nyc/taxi_zones.geojson";
  const auto zones = CityZones::Load(city);
  const auto z = zones->index.Locate(lon, lat);
  ASSERT_GE(z, 0);
  const std::string zone_id = zones->zones.zone(z).id;

  KafkaConf pc;
  pc.Set("bootstrap.servers", mock.bootstraps()).Set("linger.ms", "0");
  auto producer = pc.Client(RD_KAFKA_PRODUCER);
  const int64_t ts = NowMs();
  auto ping = [&](const std::string& id, const char* status) {
    return R"({"driver_id":")" + id + R"(","lat":40.758,"lon":-73.9855,"status":")" + status +
           R"(","ts":)" + std::to_string(ts) + "}";
  };
  auto request = [&](const std::string& id, const std::string& rider) {
    return R"({"request_id":")" + id + R"(","rider_id":")" + rider +
           R"(","lat":40.758,"lon":-73.9855,"ts":)" + std::to_string(ts) + "}";
  };
  for (const char* d : {"d-1", "d-2", "d-3"})
    Produce(producer.get(), "location-events", "nyc", "location.driver.nyc", ping(d, "available"));
  Produce(producer.get(), "location-events", "nyc", "location.driver.nyc", ping("d-4", "busy"));
  // No subject header: the key and the payload's kind tell it (events.md keys by city).
  Produce(producer.get(), "location-events", "nyc", "", ping("d-5", "available"));
  Produce(producer.get(), "location-events", "nyc", "location.request.nyc", request("r-1", "u-1"));
  Produce(producer.get(), "location-events", "nyc", "location.request.nyc", request("r-2", "u-2"));
  Produce(producer.get(), "location-events", "nyc", "location.request.nyc", request("r-3", "u-1"));
  const std::string bad =
      R"({"driver_id":"d-9","lat":999,"lon":-73.9855,"status":"available","ts":)" +
      std::to_string(ts) + "}";
  Produce(producer.get(), "location-events", "nyc", "location.driver.nyc", bad);
  ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);

  // The first tick after the events: 4 available drivers, 2 distinct riders.
  const int64_t tick = (ts / 1000 + 1) * 1000;
  int64_t supply = -1, demand = -1;
  std::string bound;
  simdjson::dom::parser parser;
  ReadTopic(mock.bootstraps(), "pricing-updates", 20000, [&](rd_kafka_message_t* m) {
    simdjson::dom::element doc;
    if (parser.parse(static_cast<const char*>(m->payload), m->len).get(doc)) return false;
    if (std::string(doc["zone_id"].get_string().value()) != zone_id) return false;
    if (doc["tick"].get_int64().value() != tick) return false;
    supply = doc["supply"].get_int64().value();
    demand = doc["demand"].get_int64().value();
    EXPECT_EQ(Header(m, "subject"), "pricing.update.nyc." + zone_id);
    EXPECT_EQ(std::string(static_cast<const char*>(m->key), m->key_len), zone_id);
    return true;
  });
  EXPECT_EQ(supply, 4) << "zone " << zone_id << ", tick " << tick;
  EXPECT_EQ(demand, 2);

  std::string reason, payload;
  ReadTopic(mock.bootstraps(), "dead-letters", 10000, [&](rd_kafka_message_t* m) {
    reason = Header(m, "Pricing-Reject-Reason");
    payload.assign(static_cast<const char*>(m->payload), m->len);
    return true;
  });
  EXPECT_FALSE(reason.empty());
  EXPECT_EQ(payload, bad);

  EXPECT_EQ(test::MetricSum(test::HttpGet(http_port, "/metrics").body, "pricing_events_read_total"),
            9);

  processor.Signal(SIGTERM);
  EXPECT_EQ(processor.Wait(20000), 0);
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);  // kept as evidence otherwise
}

TEST(KafkaProcessor, RefusesAKafkaBackendWithoutBrokers) {
  const fs::path dir = fs::temp_directory_path() / ("kafka-config-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path config = dir / "bad.yaml";
  std::ofstream(config) << "backend: kafka\ncities:\n  nyc:\n    zones: " << PRICING_SOURCE_DIR
                        << "/data/nyc/taxi_zones.geojson\n";
  test::ChildProcess p(
      {std::string(PRICING_BIN_DIR) + "/pricing", "run", "--config", config.string()}, {},
      dir / "out.log");
  EXPECT_NE(p.Wait(10000), 0);
  std::ifstream log(dir / "out.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("key 'kafka.brokers': is required with backend: kafka"), std::string::npos)
      << text;
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);  // kept as evidence otherwise
}

}  // namespace
}  // namespace pricing
