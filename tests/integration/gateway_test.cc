// The WebSocket gateway (`pricing gateway`) against a real 3-node cluster: fan-out to
// every instance and to a thousand concurrent clients, zone filters, snapshots, slow
// clients. Outputs are published here directly, so every expected message is known.
#include <gtest/gtest.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "cluster_fixture.h"
#include "common/json_writer.h"
#include "common/open_files.h"
#include "config/config.h"
#include "engine/outputs.h"
#include "http_get.h"
#include "test_util.h"
#include "transport/stream_admin.h"
#include "ws_client.h"
#include "zones/zone_set.h"

namespace pricing::test {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kTick0 = 1'790'000'000'000;  // a tick in 2026, ms
constexpr int kTickMs = 1000;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RaiseOpenFileLimit();
    dir_ = fs::temp_directory_path() /
           ("pricing-gateway-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    cluster_ = std::make_unique<NatsCluster>(3);
    cluster_->WaitReady();
    client_ = std::make_unique<TestClient>(cluster_->urls());
    ApplyStreamsWhenReady(client_->connection(), DefaultStreams(3), 30000);
    zones_ = std::make_unique<ZoneSet>(ZoneSet::LoadGeoJson(
        SourcePath("data/nyc/taxi_zones.geojson"), "LocationID", "zone", 1e-4));
  }
  void TearDown() override {
    gateways_.clear();
    client_.reset();
    cluster_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // Starts `pricing gateway` on a free port and waits until it follows the streams.
  int StartGateway(int max_queue = 256) {
    const int port = FreePort();
    const fs::path config = dir_ / ("gateway-" + std::to_string(port) + ".yaml");
    std::ofstream(config) << "nats_url: " << cluster_->urls() << "\n"
                          << "http: {bind: 127.0.0.1, port: " << port << "}\n"
                          << "gateway: {max_queue_messages: " << max_queue << "}\n"
                          << "cities:\n  nyc:\n    zones: " << SourcePath("data/nyc").string()
                          << "/taxi_zones.geojson\n";
    gateways_.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{std::string(PRICING_BIN_DIR) + "/pricing", "gateway", "--config",
                                 config.string()},
        std::map<std::string, std::string>{}, dir_ / ("gateway-" + std::to_string(port) + ".log")));
    EXPECT_TRUE(WaitFor([&] { return HttpGet(port, "/readyz").status == 200; }, 60000))
        << "gateway on port " << port << " not ready; see " << dir_;
    return port;
  }

  void Publish(const std::string& subject, const std::string& msg_id, const std::string& payload) {
    jsPubOptions o;
    jsPubOptions_Init(&o);
    o.MsgId = msg_id.c_str();
    jsPubAck* ack = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    CheckNats(js_Publish(&ack, client_->js(), subject.c_str(), payload.data(),
                         static_cast<int>(payload.size()), &o, &jerr),
              "publishing " + subject, jerr);
    jsPubAck_Destroy(ack);
  }

  // A PRICING_UPDATES message as the processor writes it (the fields the gateway reads).
  void PublishUpdate(const std::string& zone, int64_t tick, double multiplier) {
    const Zone& z = zones_->zone(*zones_->Find(zone));
    std::string payload;
    JsonWriter w(&payload);
    w.BeginObject().Key("zone_id").String(zone).Key("zone_name").String(z.name);
    w.Key("city").String("nyc").Key("tick").Int(tick).Key("multiplier").Double(multiplier);
    w.Key("previous").Double(1.0).Key("demand").Int(12).Key("supply").Int(5);
    w.Key("ratio").Double(2.4).Key("bound").String("none").EndObject();
    Publish("pricing.update.nyc." + zone, PricingUpdateMsgId("nyc", zone, tick), payload);
  }

  // A WEBSOCKET_EVENTS message changing `zones` to `multiplier`.
  void PublishSurge(int64_t tick, const std::vector<std::string>& zones, double multiplier) {
    std::string payload;
    JsonWriter w(&payload);
    w.BeginObject().Key("city").String("nyc").Key("tick").Int(tick);
    w.Key("config_version").Int(0).Key("changes").BeginArray();
    for (const auto& z : zones) {
      w.BeginObject().Key("zone_id").String(z).Key("multiplier").Double(multiplier);
      w.Key("previous").Double(1.0).Key("bound").String("rate_limit").EndObject();
    }
    w.EndArray().Key("computed_at").Int(tick).EndObject();
    Publish("ws.surge.nyc", TickMsgId("nyc", tick), payload);
  }

  std::vector<std::string> ZoneIds(std::size_t n) const {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < n && i < zones_->size(); ++i) {
      ids.push_back(zones_->zone(static_cast<ZoneIndexT>(i)).id);
    }
    return ids;
  }

  fs::path dir_;
  std::unique_ptr<NatsCluster> cluster_;
  std::unique_ptr<TestClient> client_;
  std::unique_ptr<ZoneSet> zones_;
  std::vector<std::unique_ptr<ChildProcess>> gateways_;
};

struct Parsed {
  std::string type;
  int64_t tick = 0;
  std::set<std::string> zones;  // of the snapshot or the changes
};

Parsed ParseMessage(simdjson::dom::parser& parser, const std::string& text) {
  Parsed p;
  const simdjson::dom::element e = parser.parse(simdjson::padded_string(text));
  p.type = std::string(std::string_view(e["type"]));
  p.tick = int64_t(e["tick"]);
  for (const auto z : e[p.type == "snapshot" ? "zones" : "changes"].get_array()) {
    p.zones.insert(std::string(std::string_view(z["zone_id"])));
  }
  return p;
}

TEST_F(GatewayTest, EveryInstanceGetsEveryEventAndFansItOutToAThousandClients) {
  // Known before the gateways start: the snapshot must carry them.
  PublishUpdate("161", kTick0, 1.3);
  PublishUpdate("236", kTick0, 1.0);
  PublishUpdate("132", kTick0, 2.0);
  const int ports[2] = {StartGateway(), StartGateway()};

  constexpr int kPerGateway = 500, kFilteredPerGateway = 5, kTicks = 20;
  WsCrowd crowd;
  std::vector<int> all, filtered;
  for (int g = 0; g < 2; ++g) {
    for (int i = 0; i < kPerGateway; ++i) all.push_back(crowd.Add(ports[g], "/ws?city=nyc"));
    for (int i = 0; i < kFilteredPerGateway; ++i) {
      filtered.push_back(crowd.Add(ports[g], "/ws?city=nyc&zones=161,236"));
    }
  }
  const int total = crowd.size();
  ASSERT_TRUE(WaitFor(
      [&] {
        if (crowd.open() != total) return false;
        for (int i = 0; i < total; ++i)
          if (crowd.MessageCount(i) < 1) return false;
        return true;
      },
      60000))
      << crowd.open() << " of " << total << " clients connected with a snapshot";

  // Zone 161 changes on even ticks only; zone 236 never: filtered clients see 10.
  const std::vector<std::string> some = ZoneIds(40);
  std::map<int64_t, int64_t> published_at;  // tick -> steady ns just before publishing
  for (int t = 1; t <= kTicks; ++t) {
    const int64_t tick = kTick0 + t * kTickMs;
    std::vector<std::string> zones = some;
    if (t % 2 == 0) zones.push_back("161");
    published_at[tick] = SteadyNowNs();
    PublishSurge(tick, zones, 1.0 + t / 10.0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto received_all = [&] {
    for (int i : all)
      if (crowd.MessageCount(i) < 1 + kTicks) return false;
    for (int i : filtered)
      if (crowd.MessageCount(i) < 1 + kTicks / 2) return false;
    return true;
  };
  EXPECT_TRUE(WaitFor(received_all, 30000)) << "not every client got every change";

  // Every client: the snapshot first, then each tick once and in order.
  simdjson::dom::parser parser;
  std::vector<double> latency_ms[2];
  std::map<int64_t, double> first_ms, last_ms;  // by tick, over every unfiltered client
  for (int i = 0; i < total; ++i) {
    const bool is_filtered = std::find(filtered.begin(), filtered.end(), i) != filtered.end();
    const auto messages = crowd.Messages(i);
    ASSERT_FALSE(messages.empty()) << "client " << i;
    const Parsed snap = ParseMessage(parser, messages[0].text);
    ASSERT_EQ(snap.type, "snapshot") << messages[0].text;
    const std::set<std::string> expect_snap = is_filtered
                                                  ? std::set<std::string>{"161", "236"}
                                                  : std::set<std::string>{"132", "161", "236"};
    EXPECT_EQ(snap.zones, expect_snap) << "client " << i;
    std::vector<int64_t> ticks;
    for (std::size_t m = 1; m < messages.size(); ++m) {
      const Parsed p = ParseMessage(parser, messages[m].text);
      EXPECT_EQ(p.type, "changes");
      ticks.push_back(p.tick);
      if (is_filtered) {
        EXPECT_EQ(p.zones, std::set<std::string>{"161"}) << "client " << i << " tick " << p.tick;
      } else {
        EXPECT_EQ(p.zones.size(), some.size() + (p.tick / kTickMs % 2 == 0 ? 1 : 0));
        const int g = i < kPerGateway + kFilteredPerGateway ? 0 : 1;
        const double ms = static_cast<double>(messages[m].at_ns - published_at.at(p.tick)) / 1e6;
        latency_ms[g].push_back(ms);
        first_ms[p.tick] = first_ms.count(p.tick) ? std::min(first_ms[p.tick], ms) : ms;
        last_ms[p.tick] = std::max(last_ms[p.tick], ms);
      }
    }
    std::vector<int64_t> expected;
    for (int t = 1; t <= kTicks; ++t) {
      if (!is_filtered || t % 2 == 0) expected.push_back(kTick0 + t * kTickMs);
    }
    EXPECT_EQ(ticks, expected) << "client " << i << (is_filtered ? " (filtered)" : "");
  }
  // Fan-out latency: publish call (JetStream R3, acked) to the client's read, on the
  // same two cores as the three servers, both gateways and the thousand clients.
  for (int g = 0; g < 2; ++g) {
    std::printf(
        "fan-out gateway %d: %zu deliveries to %d clients, latency ms p50 %.2f p90 %.2f p99 %.2f "
        "max %.2f\n",
        g + 1, latency_ms[g].size(), kPerGateway, Percentile(latency_ms[g], 50),
        Percentile(latency_ms[g], 90), Percentile(latency_ms[g], 99),
        Percentile(latency_ms[g], 100));
    RecordProperty("fanout_p50_ms_gateway" + std::to_string(g + 1),
                   std::to_string(Percentile(latency_ms[g], 50)));
    RecordProperty("fanout_p99_ms_gateway" + std::to_string(g + 1),
                   std::to_string(Percentile(latency_ms[g], 99)));
  }

  std::vector<double> first, last;
  for (const auto& [tick, ms] : first_ms) first.push_back(ms);
  for (const auto& [tick, ms] : last_ms) last.push_back(ms);
  std::printf(
      "fan-out per tick over %d clients: first client p50 %.2f ms, last client p50 %.2f ms "
      "(max %.2f)\n",
      2 * kPerGateway, Percentile(first, 50), Percentile(last, 50), Percentile(last, 100));

  // The gateway's own metrics agree.
  const std::string scrape = HttpGet(ports[0], "/metrics").body;
  EXPECT_EQ(MetricValue(scrape, "pricing_websocket_clients"), kPerGateway + kFilteredPerGateway);
  EXPECT_GE(MetricValue(scrape, "pricing_websocket_messages_sent_total"),
            kPerGateway * (1 + kTicks) + kFilteredPerGateway * (1 + kTicks / 2));
  EXPECT_EQ(MetricValue(scrape, R"(pricing_websocket_dropped_total{reason="slow_client"})"), -1)
      << "nobody was too slow";
  // Stopping a gateway says goodbye to its clients and exits cleanly.
  gateways_[0]->Signal(SIGTERM);
  EXPECT_EQ(gateways_[0]->Wait(20000), 0);
  EXPECT_TRUE(WaitFor([&] { return crowd.closed() == kPerGateway + kFilteredPerGateway; }, 10000))
      << crowd.closed() << " clients closed";
}

TEST_F(GatewayTest, RefusesBadRequestsAndServesTheMapAndZoneExplanations) {
  PublishUpdate("161", kTick0, 1.7);
  const int port = StartGateway();
  int status = 0;
  WsClient no_city, unknown_city, unknown_zone;
  EXPECT_FALSE(no_city.Connect(port, "/ws", &status));
  EXPECT_EQ(status, 400);
  EXPECT_FALSE(unknown_city.Connect(port, "/ws?city=paris", &status));
  EXPECT_EQ(status, 404);
  EXPECT_FALSE(unknown_zone.Connect(port, "/ws?city=nyc&zones=161,9999", &status));
  EXPECT_EQ(status, 400);
  EXPECT_EQ(HttpGet(port, "/ws?city=nyc").status, 426);

  const HttpResult map = HttpGet(port, "/map");
  EXPECT_EQ(map.status, 200);
  EXPECT_NE(map.body.find("<script src=\"/map.js\">"), std::string::npos);
  EXPECT_EQ(HttpGet(port, "/map.js").status, 200);
  EXPECT_EQ(HttpGet(port, "/api/cities").body, R"(["nyc"])");
  const HttpResult geo = HttpGet(port, "/api/zones?city=nyc");
  EXPECT_EQ(geo.status, 200);
  EXPECT_EQ(geo.content_type, "application/geo+json");
  EXPECT_EQ(HttpGet(port, "/api/zones?city=paris").status, 404);
  // The explanation of a zone is its latest full update, verbatim.
  const HttpResult z = HttpGet(port, "/api/zone?city=nyc&zone=161");
  EXPECT_EQ(z.status, 200);
  EXPECT_NE(z.body.find(R"("supply":5)"), std::string::npos) << z.body;
  EXPECT_EQ(HttpGet(port, "/api/zone?city=nyc&zone=162").status, 404) << "no update yet";
  EXPECT_EQ(HttpGet(port, "/api/zone?city=nyc&zone=nope").status, 404);
}

TEST_F(GatewayTest, ASlowClientIsDisconnectedAndCountedWhileOthersGetEverything) {
  // A queue of 64: the slow client (20 KB messages, 4 KB window) overflows it after a few
  // hundred messages, while the gateway's own threads can be starved for a few dozen
  // messages' time on two loaded cores without dropping a fast client. With 16, a
  // clean-clone CI run (two test binaries at once) dropped all 20 fast clients.
  const int port = StartGateway(/*max_queue=*/64);
  // A client that completes the upgrade and then never reads, with a tiny window.
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket slow(io);
  slow.open(boost::asio::ip::tcp::v4());
  slow.set_option(boost::asio::socket_base::receive_buffer_size(4096));
  slow.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  const std::string upgrade =
      "GET /ws?city=nyc HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  boost::asio::write(slow, boost::asio::buffer(upgrade));

  // The others follow one zone: their messages stay small, so that this test's own
  // reading thread keeps up on a loaded machine, while the gateway still handles them
  // alongside the slow client on the same threads.
  WsCrowd crowd;
  constexpr int kFast = 20;
  for (int i = 0; i < kFast; ++i) crowd.Add(port, "/ws?city=nyc&zones=161");
  ASSERT_TRUE(WaitFor([&] { return crowd.open() == kFast; }, 30000));
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricValue(HttpGet(port, "/metrics").body, "pricing_websocket_clients") ==
               kFast + 1;
      },
      10000));

  // Every zone changes every tick: ~20 KB a message, far beyond what the slow client's
  // socket buffers hold.
  const std::vector<std::string> every = ZoneIds(zones_->size());
  constexpr int kTicks = 600;
  for (int t = 1; t <= kTicks; ++t)
    PublishSurge(kTick0 + t * kTickMs, every, 1.0 + (t % 20) / 10.0);
  EXPECT_TRUE(WaitFor(
      [&] {
        for (int i = 0; i < kFast; ++i)
          if (crowd.MessageCount(i) < 1 + kTicks) return false;
        return true;
      },
      60000))
      << "the fast clients must get everything despite the slow one";
  EXPECT_EQ(crowd.closed(), 0);
  const std::string scrape = HttpGet(port, "/metrics").body;
  EXPECT_EQ(MetricValue(scrape, R"(pricing_websocket_dropped_total{reason="slow_client"})"), 1)
      << scrape;
  EXPECT_EQ(MetricValue(scrape, "pricing_websocket_clients"), kFast);
  // The server closed the slow connection: reading it through ends in EOF or a reset.
  slow.non_blocking(false);
  boost::system::error_code ec;
  std::vector<char> sink(1 << 16);
  for (int i = 0; i < 100000 && !ec; ++i) slow.read_some(boost::asio::buffer(sink), ec);
  EXPECT_TRUE(ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset)
      << ec.message();
}

}  // namespace
}  // namespace pricing::test
