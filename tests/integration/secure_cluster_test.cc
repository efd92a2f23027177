// The secured cluster of `scripts/start-nats-cluster.sh --secure`: TLS on clients and
// routes, mutual TLS, per-user permissions. The script itself starts it (generating
// its development CA and certificates), on ports no other test uses.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <thread>

#include "cluster_fixture.h"
#include "transport/nats_handles.h"
#include "transport/stream_admin.h"

namespace pricing::test {
namespace {

bool PortFree(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// The script's layout: clients BASE.., routes BASE+2000.., monitoring BASE+4000..
int FreeBasePort() {
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int base = 30000 + static_cast<int>(rng() % 3000);
    bool free = true;
    for (int offset : {0, 2000, 4000}) {
      for (int i = 0; i < 3; ++i) free = free && PortFree(base + offset + i);
    }
    if (free) return base;
  }
  throw std::runtime_error("no free port range for the secure cluster");
}

int RunCommand(const std::vector<std::string>& argv, const std::filesystem::path& log,
               const std::map<std::string, std::string>& env = {}, int timeout_ms = 180000) {
  ChildProcess p(argv, env, log);
  return p.Wait(timeout_ms);
}

class SecureClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("pricing-secure-" + std::to_string(::getpid())));
    std::filesystem::remove_all(*dir_);
    std::filesystem::create_directories(*dir_);
    base_ = FreeBasePort();
    const int rc = RunCommand(
        {std::string(PRICING_SOURCE_DIR) + "/scripts/start-nats-cluster.sh", "--secure",
         "--state-dir", (*dir_ / "cluster").string(), "--base-port", std::to_string(base_)},
        *dir_ / "start.log");
    started_ = rc == 0;
  }

  static void TearDownTestSuite() {
    RunCommand({std::string(PRICING_SOURCE_DIR) + "/scripts/stop-nats-cluster.sh", "--state-dir",
                (*dir_ / "cluster").string()},
               *dir_ / "stop.log");
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
    delete dir_;
  }

  void SetUp() override {
    ASSERT_TRUE(started_) << "the secure cluster did not start; see " << *dir_ / "start.log";
  }

  static std::string Urls() {
    std::string out;
    for (int i = 0; i < 3; ++i)
      out += (i ? ",tls://127.0.0.1:" : "tls://127.0.0.1:") + std::to_string(base_ + i);
    return out;
  }
  static std::filesystem::path Tls(const std::string& file) {
    return *dir_ / "cluster" / "secure" / file;
  }
  static NatsAuth AuthOf(const std::string& user) {
    NatsAuth a;
    a.ca_file = Tls("ca.pem").string();
    a.cert_file = Tls(user + ".pem").string();
    a.key_file = Tls(user + "-key.pem").string();
    return a;
  }
  static std::map<std::string, std::string> EnvOf(const std::string& user) {
    return {{"NATS_URL", Urls()},
            {"NATS_CA", Tls("ca.pem").string()},
            {"NATS_CERT", Tls(user + ".pem").string()},
            {"NATS_KEY", Tls(user + "-key.pem").string()}};
  }
  static std::unique_ptr<NatsClient> Connect(const std::string& user) {
    NatsSettings s;
    s.urls = Urls();
    s.name = "secure-test-" + user;
    s.auth = AuthOf(user);
    return NatsClient::Connect(s, 10000);
  }

  // Publishes on a core connection and reports whether the server refused it.
  static bool PublishRefused(natsConnection* conn, const std::string& subject) {
    natsConnection_PublishString(conn, subject.c_str(), "{}");
    natsConnection_FlushTimeout(conn, 2000);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the -ERR follows the PONG
    const char* text = nullptr;
    return natsConnection_GetLastError(conn, &text) == NATS_NOT_PERMITTED;
  }
  static bool SubscribeRefused(natsConnection* conn, const std::string& subject) {
    natsSubscription* raw = nullptr;
    if (natsConnection_SubscribeSync(&raw, conn, subject.c_str()) != NATS_OK) return true;
    Subscription sub(conn, raw);
    natsConnection_FlushTimeout(conn, 2000);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    natsMsg* m = nullptr;
    const natsStatus s = natsSubscription_NextMsg(&m, sub.get(), 500);
    if (m != nullptr) natsMsg_Destroy(m);
    const char* text = nullptr;
    return s == NATS_NOT_PERMITTED ||
           natsConnection_GetLastError(conn, &text) == NATS_NOT_PERMITTED;
  }

  static inline std::filesystem::path* dir_ = nullptr;
  static inline int base_ = 0;
  static inline bool started_ = false;
};

TEST_F(SecureClusterTest, ClientsWithoutTheCaOrACertificateAreRefused) {
  NatsSettings plain;
  plain.urls = "nats://127.0.0.1:" + std::to_string(base_);
  EXPECT_THROW(NatsClient::Connect(plain, 3000), NatsError) << "no TLS at all";
  NatsSettings no_cert;
  no_cert.urls = Urls();
  no_cert.auth.ca_file = Tls("ca.pem").string();
  EXPECT_THROW(NatsClient::Connect(no_cert, 3000), NatsError) << "TLS without a certificate";
  NatsSettings not_a_user;  // signed by the CA, but its subject names no user
  not_a_user.urls = Urls();
  not_a_user.auth = AuthOf("server");
  EXPECT_THROW(NatsClient::Connect(not_a_user, 3000), NatsError) << "a certificate naming no user";
}

TEST_F(SecureClusterTest, PublisherPublishesLocationsOnlyAndCannotReadThem) {
  auto publisher = Connect("publisher");
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  const std::string payload =
      R"({"driver_id":"sec-1","lat":40.75,"lon":-73.98,"status":"available","ts":1})";
  ASSERT_EQ(js_Publish(&ack, publisher->js(), "location.driver.nyc", payload.data(),
                       static_cast<int>(payload.size()), nullptr, &jerr),
            NATS_OK)
      << "the publisher may publish location events";
  jsPubAck_Destroy(ack);
  EXPECT_TRUE(PublishRefused(publisher->connection(), "pricing.update.nyc.1"));
  auto p2 = Connect("publisher");
  EXPECT_TRUE(SubscribeRefused(p2->connection(), "location.>"));
  auto p3 = Connect("publisher");
  EXPECT_THROW(GetStreamState(p3->js(), "LOCATION_EVENTS"), NatsError)
      << "the publisher may not use the JetStream API (read streams)";
  // Nothing reached PRICING_UPDATES.
  auto processor = Connect("processor");
  EXPECT_EQ(GetStreamState(processor->js(), "PRICING_UPDATES").messages, 0u);
}

// The variables of an environment file the script writes (`export K=V` lines).
std::map<std::string, std::string> ReadEnvFile(const std::filesystem::path& file) {
  std::map<std::string, std::string> env;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("export ")) continue;
    const auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(7, eq - 7)] = line.substr(eq + 1);
  }
  return env;
}

TEST_F(SecureClusterTest, DeviceIdentifiedByNkeyPublishesLocationsOnly) {
  const auto env = ReadEnvFile(Tls("device.env"));
  ASSERT_TRUE(env.contains("NATS_NKEY") && env.contains("NATS_NKEY_SEED"))
      << "device.env names no nkey: " << Tls("device.env");
  NatsSettings device;
  device.urls = Urls();
  device.name = "secure-test-device";
  device.auth = AuthOf("device");
  device.auth.nkey = env.at("NATS_NKEY");
  device.auth.nkey_seed_file = env.at("NATS_NKEY_SEED");
  auto client = NatsClient::Connect(device, 10000);
  jsPubAck* ack = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  const std::string payload =
      R"({"driver_id":"sec-device-1","lat":40.75,"lon":-73.98,"status":"available","ts":1})";
  ASSERT_EQ(js_Publish(&ack, client->js(), "location.driver.nyc", payload.data(),
                       static_cast<int>(payload.size()), nullptr, &jerr),
            NATS_OK)
      << "the device may publish location events";
  jsPubAck_Destroy(ack);
  EXPECT_TRUE(PublishRefused(client->connection(), "pricing.update.nyc.1"));
  auto reader = NatsClient::Connect(device, 10000);
  EXPECT_THROW(GetStreamState(reader->js(), "LOCATION_EVENTS"), NatsError)
      << "the device may not use the JetStream API";

  // Its certificate alone names no user.
  NatsSettings cert_only = device;
  cert_only.auth.nkey.clear();
  cert_only.auth.nkey_seed_file.clear();
  EXPECT_THROW(NatsClient::Connect(cert_only, 3000), NatsError) << "the device's certificate alone";
  // An nkey the servers do not list.
  const auto other_seed = *dir_ / "other.nk";
  ChildProcess gen({std::string(PRICING_SOURCE_DIR) + "/scripts/gen-nkey.py", other_seed.string()},
                   {}, *dir_ / "gen-nkey.log");
  ASSERT_EQ(gen.Wait(30000), 0) << "see " << *dir_ / "gen-nkey.log";
  std::ifstream log(*dir_ / "gen-nkey.log");
  std::string other_public;
  std::getline(log, other_public);
  ASSERT_TRUE(other_public.starts_with("U")) << other_public;
  NatsSettings unknown = device;
  unknown.auth.nkey = other_public;
  unknown.auth.nkey_seed_file = other_seed.string();
  EXPECT_THROW(NatsClient::Connect(unknown, 3000), NatsError) << "an nkey no server lists";
  // The listed public key, signed with another seed: the signature does not verify.
  NatsSettings forged = device;
  forged.auth.nkey_seed_file = other_seed.string();
  EXPECT_THROW(NatsClient::Connect(forged, 3000), NatsError) << "the device's key, another seed";

  // The generator takes the nkey from the environment file.
  std::ofstream(*dir_ / "device.yaml")
      << "cities:\n  nyc:\n    zones: " << PRICING_SOURCE_DIR << "/data/nyc/taxi_zones.geojson\n"
      << "    id_property: LocationID\n    name_property: zone\n";
  EXPECT_EQ(RunCommand({std::string(PRICING_BIN_DIR) + "/pricing", "simulate", "--config",
                        (*dir_ / "device.yaml").string(), "--rate", "200", "--duration", "1"},
                       *dir_ / "simulate-device.log", env, 60000),
            0)
      << "see " << *dir_ / "simulate-device.log";
}

TEST_F(SecureClusterTest, ReadOnlyUserReadsButCannotPublish) {
  for (const std::string subject :
       {"pricing.update.nyc.1", "location.driver.nyc", "config.pricing.nyc", "dlq.location.nyc"}) {
    auto readonly = Connect("readonly");
    EXPECT_TRUE(PublishRefused(readonly->connection(), subject)) << subject;
  }
  auto readonly = Connect("readonly");
  EXPECT_FALSE(SubscribeRefused(readonly->connection(), "pricing.update.>"));
  EXPECT_NO_THROW(GetStreamState(readonly->js(), "PRICING_UPDATES")) << "stream info is reading";
}

// The processor's configuration for the secure cluster, as the processor user.
void WriteProcessorConfig(const std::filesystem::path& path, const std::string& urls,
                          const std::string& more = "") {
  std::ofstream(path)
      << "window_seconds: 4\ninterval_seconds: 1\nallowed_lateness_ms: 500\n"
      << "http: {bind: 127.0.0.1, port: 0}\n"
      << "nats_url: " << urls << "\n"
      << "nats_auth: {ca: cluster/secure/ca.pem, cert: cluster/secure/processor.pem, "
      << "key: cluster/secure/processor-key.pem}\n"
      << "cities:\n  nyc:\n    zones: " << PRICING_SOURCE_DIR << "/data/nyc/taxi_zones.geojson\n"
      << "    id_property: LocationID\n    name_property: zone\n"
      << more;
}

// NYC's price updates, as the read-only user sees them (a dashboard): `client` outlives
// the subscription.
Subscription WatchPrices(NatsClient& client) {
  natsSubscription* raw = nullptr;
  CheckNats(natsConnection_SubscribeSync(&raw, client.connection(), "pricing.update.nyc.>"),
            "subscribing to pricing.update.nyc.>");
  return Subscription(client.connection(), raw);
}

TEST_F(SecureClusterTest, ProcessorPricesEventsEndToEndOverMutualTls) {
  WriteProcessorConfig(*dir_ / "pricing.yaml", Urls());
  // The read-only user watches prices as a dashboard would.
  auto readonly = Connect("readonly");
  Subscription updates = WatchPrices(*readonly);
  const std::string pricing = std::string(PRICING_BIN_DIR) + "/pricing";
  ChildProcess processor({pricing, "run", "--config", (*dir_ / "pricing.yaml").string()}, {},
                         *dir_ / "processor.log");
  // The generator as the publisher user: its certificate from the environment.
  auto env = EnvOf("publisher");
  std::map<std::string, std::string> sim_env = env;
  ASSERT_EQ(RunCommand({pricing, "simulate", "--config", (*dir_ / "pricing.yaml").string(),
                        "--rate", "500", "--duration", "4"},
                       *dir_ / "simulate.log", sim_env, 60000),
            0)
      << "see " << *dir_ / "simulate.log";
  natsMsg* m = nullptr;
  ASSERT_EQ(natsSubscription_NextMsg(&m, updates.get(), 20000), NATS_OK)
      << "no pricing update reached the read-only user; see " << *dir_ / "processor.log";
  natsMsg_Destroy(m);
  auto admin = Connect("processor");
  const uint64_t last = GetStreamState(admin->js(), "LOCATION_EVENTS").last_seq;
  EXPECT_TRUE(WaitFor(
      [&] {
        return GetConsumerState(admin->js(), "LOCATION_EVENTS", "pricing-processor")
                   .ack_floor_stream_seq >= last;
      },
      30000))
      << "the processor did not consume every event";
  processor.Signal(SIGTERM);
  EXPECT_EQ(processor.Wait(20000), 0);
}

// Partitioned pricing as the processor user: the count stages read their partitions'
// subjects, the price stage reads and acknowledges the counts in PRICING_UPDATES.
TEST_F(SecureClusterTest, PartitionedStagesPriceOverMutualTlsAndAcknowledgeEverything) {
  WriteProcessorConfig(*dir_ / "pricing.yaml", Urls(), "partitions: 2\n");
  auto readonly = Connect("readonly");
  Subscription updates = WatchPrices(*readonly);
  const std::string pricing = std::string(PRICING_BIN_DIR) + "/pricing";
  const std::string yaml = (*dir_ / "pricing.yaml").string();
  ChildProcess count0({pricing, "run", "--config", yaml, "--stage", "count", "--partition", "0"},
                      {}, *dir_ / "count-0.log");
  ChildProcess count1({pricing, "run", "--config", yaml, "--stage", "count", "--partition", "1"},
                      {}, *dir_ / "count-1.log");
  ChildProcess price({pricing, "run", "--config", yaml, "--stage", "price"}, {},
                     *dir_ / "price.log");
  ASSERT_EQ(RunCommand({pricing, "simulate", "--config", yaml, "--rate", "500", "--duration", "4",
                        "--id-subjects"},
                       *dir_ / "simulate.log", EnvOf("publisher"), 60000),
            0)
      << "see " << *dir_ / "simulate.log";
  natsMsg* m = nullptr;
  ASSERT_EQ(natsSubscription_NextMsg(&m, updates.get(), 20000), NATS_OK)
      << "no pricing update reached the read-only user; see " << *dir_ / "price.log";
  natsMsg_Destroy(m);
  auto admin = Connect("processor");
  // Every count taken by the price stage is acknowledged (its ack is allowed).
  EXPECT_TRUE(WaitFor(
      [&] {
        const ConsumerState c =
            GetConsumerState(admin->js(), "PRICING_UPDATES", "pricing-processor-price");
        return c.delivered_consumer_seq > 0 && c.num_pending == 0 && c.num_ack_pending == 0;
      },
      30000))
      << "the price stage left counts unacknowledged; see " << *dir_ / "price.log";
  for (ChildProcess* p : {&count0, &count1, &price}) {
    p->Signal(SIGTERM);
    EXPECT_EQ(p->Wait(20000), 0);
  }
}

}  // namespace
}  // namespace pricing::test
