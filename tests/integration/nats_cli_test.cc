// The streams and the durable consumer that `pricing run` creates, read back by an
// independent reader: the pinned `nats` CLI (`nats stream info --json`, `nats consumer
// info --json`) against a real 3-node cluster, compared with the contract's table
// (shared/spec/streams.md) and the configuration's consumer settings.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>

#include <fstream>
#include <map>
#include <sstream>

#include "cluster_fixture.h"
#include "test_util.h"

namespace pricing::test {
namespace {

constexpr int64_t kNs = 1'000'000'000;
constexpr int64_t kHour = 3600 * kNs, kWeek = 7 * 24 * kHour;

struct Expected {
  std::string subject;
  int64_t max_age_ns;
  int64_t max_msgs_per_subject;
  int64_t max_msg_size;
  std::string compression;
};

// streams.md, with s2 for the events (the project's choice, README "Durability").
const std::map<std::string, Expected> kSpec = {
    {"LOCATION_EVENTS", {"location.>", kHour, -1, 4096, "s2"}},
    {"PRICING_UPDATES", {"pricing.>", kWeek, 1000, -1, "none"}},
    {"WEBSOCKET_EVENTS", {"ws.>", kHour, -1, -1, "none"}},
    {"ANALYTICS_EVENTS", {"analytics.>", kWeek, -1, -1, "none"}},
    {"CONFIG_UPDATES", {"config.>", 0, 100, -1, "none"}},
    {"DEAD_LETTERS", {"dlq.>", kWeek, -1, -1, "none"}},
};

class NatsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<NatsCluster>(3);
    std::ofstream(dir_.path() / "pricing.yaml")
        << "http: {bind: 127.0.0.1, port: " << FreePort() << "}\n"
        << "nats_url: " << cluster_->urls() << "\n"
        << "consumer: {ack_wait_seconds: 7, max_deliver: 4, max_ack_pending: 12345}\n"
        << "cities:\n  nyc:\n    zones: " << PRICING_SOURCE_DIR << "/data/nyc/taxi_zones.geojson\n";
    processor_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{std::string(PRICING_BIN_DIR) + "/pricing", "run", "--config",
                                 (dir_.path() / "pricing.yaml").string()},
        std::map<std::string, std::string>{}, dir_.path() / "processor.log");
    ASSERT_TRUE(WaitFor(
                    [&] {
                      return !processor_->Running() ||
                             CountLinesContaining(dir_.path() / "processor.log",
                                                  "processing LOCATION_EVENTS") > 0;
                    },
                    60000) &&
                processor_->Running())
        << "the processor did not start:\n"
        << TailLines(dir_.path() / "processor.log", 20);
  }

  void TearDown() override {
    processor_->Signal(SIGTERM);
    EXPECT_EQ(processor_->Wait(30000), 0);
  }

  // `nats <args> --json` against the cluster; its standard output parsed.
  simdjson::dom::element Cli(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {NatsCliBinary(), "--server", cluster_->urls(), "--no-context"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--json");
    const auto out = dir_.path() / ("cli-" + std::to_string(++calls_) + ".json");
    ChildProcess cli(argv, {}, out);
    EXPECT_EQ(cli.Wait(30000), 0) << "nats failed:\n" << TailLines(out, 20);
    std::ifstream in(out);
    std::stringstream text;
    text << in.rdbuf();
    outputs_.push_back(text.str());
    simdjson::dom::element doc;
    EXPECT_EQ(parser_.parse(outputs_.back()).get(doc), simdjson::SUCCESS) << outputs_.back();
    return doc;
  }

  std::unique_ptr<NatsCluster> cluster_;
  TempDir dir_;
  std::unique_ptr<ChildProcess> processor_;
  simdjson::dom::parser parser_;
  std::vector<std::string> outputs_;
  int calls_ = 0;
};

TEST_F(NatsCliTest, StreamsTheProcessorCreatedHaveTheSpecsSettings) {
  for (const auto& [name, want] : kSpec) {
    SCOPED_TRACE(name);
    const auto info = Cli({"stream", "info", name});
    const auto config = info["config"];
    simdjson::dom::array subjects;
    ASSERT_EQ(config["subjects"].get(subjects), simdjson::SUCCESS);
    ASSERT_EQ(subjects.size(), 1u);
    EXPECT_EQ(std::string_view(subjects.at(0)), want.subject);
    EXPECT_EQ(std::string_view(config["storage"]), "file");
    EXPECT_EQ(std::string_view(config["retention"]), "limits");
    EXPECT_EQ(std::string_view(config["discard"]), "old");
    EXPECT_EQ(int64_t(config["num_replicas"]), 3);
    EXPECT_EQ(int64_t(config["max_age"]), want.max_age_ns);
    EXPECT_EQ(int64_t(config["max_msgs_per_subject"]), want.max_msgs_per_subject);
    EXPECT_EQ(int64_t(config["max_msg_size"]), want.max_msg_size);
    EXPECT_EQ(int64_t(config["duplicate_window"]), 120 * kNs);
    // JetStream leaves "compression" out of the answer when it is none.
    std::string_view compression = "none";
    if (config["compression"].get(compression) != simdjson::SUCCESS) compression = "none";
    EXPECT_EQ(compression, want.compression);
    // Placed on all three nodes, with a leader.
    std::string_view leader;
    EXPECT_EQ(info["cluster"]["leader"].get(leader), simdjson::SUCCESS);
    EXPECT_FALSE(leader.empty());
    simdjson::dom::array replicas;
    ASSERT_EQ(info["cluster"]["replicas"].get(replicas), simdjson::SUCCESS);
    EXPECT_EQ(replicas.size(), 2u);
  }
}

TEST_F(NatsCliTest, TheDurableConsumerHasTheConfiguredSettings) {
  const auto info = Cli({"consumer", "info", "LOCATION_EVENTS", "pricing-processor"});
  const auto config = info["config"];
  EXPECT_EQ(std::string_view(config["durable_name"]), "pricing-processor");
  EXPECT_EQ(std::string_view(config["ack_policy"]), "explicit");
  EXPECT_EQ(int64_t(config["ack_wait"]), 7 * kNs);
  EXPECT_EQ(int64_t(config["max_deliver"]), 4);
  EXPECT_EQ(int64_t(config["max_ack_pending"]), 12345);
  EXPECT_EQ(std::string_view(config["filter_subject"]), "location.>");
  EXPECT_EQ(int64_t(config["num_replicas"]) == 0 || int64_t(config["num_replicas"]) == 3, true)
      << "a durable of an R3 stream is R3 (0 means: as its stream)";
  std::string_view deliver_subject;
  EXPECT_NE(config["deliver_subject"].get(deliver_subject), simdjson::SUCCESS)
      << "a pull consumer has no deliver subject";
}

}  // namespace
}  // namespace pricing::test
